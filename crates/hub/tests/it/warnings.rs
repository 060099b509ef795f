//! Watch and warning end to end on loopback: publication to an audience, signed webhook
//! delivery with retries and deduplication, the access rule on delivery and reads,
//! Server-Sent Events with resume, e-mail over a real SMTP conversation,
//! acknowledgement, status history, tracking counts, escalation with a manual clock,
//! restarts in the middle of delivery, and targeted vulnerability warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{json, Value};

use hinomi_hub::{Clock, HubConfig, TestServer};
use hinomi_notify::testing::{WebhookReceiver, WebhookRequest};
use hinomi_notify::webhook::{self, WebhookSecret};
use hinomi_stix::Timestamp;

use crate::{objects_path, Hub};

const WARNINGS: &str = "7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38";
const WAIT: Duration = Duration::from_secs(20);

fn manual() -> (HubConfig, Clock) {
    let clock = Clock::manual(Timestamp::now());
    let mut config = HubConfig {
        clock: clock.clone(),
        ..crate::lab_config()
    };
    config.notify.poll = Duration::from_millis(50);
    (config, clock)
}

/// Reads `f` until `done` holds (the hub records outcomes a moment after a receiver
/// answers) or [`WAIT`] passes; returns the last reading.
fn eventually<T>(f: impl Fn() -> T, done: impl Fn(&T) -> bool) -> T {
    let t0 = std::time::Instant::now();
    let mut v = f();
    while !done(&v) && t0.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
        v = f();
    }
    v
}

/// A member organization with a token.
struct Org {
    id: String,
    identity: String,
    token: String,
}

fn org(hub: &Hub, name: &str) -> Org {
    let (o, token) = hub.member(name, "private");
    Org {
        id: o["id"].as_str().unwrap().into(),
        identity: o["identity_id"].as_str().unwrap().into(),
        token,
    }
}

fn add_webhook(hub: &Hub, o: &Org, url: &str) -> WebhookSecret {
    let r = hub.rest(
        "POST",
        "/api/v1/subscription/webhooks",
        &o.token,
        Some(json!({"url": url})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    // The secret is shown once, never listed.
    let r = hub.rest("GET", "/api/v1/subscription", &o.token, None);
    assert!(!r.body.contains(&secret), "{}", r.body);
    WebhookSecret::parse(&secret).unwrap()
}

fn warning_body(title: &str, severity: &str, tlp: &str, orgs: &[&Org]) -> Value {
    json!({
        "title": {"en": title, "ja": format!("{title}（日本語）")},
        "summary": {"en": "Exploitation of an exposed VPN appliance is under way.", "ja": "公開されたVPN装置への攻撃が進行中です。"},
        "required_action": {"en": "Patch the appliance and rotate credentials.", "ja": "装置を更新し、認証情報を変更してください。"},
        "severity": severity,
        "tlp": tlp,
        "audience": {"organizations": orgs.iter().map(|o| o.id.clone()).collect::<Vec<_>>()},
    })
}

fn create_and_publish(hub: &Hub, token: &str, body: Value) -> Value {
    let r = hub.rest("POST", "/api/v1/warnings", token, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["state"], "draft");
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{id}/publish"),
        token,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Verifies a delivery's Standard Webhooks signature with `secret`.
fn verify(req: &WebhookRequest, secret: &WebhookSecret) {
    let id = req.header("webhook-id").expect("webhook-id");
    let ts: i64 = req
        .header("webhook-timestamp")
        .expect("webhook-timestamp")
        .parse()
        .unwrap();
    let sig = req.header("webhook-signature").expect("webhook-signature");
    webhook::verify(secret, id, ts, req.body.as_bytes(), sig, ts, 300)
        .unwrap_or_else(|e| panic!("signature of {id} does not verify: {e}"));
}

/// Accepted deliveries at `path`, deduplicated by `webhook-id`, in arrival order.
fn unique(reqs: &[WebhookRequest], path: &str) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    reqs.iter()
        .filter(|r| r.path == path && r.accepted)
        .filter(|r| seen.insert(r.header("webhook-id").unwrap().to_string()))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[test]
fn webhooks_reach_the_audience_once_each_with_retries_and_nothing_reaches_outsiders() {
    let (config, clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let (a, b, c, d) = (
        org(&hub, "A"),
        org(&hub, "B"),
        org(&hub, "C"),
        org(&hub, "Outsider"),
    );
    let secrets: BTreeMap<&str, WebhookSecret> = [("/a", &a), ("/b", &b), ("/c", &c), ("/d", &d)]
        .into_iter()
        .map(|(p, o)| (p, add_webhook(&hub, o, &rx.url(p))))
        .collect();
    rx.fail_first("/b", 2);

    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("VPN exploitation", "critical", "amber", &[&a, &b, &c]),
    );
    let id = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["state"], "published");
    assert_eq!(w["version"], 1);

    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() == 1
        && unique(r, "/c").len() == 1));
    // B failed its first attempt; retries follow the backoff on the hub's clock.
    assert!(rx.wait_until(WAIT, |r| r.iter().any(|x| x.path == "/b")));
    for _ in 0..4 {
        clock.advance(Duration::from_secs(120));
        if rx.wait_until(Duration::from_secs(2), |r| unique(r, "/b").len() == 1) {
            break;
        }
    }
    assert!(
        rx.wait_until(WAIT, |r| unique(r, "/b").len() == 1),
        "B got the warning after retries"
    );
    let reqs = rx.requests();
    let b_attempts: Vec<&WebhookRequest> = reqs.iter().filter(|r| r.path == "/b").collect();
    assert_eq!(b_attempts.len(), 3, "two failures and one success");
    let ids: BTreeSet<&str> = b_attempts
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
    for r in &reqs {
        verify(r, &secrets[r.path.as_str()]);
    }
    for (p, o) in [("/a", &a), ("/b", &b), ("/c", &c)] {
        let got = unique(&reqs, p);
        assert_eq!(got.len(), 1, "{p}");
        assert_eq!(got[0]["type"], "warning.published");
        assert_eq!(got[0]["data"]["id"], id.as_str());
        assert_eq!(got[0]["data"]["title"]["ja"], "VPN exploitation（日本語）");
        assert!(got[0]["data"]["links"]["acknowledge"]
            .as_str()
            .unwrap()
            .contains(&o.id));
    }
    // Signatures do not verify with another organization's secret.
    let a_req = reqs.iter().find(|r| r.path == "/a").unwrap();
    let id_h = a_req.header("webhook-id").unwrap();
    let ts: i64 = a_req.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(webhook::verify(
        &secrets["/c"],
        id_h,
        ts,
        a_req.body.as_bytes(),
        a_req.header("webhook-signature").unwrap(),
        ts,
        300
    )
    .is_err());
    assert!(
        reqs.iter().all(|r| r.path != "/d"),
        "the outsider received nothing"
    );

    // Reads follow the same rule.
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{id}"), &d.token, None)
            .status,
        404
    );
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{id}"), &a.token, None)
            .status,
        200
    );
    let listed = hub.rest("GET", "/api/v1/warnings", &d.token, None).json();
    assert!(listed["warnings"].as_array().unwrap().is_empty());
    let taxii = |t: &str| hub.taxii_get(&objects_path(WARNINGS), Some(t)).body;
    assert!(
        !taxii(&d.token).contains(&id),
        "the report is not served to the outsider"
    );
    let seen = taxii(&a.token);
    assert!(seen.contains(&format!("report--{id}")));
    assert!(
        seen.contains("language-content"),
        "the Japanese version travels as language-content"
    );
    // Whom it was addressed to is for those who track it (the issuer, the
    // coordinator), over TAXII as over REST: a recipient does not learn the others.
    assert!(
        !seen.contains(&b.identity) && !seen.contains(&c.identity) && !seen.contains(&d.identity),
        "a recipient reads the other recipients: {seen}"
    );
    let tracked = taxii(&hub.admin);
    assert!(
        tracked.contains(&a.identity)
            && tracked.contains(&b.identity)
            && !tracked.contains(&d.identity),
        "the report names its audience to the coordinator"
    );
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &d.token,
            Some(json!({"status": "acknowledged"}))
        )
        .status,
        404
    );

    // An update reaches everyone again, with what changed, after the first version.
    let mut upd = warning_body("VPN exploitation", "critical", "amber", &[&a, &b, &c]);
    upd["changes"] = json!("A second CVE is exploited too.");
    let r = hub.rest(
        "PUT",
        &format!("/api/v1/warnings/{id}"),
        &hub.admin,
        Some(upd.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    assert!(rx.wait_until(WAIT, |r| ["/a", "/b", "/c"]
        .iter()
        .all(|p| unique(r, p).len() == 2)));
    for p in ["/a", "/b", "/c"] {
        let got = unique(&rx.requests(), p);
        assert_eq!(got[0]["type"], "warning.published", "{p}: in order");
        assert_eq!(got[1]["type"], "warning.updated");
        assert_eq!(got[1]["data"]["changes"], "A second CVE is exploited too.");
        assert_eq!(got[1]["data"]["version"], 2);
    }
    // Without a change note an update is refused; nothing partial is written.
    upd.as_object_mut().unwrap().remove("changes");
    let r = hub.rest(
        "PUT",
        &format!("/api/v1/warnings/{id}"),
        &hub.admin,
        Some(upd),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("changes"));
    assert!(rx.requests().iter().all(|r| r.path != "/d"));

    // Withdrawal: recipients told, the STIX report revoked.
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{id}/withdraw"),
        &hub.admin,
        Some(json!({"reason": "false positive"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(rx.wait_until(WAIT, |r| ["/a", "/b", "/c"]
        .iter()
        .all(|p| unique(r, p).len() == 3)));
    assert_eq!(unique(&rx.requests(), "/a")[2]["type"], "warning.withdrawn");
    let versions = hub
        .taxii_get(
            &format!("{}report--{id}/", objects_path(WARNINGS)),
            Some(&a.token),
        )
        .json();
    let objs = versions["objects"].as_array().unwrap();
    assert_eq!(objs.last().unwrap()["revoked"], true, "{versions}");
    // The coordinator's outbox view: everything delivered, B's failures on record. (The
    // receiver may answer before the hub has recorded the outcome: poll briefly.)
    let outbox = || {
        hub.rest(
            "GET",
            &format!("/api/v1/deliveries?warning={id}"),
            &hub.admin,
            None,
        )
        .json()
    };
    let out = eventually(outbox, |o| o["counts"]["pending"] == 0);
    assert_eq!(out["deliveries"].as_array().unwrap().len(), 9);
    assert!(
        out["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered"),
        "{out}"
    );
    assert!(out["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["attempts"] == 3));
    assert_eq!(
        hub.rest("GET", "/api/v1/deliveries", &a.token, None).status,
        403
    );
}

#[test]
fn audiences_by_sector_and_community_and_member_limits() {
    let hub = Hub::start();
    let a = org(&hub, "Sector member");
    let r = hub.rest(
        "POST",
        "/api/v1/organizations",
        &hub.admin,
        Some(json!({"name": "Water", "kind": "local-government", "sectors": ["water"]})),
    );
    let water_id = r.json()["id"].as_str().unwrap().to_string();
    // A member may not address a whole sector or all members.
    let mut body = warning_body("x", "low", "amber", &[]);
    body["audience"] = json!({"sectors": ["energy"]});
    let r = hub.rest("POST", "/api/v1/warnings", &a.token, Some(body.clone()));
    assert_eq!(r.status, 403, "{}", r.body);
    // The coordinator may; energy reaches A, not Water.
    let w = create_and_publish(&hub, &hub.admin, body);
    let id = w["id"].as_str().unwrap();
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{id}"), &a.token, None)
            .status,
        200
    );
    let t = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{id}/tracking"),
            &hub.admin,
            None,
        )
        .json();
    let ids: Vec<&str> = t["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organization_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.id.as_str()]);
    assert!(!ids.contains(&water_id.as_str()));
    // Bad input names the field.
    for (patch, needle) in [
        (json!({"severity": "urgent"}), "severity"),
        (json!({"tlp": "purple"}), "tlp"),
        (json!({"title": {"ja": "のみ"}}), "title.en"),
        (json!({"audience": {}}), "audience"),
        (
            json!({"audience": {"organizations": ["nope"]}}),
            "audience.organizations[0]",
        ),
        (json!({"ack_due": "tomorrow"}), "ack_due"),
        (json!({"objects": [{"type": "indicator"}]}), "objects[0]"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let mut b = warning_body("x", "low", "amber", &[&a]);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = hub.rest("POST", "/api/v1/warnings", &hub.admin, Some(b));
        assert_eq!(r.status, 400, "{patch}: {}", r.body);
        assert!(r.body.contains(needle), "{patch}: {}", r.body);
    }
    // A TLP:RED warning must name its recipients.
    let mut b = warning_body("x", "low", "red", &[]);
    b["audience"] = json!({"all": true});
    assert_eq!(
        hub.rest("POST", "/api/v1/warnings", &hub.admin, Some(b))
            .status,
        400
    );
}

/// Reads SSE events from a stream until `n` events (not comments) arrived.
fn read_events(reader: &mut impl BufRead, n: usize) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            if let Some(i) = id.take() {
                out.push((
                    i,
                    std::mem::take(&mut event),
                    serde_json::from_str(&data).unwrap(),
                ));
            }
            data.clear();
        } else if let Some(v) = l.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = l.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = l.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    out
}

fn open_stream(hub: &Hub, token: &str, last: Option<i64>) -> impl BufRead {
    let mut r = ureq::get(&hub.url("/api/v1/stream"))
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(20));
    if let Some(l) = last {
        r = r.set("Last-Event-ID", &l.to_string());
    }
    let resp = r.call().unwrap();
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    BufReader::new(resp.into_reader())
}

#[test]
fn sse_resumes_with_last_event_id_without_loss_or_repeats() {
    let hub = Hub::start();
    let a = org(&hub, "A");
    let other = org(&hub, "Other");
    let publish = |title: &str| {
        create_and_publish(
            &hub,
            &hub.admin,
            warning_body(title, "high", "amber", &[&a]),
        )
    };
    let mut s = open_stream(&hub, &a.token, None);
    publish("one");
    // Not for A: never on A's feed.
    create_and_publish(
        &hub,
        &hub.admin,
        warning_body("not yours", "high", "amber", &[&other]),
    );
    publish("two");
    let first = read_events(&mut s, 2);
    assert_eq!(
        first
            .iter()
            .map(|e| e.2["data"]["title"]["en"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert!(first.iter().all(|e| e.1 == "warning.published"));
    let last = first[1].0;
    drop(s);
    publish("three");
    publish("four");
    let mut s = open_stream(&hub, &a.token, Some(last));
    let next = read_events(&mut s, 2);
    assert_eq!(
        next.iter()
            .map(|e| e.2["data"]["title"]["en"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["three", "four"]
    );
    assert!(next[0].0 > last && next[1].0 > next[0].0);
    // Resuming from the first id repeats exactly what followed it.
    let mut s = open_stream(&hub, &a.token, Some(first[0].0));
    let again = read_events(&mut s, 3);
    assert_eq!(
        again
            .iter()
            .map(|e| e.2["data"]["title"]["en"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["two", "three", "four"]
    );
    // A bad Last-Event-ID is refused; no credentials, no stream.
    let r = hub.call(
        "GET",
        "/api/v1/stream",
        Some(&a.token),
        &[("Last-Event-ID", "abc")],
        None,
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Last-Event-ID"));
    assert_eq!(
        hub.call("GET", "/api/v1/stream", None, &[], None).status,
        401
    );
}

#[test]
fn acknowledgement_history_counts_and_escalation_on_a_manual_clock() {
    let (config, clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let (a, b, c) = (org(&hub, "A"), org(&hub, "B"), org(&hub, "C"));
    for (p, o) in [("/a", &a), ("/b", &b), ("/c", &c)] {
        add_webhook(&hub, o, &rx.url(p));
    }
    let mut body = warning_body("Ransomware campaign", "critical", "amber", &[&a, &b, &c]);
    body["ack_due"] = json!(Timestamp(clock.now().micros() + 3_600_000_000).to_string());
    let w = create_and_publish(&hub, &hub.admin, body);
    let id = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["ack_required"], true);
    assert!(rx.wait_until(WAIT, |r| ["/a", "/b", "/c"]
        .iter()
        .all(|p| unique(r, p).len() == 1)));

    let ack = |o: &Org, status: &str, note: Option<&str>| {
        hub.rest(
            "POST",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &o.token,
            Some(json!({"status": status, "note": note})),
        )
    };
    assert_eq!(ack(&a, "acknowledged", None).status, 201);
    assert_eq!(
        ack(&a, "acknowledged", None).status,
        200,
        "the same status twice records nothing"
    );
    assert_eq!(ack(&a, "affected", Some("two gateways")).status, 201);
    assert_eq!(ack(&a, "remediated", Some("patched")).status, 201);
    assert_eq!(ack(&c, "not-affected", None).status, 201);
    let r = ack(&c, "done", None);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("acknowledged, not-affected"));
    let h = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &a.token,
            None,
        )
        .json();
    let statuses: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["acknowledged", "affected", "remediated"],
        "a member sees its own history"
    );
    let all = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(all["history"].as_array().unwrap().len(), 4);
    assert_eq!(
        hub.rest(
            "GET",
            &format!("/api/v1/warnings/{id}/tracking"),
            &a.token,
            None
        )
        .status,
        403
    );

    let track = || {
        hub.rest(
            "GET",
            &format!("/api/v1/warnings/{id}/tracking"),
            &hub.admin,
            None,
        )
        .json()
    };
    let t = eventually(track, |t| t["counts"]["delivered"] == 3);
    assert_eq!(t["counts"]["recipients"], 3);
    assert_eq!(t["counts"]["delivered"], 3);
    assert_eq!(t["counts"]["acknowledged"], 2);
    assert_eq!(t["counts"]["affected"], 1);
    assert_eq!(t["counts"]["remediated"], 1);
    assert_eq!(t["counts"]["not_affected"], 1);
    assert_eq!(t["counts"]["overdue"], 0, "not due yet");

    // Past the due time: B is overdue and escalated once, the coordinator alerted.
    let mut feed = open_stream(&hub, &hub.admin, None);
    clock.advance(Duration::from_secs(2 * 3600));
    assert!(rx.wait_until(WAIT, |r| unique(r, "/b").len() == 2));
    let b_got = unique(&rx.requests(), "/b");
    assert_eq!(b_got[1]["type"], "warning.escalation");
    let alert = read_events(&mut feed, 1);
    assert_eq!(alert[0].1, "warning.overdue");
    assert_eq!(alert[0].2["data"]["organization_id"], b.id.as_str());
    let t = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{id}/tracking"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(t["overdue"], json!([b.id]));
    let brow = t["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["organization_id"] == b.id.as_str())
        .unwrap()
        .clone();
    assert!(brow["escalated_at"].is_string());
    clock.advance(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(unique(&rx.requests(), "/b").len(), 2, "escalated once");
    assert_eq!(
        unique(&rx.requests(), "/a").len(),
        1,
        "who acknowledged is not escalated"
    );
}

fn openssl_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .output()
        .expect("openssl on PATH");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    (cert, key)
}

#[test]
fn email_over_starttls_in_each_organizations_language_with_a_working_ack_link() {
    use hinomi_notify::smtp::{SmtpConfig, TlsMode};
    use hinomi_notify::testing::{decode_text_body, header, SmtpServer};
    let dir = std::env::temp_dir().join(format!("hinomi-smtp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = openssl_cert(&dir);
    let smtp = SmtpServer::start_tls(&cert, &key);
    let mut cfg = SmtpConfig::new("localhost", smtp.port(), "warnings@hub.example");
    cfg.tls = TlsMode::StartTls;
    cfg.ca_file = Some(cert.clone());
    cfg.username = Some("hub".into());
    cfg.password = Some("relay-password".into());
    let mut config = crate::lab_config();
    config.notify.smtp = Some(cfg);
    config.notify.poll = Duration::from_millis(50);
    let hub = Hub::start_with(config);
    let (ja, en, out) = (
        org(&hub, "Ministry"),
        org(&hub, "Operator"),
        org(&hub, "Outsider"),
    );
    let r = hub.rest(
        "PUT",
        "/api/v1/subscription",
        &ja.token,
        Some(json!({"language": "ja"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for (o, mail) in [
        (&ja, "soc@ministry.go.jp"),
        (&en, "soc@operator.example"),
        (&out, "soc@outsider.example"),
    ] {
        let r = hub.rest(
            "POST",
            "/api/v1/subscription/contacts",
            &o.token,
            Some(json!({"email": mail})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = hub.rest(
        "POST",
        "/api/v1/subscription/contacts",
        &en.token,
        Some(json!({"email": "not an address"})),
    );
    assert_eq!(r.status, 400);
    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Phishing wave", "high", "amber", &[&ja, &en]),
    );
    let id = w["id"].as_str().unwrap().to_string();
    let got = smtp.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "exactly the two recipients");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.received().len(), 2, "nothing for the outsider");
    let by_rcpt: BTreeMap<String, _> = got.iter().map(|m| (m.rcpt_to[0].clone(), m)).collect();
    let jm = by_rcpt["soc@ministry.go.jp"];
    let em = by_rcpt["soc@operator.example"];
    assert!(jm.tls && em.tls, "STARTTLS was used");
    assert_eq!(jm.auth.as_deref(), Some("hub"));
    assert_eq!(jm.mail_from, "warnings@hub.example");
    let jsub = header(&jm.data, "Subject").unwrap();
    assert!(
        jsub.contains("【重要】")
            && jsub.contains("Phishing wave（日本語）")
            && jsub.contains("TLP:AMBER"),
        "{jsub}"
    );
    let esub = header(&em.data, "Subject").unwrap();
    assert!(
        esub.contains("HIGH TLP:AMBER Phishing wave") && !esub.contains("日本語"),
        "{esub}"
    );
    let jbody = decode_text_body(&jm.data).unwrap();
    assert!(jbody.contains("公開されたVPN装置への攻撃が進行中です。"));
    assert!(
        jbody.contains("----- English -----"),
        "Japanese e-mails carry the English text too"
    );
    let ebody = decode_text_body(&em.data).unwrap();
    assert!(!ebody.contains("攻撃"));
    assert!(ebody.contains("Patch the appliance"));
    // Each message id is the delivery's idempotency id.
    assert!(header(&jm.data, "Message-ID").unwrap().contains("msg_"));
    // The one-click link acknowledges for that organization only, once.
    let link = ebody
        .lines()
        .find_map(|l| l.strip_prefix("Acknowledge with one click: "))
        .expect("an acknowledgement link")
        .to_string();
    let path = link.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let history = || {
        hub.rest(
            "GET",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &hub.admin,
            None,
        )
        .json()
    };
    // Opening the link (as a mail scanner would) only asks for confirmation.
    for _ in 0..2 {
        let r = hub.call("GET", &format!("/{path}"), None, &[], None);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("受領を貴組織として確認しますか"),
            "{}",
            r.body
        );
        assert!(r.body.contains("<form method=\"post\""), "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(history()["history"], json!([]), "a GET records nothing");
    let r = hub.call("POST", &format!("/{path}"), None, &[], Some(""));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("受領確認を記録しました"));
    assert_eq!(
        hub.call("POST", &format!("/{path}"), None, &[], Some(""))
            .status,
        200
    );
    let forged = path.replace(&en.id, &out.id);
    for m in ["GET", "POST"] {
        assert_eq!(
            hub.call(m, &format!("/{forged}"), None, &[], Some(""))
                .status,
            403
        );
        let tampered = format!("/{}x", path);
        assert_eq!(hub.call(m, &tampered, None, &[], Some("")).status, 403);
    }
    let h = history();
    let hist = h["history"].as_array().unwrap();
    assert_eq!(hist.len(), 1, "{h}");
    assert_eq!(hist[0]["organization_id"], en.id.as_str());
    assert_eq!(hist[0]["via"], "email-link");
    // The coordinator's subject names it; a member's says it is not the coordinator.
    assert!(jsub.contains("【Coordinator】"), "{jsub}");
    assert!(esub.contains("[Coordinator]"), "{esub}");
    create_and_publish(
        &hub,
        &en.token,
        warning_body("Member notice", "medium", "green", &[&ja]),
    );
    let got = smtp.wait_for(3, WAIT);
    let m = got
        .iter()
        .find(|m| {
            header(&m.data, "Subject")
                .unwrap()
                .contains("Member notice")
        })
        .expect("the member's warning by e-mail");
    let sub = header(&m.data, "Subject").unwrap();
    assert!(
        sub.contains("会員組織 Operator 発信・調整機関ではありません"),
        "{sub}"
    );
    let body = decode_text_body(&m.data).unwrap();
    assert!(
        body.contains("この警報は調整機関が発信したものではありません"),
        "{body}"
    );
    assert!(
        body.contains("It was not issued by the national coordinator"),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restart_mid_delivery_loses_nothing_and_duplicates_only_by_idempotency_id() {
    let (mut config, clock) = manual();
    config.notify.max_attempts = 50;
    let location = crate::location();
    let store = std::sync::Arc::new(hinomi_store::Store::open(&location).unwrap());
    let boot = store.bootstrap("Coordinator", Some("JP")).unwrap();
    let rx = WebhookReceiver::start();
    let server = TestServer::start(store.clone(), config.clone());
    let hub = Hub {
        server,
        store: store.clone(),
        admin: boot.token,
        coordinator_identity: boot.organization.identity_id,
        location: location.clone(),
    };
    let orgs: Vec<Org> = (0..12).map(|i| org(&hub, &format!("Org {i}"))).collect();
    let mut secrets = BTreeMap::new();
    for (i, o) in orgs.iter().enumerate() {
        secrets.insert(
            format!("/o{i}"),
            add_webhook(&hub, o, &rx.url(&format!("/o{i}"))),
        );
    }
    // Receivers are down while the first node delivers: everything stays pending.
    rx.set_down(true);
    let refs: Vec<&Org> = orgs.iter().collect();
    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Wiper", "low", "amber", &refs),
    );
    let id = w["id"].as_str().unwrap().to_string();
    assert!(rx.wait_until(WAIT, |r| r.len() >= 12));
    // The node dies with a batch claimed and half of it sent but not recorded.
    drop(hub);
    // (Let the first node's worker record its failed attempts before the crash below.)
    let recorded = |store: &hinomi_store::Store| {
        let d = store.deliveries(Some(&id), Some("pending"), 100).unwrap();
        d.len() == 12 && d.iter().all(|x| x.attempts >= 1)
    };
    eventually(|| recorded(&store), |r| *r);
    let now = clock.now().micros() + 3_600_000_000;
    let claimed = store.claim_deliveries(now, now + 60_000_000, 100).unwrap();
    assert_eq!(claimed.len(), 12);
    rx.set_down(false);
    let agent = ureq::agent();
    for d in claimed.iter().take(6) {
        // What the dead node had already sent.
        let r = store.webhook(&d.target).unwrap().unwrap().0;
        let body = json!({"type": "warning.published", "data": {"id": id}}).to_string();
        let idx = r.url.rsplit('/').next().unwrap().to_string();
        let sig = webhook::sign(
            &secrets[&format!("/{idx}")],
            &d.id,
            now / 1_000_000,
            body.as_bytes(),
        );
        agent
            .post(&r.url)
            .set("webhook-id", &d.id)
            .set("webhook-timestamp", &(now / 1_000_000).to_string())
            .set("webhook-signature", &sig)
            .send_string(&body)
            .unwrap();
    }
    // A new node on the same store: the leases run out and it delivers the rest.
    clock.advance(Duration::from_secs(3 * 3600));
    let server = TestServer::start(store.clone(), config);
    assert!(rx.wait_until(WAIT, |r| (0..12)
        .all(|i| !unique(r, &format!("/o{i}")).is_empty())));
    std::thread::sleep(Duration::from_millis(300));
    let reqs = rx.requests();
    for i in 0..12 {
        let p = format!("/o{i}");
        let ok: Vec<&WebhookRequest> = reqs.iter().filter(|r| r.path == p && r.accepted).collect();
        let ids: BTreeSet<&str> = ok.iter().map(|r| r.header("webhook-id").unwrap()).collect();
        assert_eq!(ids.len(), 1, "{p}: one warning after deduplication");
        assert!(
            ok.len() <= 2,
            "{p}: at most the resend the idempotency id covers"
        );
        for r in ok {
            verify(r, &secrets[&p]);
        }
    }
    let pending = store.deliveries(Some(&id), Some("pending"), 100).unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    drop(server);
}

#[test]
fn known_exploited_findings_draft_a_warning_for_exactly_the_affected_organizations() {
    let (mut config, _clock) = manual();
    config.notify.targeted = hinomi_hub::TargetedWarnings::Draft;
    let hub = Hub::start_with(config);
    let (a, b, c) = (
        org(&hub, "Uses it"),
        org(&hub, "Also uses it"),
        org(&hub, "Patched"),
    );
    let inv = |o: &Org, asset: &str, version: &str| {
        let r = hub.rest("PUT", &format!("/api/v1/inventories/{asset}"), &o.token, Some(json!({"components": [{"name": "Data Center Expert", "vendor": "Schneider Electric", "version": version}]})));
        assert_eq!(r.status, 200, "{}", r.body);
    };
    inv(&a, "dc-alpha", "8.1.0");
    inv(&b, "dc-bravo", "8.1.0");
    inv(&c, "dc-charlie", "8.2");
    let kev = json!({"title": "KEV", "catalogVersion": "2026.11.20", "dateReleased": "2026-11-20T00:00:00.000Z", "count": 1,
        "vulnerabilities": [{"cveID": "CVE-2024-8530", "vendorProject": "Schneider Electric", "product": "Data Center Expert", "vulnerabilityName": "x", "dateAdded": "2026-11-20", "shortDescription": "x", "requiredAction": "Apply the update.", "dueDate": "2026-12-01", "knownRansomwareCampaignUse": "Unknown", "notes": ""}]});
    let r = hub.rest("POST", "/api/v1/kev", &hub.admin, Some(kev));
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let csaf = crate::findings::shared("csaf/cisa-sample/icsa-24-289-02.json");
    let r = hub.rest("POST", "/api/v1/advisories", &hub.admin, Some(csaf));
    assert_eq!(r.status, 201, "{}", r.body);
    let ids = r.json()["targeted_warnings"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 1, "{}", r.body);
    let wid = ids[0].as_str().unwrap();
    let w = hub
        .rest("GET", &format!("/api/v1/warnings/{wid}"), &hub.admin, None)
        .json();
    assert_eq!(w["state"], "draft");
    assert_eq!(w["severity"], "critical", "known exploited");
    let mut aud: Vec<String> = w["audience"]["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    aud.sort();
    let mut expect = vec![a.id.clone(), b.id.clone()];
    expect.sort();
    assert_eq!(aud, expect, "exactly the affected organizations");
    // A draft reaches nobody yet.
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{wid}"), &a.token, None)
            .status,
        404
    );
    // Published, each recipient sees its own assets only.
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{wid}/publish"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let seen_a = hub
        .rest("GET", &format!("/api/v1/warnings/{wid}"), &a.token, None)
        .json();
    assert!(
        seen_a["for_you"]["assets"][0]
            .as_str()
            .unwrap()
            .contains("dc-alpha"),
        "{seen_a}"
    );
    assert!(
        !seen_a.to_string().contains("dc-bravo"),
        "B's assets are not shown to A"
    );
    assert!(seen_a.get("recipient_details").is_none());
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{wid}"), &c.token, None)
            .status,
        404
    );
}

#[test]
fn filters_dead_letters_and_a_member_warning_to_its_community() {
    let (mut config, clock) = manual();
    config.notify.max_attempts = 2;
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let (a, b, down) = (org(&hub, "A"), org(&hub, "B picky"), org(&hub, "Down"));
    for (p, o) in [("/a", &a), ("/b", &b), ("/down", &down)] {
        add_webhook(&hub, o, &rx.url(p));
    }
    let r = hub.rest(
        "PUT",
        "/api/v1/subscription",
        &b.token,
        Some(json!({"min_severity": "high"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = hub.rest(
        "PUT",
        "/api/v1/subscription",
        &b.token,
        Some(json!({"min_severity": "severe"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("min_severity"));
    rx.fail_first("/down", 100);
    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Medium thing", "medium", "amber", &[&a, &b, &down]),
    );
    let id = w["id"].as_str().unwrap().to_string();
    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() == 1));
    // B filtered medium out of its push channels; it is still a recipient and may read it.
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{id}"), &b.token, None)
            .status,
        200
    );
    // The down receiver fails twice: a dead letter, visible to the coordinator.
    assert!(rx.wait_until(WAIT, |r| r.iter().any(|x| x.path == "/down")));
    let mut feed = open_stream(&hub, &hub.admin, None);
    clock.advance(Duration::from_secs(600));
    let dead = |hub: &Hub| {
        hub.rest("GET", "/api/v1/deliveries?state=dead", &hub.admin, None)
            .json()
    };
    let d = eventually(
        || dead(&hub),
        |d| !d["deliveries"].as_array().unwrap().is_empty(),
    );
    let list = d["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{d}");
    assert_eq!(list[0]["organization_id"], down.id.as_str());
    assert_eq!(list[0]["attempts"], 2);
    assert!(list[0]["last_error"].as_str().unwrap().contains("503"));
    let ev = read_events(&mut feed, 1);
    assert_eq!(ev[0].1, "delivery-failed");
    assert!(rx.requests().iter().all(|r| r.path != "/b"), "filtered");

    // A member warns the members of a community it belongs to.
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "Energy ISAC", "members": [a.id, down.id]})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let comm = r.json()["id"].as_str().unwrap().to_string();
    let mut body = warning_body("From a member", "high", "amber", &[]);
    body["audience"] = json!({"communities": [comm]});
    let r = hub.rest("POST", "/api/v1/warnings", &b.token, Some(body.clone()));
    assert_eq!(r.status, 403, "B is not in the community: {}", r.body);
    let w = create_and_publish(&hub, &a.token, body);
    let wid = w["id"].as_str().unwrap();
    let t = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{wid}/tracking"),
            &a.token,
            None,
        )
        .json();
    let ids: Vec<&str> = t["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organization_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![down.id.as_str()],
        "the community, less the issuer"
    );
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{wid}"), &b.token, None)
            .status,
        404
    );
}

#[test]
fn a_receiver_that_was_down_gets_everything_in_order() {
    let (config, clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let a = org(&hub, "A");
    add_webhook(&hub, &a, &rx.url("/a"));
    rx.set_down(true);
    let titles = ["first", "second", "third", "fourth"];
    for t in titles {
        create_and_publish(&hub, &hub.admin, warning_body(t, "low", "amber", &[&a]));
    }
    assert!(rx.wait_until(WAIT, |r| !r.is_empty()));
    std::thread::sleep(Duration::from_millis(200));
    // Only the oldest entry is tried while the receiver is down.
    let tried: BTreeSet<String> = rx
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["data"]["title"]["en"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(tried, BTreeSet::from(["first".to_string()]));
    rx.set_down(false);
    for _ in 0..20 {
        clock.advance(Duration::from_secs(3600));
        if rx.wait_until(Duration::from_secs(1), |r| unique(r, "/a").len() == 4) {
            break;
        }
    }
    let got: Vec<String> = unique(&rx.requests(), "/a")
        .iter()
        .map(|v| v["data"]["title"]["en"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, titles);
}

/// A stream whose token is revoked ends (it used to keep delivering, ack links and all);
/// the next warning never reaches it.
#[test]
fn revoking_a_token_ends_its_stream() {
    let hub = Hub::start();
    let a = org(&hub, "A");
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{}/tokens", a.id),
        &hub.admin,
        Some(json!({"role": "member"})),
    );
    let (second, second_id) = (
        r.json()["token"].as_str().unwrap().to_string(),
        r.json()["id"].as_str().unwrap().to_string(),
    );
    let mut s = open_stream(&hub, &second, None);
    let mut line = String::new();
    s.read_line(&mut line).unwrap(); // retry:
    assert_eq!(
        hub.rest(
            "DELETE",
            &format!("/api/v1/tokens/{second_id}"),
            &hub.admin,
            None
        )
        .status,
        204
    );
    create_and_publish(
        &hub,
        &hub.admin,
        warning_body("after revocation", "high", "amber", &[&a]),
    );
    // The stream ends (EOF) instead of carrying the warning; the client's 20 s read
    // timeout would fail this read if it never did.
    let mut rest = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).unwrap() == 0 {
            break;
        }
        rest.push_str(&line);
    }
    assert!(!rest.contains("after revocation"), "{rest}");
}

/// Shutting the server down ends open streams, so it stops instead of waiting for the
/// clients forever.
#[test]
fn shutdown_ends_open_streams() {
    let hub = Hub::start();
    let a = org(&hub, "A");
    let mut s = open_stream(&hub, &a.token, None);
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        while s.read_line(&mut line).unwrap_or(0) > 0 {
            line.clear();
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(hub);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the server did not stop while a stream was open");
    reader.join().unwrap();
}

/// A version published while the delivery worker is still in its run (here, waiting
/// for a receiver's answer) goes out with its own content and acknowledgement link,
/// not with what the run loaded for the earlier version.
#[test]
fn a_version_published_during_a_delivery_run_goes_out_as_itself() {
    let (config, _clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let a = org(&hub, "Operator");
    add_webhook(&hub, &a, &rx.url("/a"));
    rx.hold_answers(true);
    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Run v1", "high", "green", &[&a]),
    );
    let id = w["id"].as_str().unwrap().to_string();
    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() == 1));
    // The worker waits for the answer to version 1: version 2 is published meanwhile.
    let mut body = warning_body("Run v2", "high", "green", &[&a]);
    body["changes"] = json!("Second version.");
    let r = hub.rest(
        "PUT",
        &format!("/api/v1/warnings/{id}"),
        &hub.admin,
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    rx.hold_answers(false);
    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() >= 2));
    let got = unique(&rx.requests(), "/a");
    let v2 = &got[1]["data"];
    assert_eq!(v2["version"], 2, "{v2}");
    assert_eq!(v2["title"]["en"], "Run v2", "{v2}");
    assert_eq!(v2["changes"], "Second version.", "{v2}");
    let link = v2["links"]["acknowledge"].as_str().unwrap();
    assert!(link.contains("&v=2&"), "{link}");
}

#[test]
fn acknowledgement_links_expire_and_are_bound_to_the_version() {
    let (config, clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let a = org(&hub, "Operator");
    add_webhook(&hub, &a, &rx.url("/a"));
    let w = create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Link", "high", "green", &[&a]),
    );
    let id = w["id"].as_str().unwrap().to_string();
    let first = |n: usize| {
        assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() >= n));
        let link = unique(&rx.requests(), "/a")[n - 1]["data"]["links"]["acknowledge"]
            .as_str()
            .unwrap()
            .to_string();
        format!(
            "/{}",
            link.split_once("://").unwrap().1.split_once('/').unwrap().1
        )
    };
    let v1 = first(1);
    assert!(v1.contains("&v=1&") && v1.contains("&exp="), "{v1}");
    // A new version: the old link no longer acknowledges.
    let mut body = warning_body("Link v2", "high", "green", &[&a]);
    body["changes"] = json!("More detail.");
    let r = hub.rest(
        "PUT",
        &format!("/api/v1/warnings/{id}"),
        &hub.admin,
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = hub.call("POST", &v1, None, &[], Some(""));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("updated since"), "{}", r.body);
    // The new one works until it expires (30 days by default).
    let v2 = first(2);
    assert_eq!(hub.call("GET", &v2, None, &[], None).status, 200);
    clock.advance(Duration::from_secs(31 * 86_400));
    let r = hub.call("POST", &v2, None, &[], Some(""));
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);
    let h = hub
        .rest(
            "GET",
            &format!("/api/v1/warnings/{id}/acknowledgements"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(h["history"], json!([]), "{h}");
}

#[test]
fn every_channel_names_the_issuer_and_wide_member_warnings_wait_for_the_coordinator() {
    let (mut config, _clock) = manual();
    config.notify.member_warning_max_recipients = 2;
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let issuer = org(&hub, "Regional water utility");
    let (a, b, c) = (org(&hub, "A"), org(&hub, "B"), org(&hub, "C"));
    for (o, p) in [(&a, "/a"), (&b, "/b"), (&c, "/c")] {
        add_webhook(&hub, o, &rx.url(p));
    }
    // Within the limit: out at once, naming the member as issuer everywhere.
    let w = create_and_publish(
        &hub,
        &issuer.token,
        warning_body("Small", "critical", "green", &[&a, &b]),
    );
    let small = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["state"], "published");
    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() == 1));
    let data = &unique(&rx.requests(), "/a")[0]["data"];
    assert_eq!(data["issuer"]["name"], "Regional water utility", "{data}");
    assert_eq!(data["issuer"]["coordinator"], false);
    assert_eq!(data["issuer"]["organization_id"], issuer.id.as_str());
    let feed = read_events(&mut open_stream(&hub, &a.token, Some(0)), 1);
    assert_eq!(
        feed[0].2["data"]["issuer"]["name"],
        "Regional water utility"
    );
    let report = hub.rest(
        "GET",
        &format!("/api/v1/objects/report--{small}"),
        &a.token,
        None,
    );
    assert_eq!(report.status, 200, "{}", report.body);
    let rj = report.json();
    assert_eq!(
        rj["object"]["created_by_ref"],
        issuer.identity.as_str(),
        "{rj}"
    );

    // Beyond it: held until the coordinator approves.
    let w = create_and_publish(
        &hub,
        &issuer.token,
        warning_body("Wide", "critical", "green", &[&a, &b, &c]),
    );
    let wide = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["state"], "pending-approval", "{w}");
    assert_eq!(w["approval"]["recipients"], 3);
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/warnings/{wide}"), &c.token, None)
            .status,
        404,
        "recipients see nothing before approval"
    );
    let seen = hub.rest("GET", &format!("/api/v1/warnings/{wide}"), &hub.admin, None);
    assert_eq!(seen.status, 200, "the coordinator sees what waits for it");
    let approve = format!("/api/v1/warnings/{wide}/approve");
    assert_eq!(hub.rest("POST", &approve, &issuer.token, None).status, 403);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        unique(&rx.requests(), "/c").is_empty(),
        "nothing before approval"
    );
    let r = hub.rest("POST", &approve, &hub.admin, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "published");
    assert_eq!(hub.rest("POST", &approve, &hub.admin, None).status, 409);
    assert!(rx.wait_until(WAIT, |r| unique(r, "/c").len() == 1));
    let data = &unique(&rx.requests(), "/c")[0]["data"];
    assert_eq!(
        data["issuer"]["name"], "Regional water utility",
        "still the member's"
    );

    // The coordinator's own warnings say so.
    create_and_publish(
        &hub,
        &hub.admin,
        warning_body("National", "high", "green", &[&c]),
    );
    assert!(rx.wait_until(WAIT, |r| unique(r, "/c").len() == 2));
    let data = &unique(&rx.requests(), "/c")[1]["data"];
    assert_eq!(data["issuer"]["coordinator"], true, "{data}");
    assert_eq!(data["issuer"]["name"], "Coordinator");
}

#[test]
fn a_receiver_closing_a_connection_as_it_is_reused_still_gets_every_warning_at_once() {
    // The manual clock never moves: a delivery that fell back to a retry would wait
    // for good, so each must go out on its first attempt.
    let (config, _clock) = manual();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    rx.drop_reused_connections(true);
    let a = org(&hub, "A");
    add_webhook(&hub, &a, &rx.url("/a"));
    for n in 1..=3 {
        create_and_publish(
            &hub,
            &hub.admin,
            warning_body(&format!("Warning {n}"), "high", "green", &[&a]),
        );
        assert!(
            rx.wait_until(WAIT, |r| unique(r, "/a").len() == n),
            "warning {n} did not arrive: {:?}",
            rx.requests().len()
        );
    }
}

#[test]
fn a_retry_after_a_stale_connection_does_not_take_another_pooled_one() {
    let (mut config, _clock) = manual();
    config.notify.senders = 2;
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let a = org(&hub, "A");
    let b = org(&hub, "B");
    add_webhook(&hub, &a, &rx.url("/a"));
    add_webhook(&hub, &b, &rx.url("/b"));
    // Two deliveries at once, answered slowly: two connections, both left idle in the
    // sender's pool.
    rx.delay_answers(Duration::from_millis(300));
    create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Warning 1", "high", "green", &[&a, &b]),
    );
    assert!(rx.wait_until(WAIT, |r| unique(r, "/a").len() == 1
        && unique(r, "/b").len() == 1));
    // The receiver has closed both: the retry of the first must not take the second.
    rx.delay_answers(Duration::ZERO);
    rx.drop_reused_connections(true);
    create_and_publish(
        &hub,
        &hub.admin,
        warning_body("Warning 2", "high", "green", &[&a]),
    );
    assert!(
        rx.wait_until(WAIT, |r| unique(r, "/a").len() == 2),
        "warning 2 did not arrive on its first attempt: {:?}",
        hub.store.deliveries(None, None, 100).map(|d| d
            .into_iter()
            .map(|d| (d.target, d.state, d.last_error))
            .collect::<Vec<_>>())
    );
}
