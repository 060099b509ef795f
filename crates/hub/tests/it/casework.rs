//! The incident flow end to end (on SQLite, and on PostgreSQL when CI runs the hub tests
//! there): two members report overlapping incidents, the coordinator triages, merges and
//! sees the correlation (each member only what it may), redistributes a sanitized
//! warning that recipients acknowledge and that names the reporter in no channel
//! (webhook, e-mail, event feed, TAXII, a federated peer), refers the case to law
//! enforcement with consent (refused without it), tracks recovery to closed; and an
//! exercise stays out of the statistics, the recovery overview, real notifications and
//! peers.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use hinomi_hub::HubConfig;
use hinomi_notify::smtp::{SmtpConfig, TlsMode};
use hinomi_notify::testing::{decode_text_body, header, SmtpServer, WebhookReceiver};

use crate::{objects_path, Hub};

const WARNINGS: &str = "7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38";
const FEDERATION: &str = "9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94";
const WAIT: Duration = Duration::from_secs(20);

/// What names the reporting organization A: none of it may leave in the warning.
const SECRETS: &[&str] = &[
    "Kagami Utility",
    "hanako.yamada@kagami-utility.example",
    "Hanako Yamada",
    "kagami-dump.pcap",
    "Kagami billing cluster",
    "call Hanako on +81-3-5555-0100",
    "kagami-utility.example",
];

fn ok(r: &crate::Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn ip(v: &str, n: u8) -> Value {
    json!({"type": "ipv4-addr", "spec_version": "2.1",
        "id": format!("ipv4-addr--6a0c2b1e-4d3f-5a6b-8c7d-{:012x}", n), "value": v})
}

fn report_body(title: &str, description: &str, objects: Vec<Value>, consent: Value) -> Value {
    json!({
        "title": title,
        "description": description,
        "discovered": "2026-12-01T08:00:00Z",
        "detection": "EDR alert",
        "detection_methods": ["automated-tool"],
        "determination": "confirmed",
        "sector": "energy",
        "impact": {"functional": "significant-impact-to-critical-services",
                   "attack_vector": "email-phishing", "recoverability": "supplemented"},
        "taxonomy": {"class": "malicious-code", "type": "c2-server"},
        "consent": consent,
        "objects": objects,
    })
}

fn leaks(channel: &str, text: &str, extra: &[&str]) {
    for s in SECRETS.iter().chain(extra) {
        assert!(
            !text.to_lowercase().contains(&s.to_lowercase()),
            "{channel} carries '{s}': {text}"
        );
    }
}

fn sse(hub: &Hub, token: &str, n: usize) -> Vec<String> {
    let resp = ureq::get(&hub.url("/api/v1/stream"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Last-Event-ID", "0")
        .timeout(WAIT)
        .call()
        .unwrap();
    let mut r = BufReader::new(resp.into_reader());
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(d) = line.trim_end().strip_prefix("data: ") {
            out.push(d.to_string());
        }
    }
    out
}

#[test]
fn report_triage_correlate_redistribute_refer_and_recover() {
    let smtp = SmtpServer::start();
    let mut cfg = SmtpConfig::new("127.0.0.1", smtp.port(), "warnings@hub.example");
    cfg.tls = TlsMode::None;
    let mut config = crate::lab_config();
    config.notify.smtp = Some(cfg);
    config.notify.poll = Duration::from_millis(50);
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let admin = hub.admin.clone();

    let (a, ta) = hub.member("Kagami Utility", "private");
    let (b, tb) = hub.member("Grid operator B", "private");
    let (rcpt, tr) = hub.member("Recipient ministry", "government");
    let (police, tp) = hub.member("National Police Cyber Unit", "law-enforcement");
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let (a_id, b_id, r_id, p_id) = (id(&a), id(&b), id(&rcpt), id(&police));

    // The recipient listens by webhook and e-mail.
    ok(
        &hub.rest(
            "POST",
            "/api/v1/subscription/webhooks",
            &tr,
            Some(json!({"url": rx.url("/r")})),
        ),
        201,
    );
    ok(
        &hub.rest(
            "POST",
            "/api/v1/subscription/contacts",
            &tr,
            Some(json!({"email": "soc@ministry.example"})),
        ),
        201,
    );

    // A's own e-mail contact: its domain names A too.
    ok(
        &hub.rest(
            "POST",
            "/api/v1/subscription/contacts",
            &ta,
            Some(json!({"email": "soc@kagami-utility.example"})),
        ),
        201,
    );

    // A registered its recovery plan in advance.
    let plan = json!({
        "contacts": [{"name": "Hanako Yamada", "role": "CISO", "email": "hanako.yamada@kagami-utility.example", "phone": "+81-3-5555-0100"}],
        "critical_services": [
            {"name": "customer billing", "priority": 2, "target_hours": 48},
            {"name": "grid dispatch", "priority": 1, "target_hours": 4, "alternate_operation": "manual dispatch from the backup centre"}
        ],
        "alternate_operation": "paper-based switching orders",
    });
    let p = ok(
        &hub.rest(
            "PUT",
            &format!("/api/v1/recovery/plans/{a_id}"),
            &ta,
            Some(plan),
        ),
        200,
    );
    assert_eq!(
        p["plan"]["critical_services"][0]["name"], "grid dispatch",
        "restore priorities in order"
    );
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/recovery/plans/{a_id}"), &tb, None)
            .status,
        403,
        "another member does not read A's plan"
    );
    let bad = hub.rest(
        "PUT",
        &format!("/api/v1/recovery/plans/{a_id}"),
        &ta,
        Some(json!({"critical_services": [{"name": "x", "priority": 1, "target_hours": -1}]})),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("critical_services[0].target_hours"),
        "{}",
        bad.body
    );

    // Two members report overlapping incidents.
    let indicator = json!({"type": "indicator", "spec_version": "2.1",
        "id": "indicator--0b7f3c1a-9d2e-4f5a-8b6c-1e2d3f4a5b6c",
        "created": "2026-12-01T09:00:00.000Z", "modified": "2026-12-01T09:00:00.000Z",
        "name": "Kagami billing cluster beacon",
        "description": "Seen on the Kagami billing cluster; call Hanako on +81-3-5555-0100",
        "pattern": "[ipv4-addr:value = '203.0.113.50']", "pattern_type": "stix",
        "valid_from": "2026-12-01T09:00:00Z"});
    let coa = json!({"type": "course-of-action", "spec_version": "2.1",
        "id": "course-of-action--4c2a1b3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "created": "2026-12-01T09:00:00.000Z", "modified": "2026-12-01T09:00:00.000Z",
        "name": "Block 203.0.113.50 at the perimeter"});
    let rel = json!({"type": "relationship", "spec_version": "2.1",
        "id": "relationship--5d3b2c4e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
        "created": "2026-12-01T09:00:00.000Z", "modified": "2026-12-01T09:00:00.000Z",
        "relationship_type": "mitigates",
        "source_ref": "course-of-action--4c2a1b3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "target_ref": "indicator--0b7f3c1a-9d2e-4f5a-8b6c-1e2d3f4a5b6c"});
    let note = json!({"type": "note", "spec_version": "2.1",
        "id": "note--6e4c3d5f-7a8b-4c9d-8e0f-2a3b4c5d6e7f",
        "created": "2026-12-01T09:00:00.000Z", "modified": "2026-12-01T09:00:00.000Z",
        "content": "Kagami Utility internal: Hanako Yamada leads the response",
        "object_refs": ["indicator--0b7f3c1a-9d2e-4f5a-8b6c-1e2d3f4a5b6c"]});
    let mut body_a = report_body(
        "C2 beacons on the Kagami billing cluster",
        "Kagami billing cluster beacons to 203.0.113.50; call Hanako on +81-3-5555-0100",
        vec![
            ip("203.0.113.50", 1),
            json!({"type": "domain-name", "spec_version": "2.1",
                "id": "domain-name--1f2e3d4c-5b6a-5978-8a9b-0c1d2e3f4a5b",
                "value": "vpn.kagami-utility.example"}),
            indicator,
            coa,
            rel,
            note,
        ],
        json!({"share_anonymized": true, "share_named": false, "law_enforcement": "ask"}),
    );
    body_a["attachments"] = json!([{"name": "kagami-dump.pcap", "media_type": "application/vnd.tcpdump.pcap",
        "content_base64": base64::engine::general_purpose::STANDARD.encode(b"\xd4\xc3\xb2\xa1 pcap")}]);
    let ra = ok(
        &hub.rest("POST", "/api/v1/incidents/reports", &ta, Some(body_a)),
        201,
    );
    let rb = ok(
        &hub.rest(
            "POST",
            "/api/v1/incidents/reports",
            &tb,
            Some(report_body(
                "Beacons to 203.0.113.50",
                "Outbound TLS to an unknown host",
                vec![ip("203.0.113.50", 1)],
                json!({"share_anonymized": true, "share_named": false, "law_enforcement": "no"}),
            )),
        ),
        201,
    );
    let (ra_id, rb_id) = (id(&ra), id(&rb));
    let (case_a, case_b) = (
        ra["incident"].as_str().unwrap().to_string(),
        rb["incident"].as_str().unwrap().to_string(),
    );

    // B starts recovering on its own case; a merge carries that along.
    ok(
        &hub.rest(
            "PUT",
            &format!("/api/v1/incidents/{case_b}/recovery/{b_id}"),
            &tb,
            Some(json!({"status": "in-progress"})),
        ),
        200,
    );

    // Correlation: each member sees only what it may, the coordinator all.
    let corr = |token: &str, report: &str| {
        ok(
            &hub.rest(
                "GET",
                &format!("/api/v1/incidents/reports/{report}/correlation"),
                token,
                None,
            ),
            200,
        )["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["value"] == "ipv4-addr:203.0.113.50" || v["value"] == "203.0.113.50")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let seen_by_a = corr(&ta, &ra_id);
    assert_eq!(
        seen_by_a["reports"], 0,
        "B's AMBER+STRICT report is not counted for A: {seen_by_a}"
    );
    let seen_by_coord = corr(&admin, &ra_id);
    assert_eq!(seen_by_coord["reports"], 1, "{seen_by_coord}");
    assert_eq!(seen_by_coord["other_organizations"], 1);

    // Triage, merge.
    let state = |case: &str, to: &str| {
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case}/state"),
            &admin,
            Some(json!({"state": to})),
        )
    };
    ok(&state(&case_a, "triaging"), 200);
    ok(&state(&case_a, "confirmed"), 200);
    ok(
        &hub.rest(
            "PATCH",
            &format!("/api/v1/incidents/{case_a}"),
            &admin,
            Some(json!({"severity": "high"})),
        ),
        200,
    );
    let merged = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/merge"),
            &admin,
            Some(json!({"incidents": [case_b]})),
        ),
        200,
    );
    assert_eq!(merged["reports"].as_array().unwrap().len(), 2);
    let b_rec = ok(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}/recovery"),
            &tb,
            None,
        ),
        200,
    );
    assert_eq!(
        b_rec["organizations"][0]["status"], "in-progress",
        "{b_rec}"
    );
    assert!(b_rec["organizations"][0]["started"].is_string());

    // Sanitized redistribution: the preview is exactly what the draft holds.
    let sanitize = json!({"audience": {"organizations": [r_id]}, "tlp": "green"});
    let named = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/warning/preview"),
        &admin,
        Some(json!({"audience": {"organizations": [r_id]}, "keep": {"reporter": true}})),
    );
    assert_eq!(
        named.status, 403,
        "naming needs share_named: {}",
        named.body
    );
    let leaky = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/warning/preview"),
        &admin,
        Some(json!({"audience": {"organizations": [r_id]},
            "summary": {"en": "Kagami Utility was hit"}})),
    );
    assert_eq!(leaky.status, 400);
    assert!(leaky.body.contains("summary.en"), "{}", leaky.body);
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/warning/preview"),
            &ta,
            Some(sanitize.clone()),
        )
        .status,
        403,
        "only the coordinator drafts"
    );
    let preview = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/warning/preview"),
            &admin,
            Some(sanitize.clone()),
        ),
        200,
    );
    leaks(
        "the preview",
        &preview["warning"].to_string(),
        &[&a_id, &b_id],
    );
    let summary = preview["warning"]["summary"]["en"].as_str().unwrap();
    assert!(
        summary.contains("2 organizations")
            && summary.contains("Classification: malicious code / c2 server"),
        "generated from the reports' non-identifying fields: {summary}"
    );
    assert_eq!(
        preview["warning"]["title"]["en"],
        "Confirmed incident: c2 server"
    );
    let drafted = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/warning"),
            &admin,
            Some(sanitize),
        ),
        201,
    );
    let w = &drafted["warning"];
    let wid = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["state"], "draft");
    assert_eq!(
        w["objects"], preview["warning"]["objects"],
        "the preview is the draft"
    );
    assert_eq!(w["summary"], preview["warning"]["summary"]);
    let objects = w["objects"].as_array().unwrap();
    // Ids are keyed with the hub's secret: the unkeyed derivation from the case and an
    // indicator's pattern (which a recipient can guess) does not give them.
    // Ids are keyed with the hub's secret: the unkeyed derivation from the case and the
    // reporter's own ids (which the reporter, a recipient too, knows) does not give them.
    let unkeyed = |seed: String| {
        use sha2::Digest;
        let h = sha2::Sha256::digest(seed.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        b[6] = (b[6] & 0x0f) | 0x50;
        b[8] = (b[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(b).to_string()
    };
    for (t, original) in [
        (
            "indicator",
            "indicator--0b7f3c1a-9d2e-4f5a-8b6c-1e2d3f4a5b6c",
        ),
        (
            "course-of-action",
            "course-of-action--4c2a1b3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        ),
    ] {
        let sanitized = objects.iter().find(|o| o["type"] == t).unwrap();
        let guessed = format!("{t}--{}", unkeyed(format!("sanitized/{case_a}/{original}")));
        assert_ne!(
            sanitized["id"],
            guessed.as_str(),
            "an id a recipient can derive"
        );
        assert_ne!(sanitized["id"], original, "the reporter's own id");
    }
    let types: Vec<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    for t in ["indicator", "course-of-action", "relationship"] {
        assert!(types.contains(&t), "{t} is kept: {types:?}");
    }
    assert!(
        !types.contains(&"note") && !types.contains(&"observed-data"),
        "{types:?}"
    );
    assert!(
        !types.contains(&"ipv4-addr"),
        "observables leave as the coordinator's indicators"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "indicator").count(),
        1,
        "one per value: {types:?}"
    );
    for o in objects {
        assert_eq!(
            o["created_by_ref"],
            hub.coordinator_identity.as_str(),
            "{o}"
        );
    }
    let ind = objects.iter().find(|o| o["type"] == "indicator").unwrap();
    assert_eq!(ind["pattern"], "[ipv4-addr:value = '203.0.113.50']");
    assert_ne!(
        ind["id"], "indicator--0b7f3c1a-9d2e-4f5a-8b6c-1e2d3f4a5b6c",
        "new ids"
    );
    assert!(ind.get("name").is_none() && ind.get("description").is_none());
    assert!(
        drafted["removed"].to_string().contains("note--"),
        "{}",
        drafted["removed"]
    );
    assert!(
        drafted["removed"]
            .to_string()
            .contains("it names a reporter"),
        "A's own domain is not sent out as malicious: {}",
        drafted["removed"]
    );
    let edit = hub.rest(
        "PUT",
        &format!("/api/v1/warnings/{wid}"),
        &admin,
        Some(
            json!({"title": {"en": "Kagami Utility hit"}, "summary": {"en": "x"}, "severity": "low",
            "audience": {"organizations": [r_id]}}),
        ),
    );
    assert_eq!(
        edit.status, 409,
        "a sanitized draft is not edited by hand: {}",
        edit.body
    );
    leaks("the draft", &w.to_string(), &[&a_id, &b_id]);

    ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/warnings/{wid}/publish"),
            &admin,
            None,
        ),
        200,
    );
    // Webhook and e-mail reach the recipient, naming no reporter.
    assert!(rx.wait_until(WAIT, |r| r.iter().any(|x| x.path == "/r" && x.accepted)));
    for r in rx.requests() {
        leaks("the webhook", &r.body, &[&a_id, &b_id]);
    }
    let mails = smtp.wait_for(1, WAIT);
    assert_eq!(mails.len(), 1);
    let text = decode_text_body(&mails[0].data).unwrap();
    assert!(
        text.contains("203.0.113.50") || text.contains("Confirmed incident"),
        "{text}"
    );
    leaks("the e-mail", &mails[0].data, &[&a_id, &b_id]);
    leaks("the e-mail text", &text, &[&a_id, &b_id]);
    // The event feed and TAXII.
    for ev in sse(&hub, &tr, 1) {
        leaks("the event feed", &ev, &[&a_id, &b_id]);
    }
    let taxii = hub.taxii_get(&objects_path(WARNINGS), Some(&tr));
    assert_eq!(taxii.status, 200);
    assert!(
        taxii.body.contains("203.0.113.50"),
        "the recipient reads the indicator over TAXII"
    );
    leaks(
        "TAXII",
        &taxii.body,
        &[&a_id, &b_id, &ra_id, &rb_id, &case_a],
    );
    let rv = ok(
        &hub.rest("GET", &format!("/api/v1/warnings/{wid}"), &tr, None),
        200,
    );
    leaks(
        "the recipient's warning view",
        &rv.to_string(),
        &[&a_id, &b_id, &case_a],
    );
    // The recipient acknowledges.
    ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/warnings/{wid}/acknowledgements"),
            &tr,
            Some(json!({"status": "acknowledged"})),
        ),
        201,
    );
    // A second draft; B withdraws consent before it is published: it is not.
    let second = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/warning"),
            &admin,
            Some(json!({"audience": {"organizations": [r_id]}})),
        ),
        201,
    );
    ok(
        &hub.rest(
            "PUT",
            &format!("/api/v1/incidents/reports/{rb_id}/consent"),
            &tb,
            Some(json!({"share_anonymized": false, "share_named": false, "law_enforcement": "no"})),
        ),
        200,
    );
    let late = hub.rest(
        "POST",
        &format!(
            "/api/v1/warnings/{}/publish",
            second["warning"]["id"].as_str().unwrap()
        ),
        &admin,
        None,
    );
    assert_eq!(late.status, 403, "{}", late.body);
    assert!(late.body.contains(&rb_id), "{}", late.body);
    // The same holds inside the publication's transaction, for a withdrawal that lands
    // after the service's check: the store itself refuses to write the publication.
    // The next version of warning `id` written straight to the store, bypassing the
    // service's checks; the store's error.
    let next_version = |id: &str, event: &str| {
        let mut row = hub.store.warning(id).unwrap().unwrap();
        let previous_version = row.version;
        row.version += 1;
        row.state = "published".into();
        hub.store
            .apply_publication(hinomi_store::Publication {
                warning: row,
                previous_version,
                event: event.into(),
                changes: (event == "updated").then(|| "more".into()),
                collection_id: hinomi_store::WARNINGS_COLLECTION.into(),
                objects: vec![],
                recipients: vec![],
                deliveries: vec![],
                events: vec![],
                actor_org: hub.store.coordinator().unwrap().unwrap().id,
                now: 0,
            })
            .unwrap_err()
    };
    let second_id = second["warning"]["id"].as_str().unwrap();
    let e = next_version(second_id, "published");
    assert!(
        matches!(&e, hinomi_store::StoreError::Conflict(m) if m.contains(&rb_id)),
        "{e}"
    );
    assert_eq!(
        hub.store.warning(second_id).unwrap().unwrap().state,
        "draft",
        "nothing written"
    );
    // The published warning drew from B's report too: an update would send it out
    // again, so the store refuses it, saying what is still allowed; a withdrawal is.
    let e = next_version(&wid, "updated");
    assert!(
        matches!(&e, hinomi_store::StoreError::Conflict(m)
            if m.contains(&rb_id) && m.contains("may be withdrawn, not updated")),
        "{e}"
    );
    let gone = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/warnings/{wid}/withdraw"),
            &admin,
            Some(json!({"reason": "the reporter withdrew consent"})),
        ),
        200,
    );
    assert_eq!(gone["state"], "withdrawn", "{gone}");

    // The mapping back is the coordinator's only.
    let case = ok(
        &hub.rest("GET", &format!("/api/v1/incidents/{case_a}"), &admin, None),
        200,
    );
    assert_eq!(case["warnings"][0]["warning"], wid.as_str());
    assert_eq!(case["warnings"][0]["reports"].as_array().unwrap().len(), 2);
    assert!(case["timeline"].to_string().contains("redistribute"));
    let as_a = ok(
        &hub.rest("GET", &format!("/api/v1/incidents/{case_a}"), &ta, None),
        200,
    );
    assert!(
        as_a.get("warnings").is_none() && as_a.get("referrals").is_none(),
        "{as_a}"
    );
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/incidents/{case_a}"), &tr, None)
            .status,
        404
    );
    let audit = ok(
        &hub.rest("GET", "/api/v1/audit?limit=1000", &admin, None),
        200,
    );
    assert!(audit.to_string().contains("incident.redistribute"));

    // Referral: refused without consent (B said no), asked of A, answered through the hub.
    let refer = |body: Value| {
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/referrals"),
            &admin,
            Some(body),
        )
    };
    let no = refer(json!({"to": p_id}));
    assert_eq!(no.status, 403, "{}", no.body);
    assert!(no.body.contains(&rb_id), "{}", no.body);
    let wrong = refer(json!({"to": r_id, "reports": [ra_id]}));
    assert_eq!(wrong.status, 400, "only to law enforcement: {}", wrong.body);
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/referrals"),
            &ta,
            Some(json!({"to": p_id, "reports": [ra_id]}))
        )
        .status,
        403
    );
    let preservation = json!({
        "requesting_authority": "National Police Cyber Unit",
        "offence": "unauthorized access (Act on Prohibition of Unauthorized Computer Access)",
        "summary_of_facts": "C2 beacons from the billing cluster since 1 December",
        "data_to_preserve": "firewall and proxy logs, 2026-11-25 to 2026-12-02",
        "relation_to_offence": "they record the connections to the C2 server",
        "custodian_or_location": "the reporting operator's SOC",
        "necessity": "the logs rotate after 14 days",
        "mutual_assistance_intended": false,
    });
    let asked = ok(
        &refer(
            json!({"to": p_id, "reports": [ra_id], "parts": ["case", "reports", "observables"],
            "note": "please assess", "preservation": preservation}),
        ),
        201,
    );
    let ref_id = id(&asked);
    assert_eq!(asked["state"], "awaiting-consent");
    assert_eq!(asked["consent"][0]["answer"], "ask");
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/referrals/{ref_id}"), &tp, None)
            .status,
        404,
        "law enforcement sees nothing before the reporter consents"
    );
    assert_eq!(
        ok(&hub.rest("GET", "/api/v1/referrals", &tp, None), 200)["referrals"],
        json!([])
    );
    let mine = ok(&hub.rest("GET", "/api/v1/referrals", &ta, None), 200);
    assert_eq!(
        mine["referrals"][0]["id"],
        ref_id.as_str(),
        "A is asked: {mine}"
    );
    assert!(mine["referrals"][0].get("content").is_none());
    assert!(
        mine["referrals"][0].get("preservation").is_none()
            && mine["referrals"][0].get("note").is_none(),
        "a reporter sees its question, not what others wrote: {mine}"
    );
    let asked_event = sse(&hub, &ta, 1);
    assert!(
        asked_event[0].contains(&ref_id),
        "A's feed carries the question: {asked_event:?}"
    );
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/referrals/{ref_id}/consent"),
            &tb,
            Some(json!({"report": ra_id, "answer": "yes"}))
        )
        .status,
        404,
        "only A answers for A's report"
    );
    let yes = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/referrals/{ref_id}/consent"),
            &ta,
            Some(json!({"report": ra_id, "answer": "yes"})),
        ),
        200,
    );
    assert_eq!(yes["state"], "shared");
    let got = ok(
        &hub.rest("GET", &format!("/api/v1/referrals/{ref_id}"), &tp, None),
        200,
    );
    assert_eq!(got["content"]["reports"][0]["report"], ra_id.as_str());
    assert_eq!(
        got["content"]["reports"][0]["reporter"]["name"],
        "Kagami Utility"
    );
    assert!(got["content"]["reports"][0]["stix"]
        .to_string()
        .contains("203.0.113.50"));
    assert_eq!(
        got["preservation"]["necessity"],
        "the logs rotate after 14 days"
    );
    assert!(
        got["content"]["reports"].as_array().unwrap().len() == 1,
        "only A's report"
    );
    let incomplete = hub.rest(
        "PUT",
        &format!("/api/v1/referrals/{ref_id}/preservation"),
        &tp,
        Some(
            json!({"requesting_authority": "x", "offence": "", "summary_of_facts": "x",
            "data_to_preserve": "x", "relation_to_offence": "x", "custodian_or_location": "x",
            "necessity": "x", "mutual_assistance_intended": true}),
        ),
    );
    assert_eq!(incomplete.status, 400);
    assert!(
        incomplete.body.contains("preservation.offence"),
        "{}",
        incomplete.body
    );
    let vague = hub.rest(
        "POST",
        &format!("/api/v1/referrals/{ref_id}/outcome"),
        &tp,
        Some(json!({"outcome": "referred-to-another-agency"})),
    );
    assert_eq!(vague.status, 400);
    let closed = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/referrals/{ref_id}/outcome"),
            &tp,
            Some(json!({"outcome": "follow-up-initiated", "detail": "case 2026-1207 opened"})),
        ),
        200,
    );
    assert_eq!(closed["state"], "closed");
    // A second referral A refuses: its content is gone.
    let second = ok(&refer(json!({"to": p_id, "reports": [ra_id]})), 201);
    let second_id = id(&second);
    ok(
        &hub.rest(
            "PUT",
            &format!("/api/v1/incidents/reports/{ra_id}/consent"),
            &ta,
            Some(json!({"share_anonymized": true, "share_named": false, "law_enforcement": "no"})),
        ),
        200,
    );
    let refused = ok(
        &hub.rest(
            "GET",
            &format!("/api/v1/referrals/{second_id}"),
            &admin,
            None,
        ),
        200,
    );
    assert_eq!(
        refused["state"], "refused",
        "a standing no answers the open question"
    );
    assert!(refused["content"].is_null());
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/referrals/{second_id}"), &tp, None)
            .status,
        404
    );
    assert_eq!(refer(json!({"to": p_id, "reports": [ra_id]})).status, 403);
    let audit = ok(
        &hub.rest("GET", "/api/v1/audit?limit=1000", &admin, None),
        200,
    )
    .to_string();
    for step in [
        "incident.referral",
        "incident.referral.consent",
        "incident.referral.outcome",
    ] {
        assert!(audit.contains(step), "{step} audited");
    }

    // Recovery to closed.
    ok(&state(&case_a, "contained"), 200);
    let rec = ok(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}/recovery"),
            &admin,
            None,
        ),
        200,
    );
    let orgs = rec["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 2, "both reporters are affected");
    let a_rec = orgs
        .iter()
        .find(|o| o["organization"] == a_id.as_str())
        .unwrap();
    assert_eq!(
        a_rec["plan"]["plan"]["critical_services"][0]["alternate_operation"],
        "manual dispatch from the backup centre",
        "the coordinator sees A's plan"
    );
    let only_b = ok(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}/recovery"),
            &tb,
            None,
        ),
        200,
    );
    assert_eq!(
        only_b["organizations"].as_array().unwrap().len(),
        1,
        "B sees its own part"
    );
    assert!(!only_b.to_string().contains("Hanako"));
    assert_eq!(
        hub.rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}/recovery"),
            &tr,
            None
        )
        .status,
        404
    );
    ok(
        &hub.rest(
            "PUT",
            &format!("/api/v1/incidents/{case_a}/recovery/{a_id}"),
            &ta,
            Some(json!({"status": "in-progress"})),
        ),
        200,
    );
    assert_eq!(
        hub.rest(
            "PUT",
            &format!("/api/v1/incidents/{case_a}/recovery/{a_id}"),
            &tb,
            Some(json!({"status": "restored"})),
        )
        .status,
        403,
        "B does not set A's recovery"
    );
    let task = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/recovery/{a_id}/tasks"),
            &admin,
            Some(json!({"title": "Rebuild the billing servers from clean images", "due": "2026-12-05T00:00:00Z"})),
        ),
        201,
    );
    let i1 = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/recovery/{a_id}/impacts"),
            &ta,
            Some(
                json!({"category": "availability", "criticality": 80, "availability_impact": 70,
                "description": "billing down", "start_time": "2026-12-01T08:00:00Z"}),
            ),
        ),
        201,
    );
    let i2 = ok(
        &hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/recovery/{a_id}/impacts"),
            &ta,
            Some(
                json!({"category": "availability", "criticality": 20, "availability_impact": 10,
                "start_time": "2026-12-01T08:00:00Z"}),
            ),
        ),
        201,
    );
    assert_eq!(i1["type"], "impact");
    assert_eq!(i1["impacted_refs"], json!([a["identity_id"]]));
    ok(
        &hub.rest(
            "PATCH",
            &format!("/api/v1/recovery/tasks/{}", id(&task)),
            &ta,
            Some(json!({"status": "done"})),
        ),
        200,
    );
    ok(&state(&case_a, "recovering"), 200);
    for org in [&a_id, &b_id] {
        ok(
            &hub.rest(
                "PUT",
                &format!("/api/v1/incidents/{case_a}/recovery/{org}"),
                &admin,
                Some(json!({"status": "restored"})),
            ),
            200,
        );
    }
    let rec = ok(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}/recovery"),
            &ta,
            None,
        ),
        200,
    );
    let mine = &rec["organizations"][0];
    assert_eq!(mine["status"], "restored");
    assert!(mine["started"].is_string() && mine["restored"].is_string());
    assert_eq!(mine["tasks"][0]["status"], "done");
    let impacts = mine["impacts"].as_array().unwrap();
    assert_eq!(impacts.len(), 2);
    assert_eq!(impacts[0]["id"], i1["id"]);
    assert_eq!(
        impacts[0]["superseded_by_ref"], i2["id"],
        "the older impact points to the newer"
    );
    assert!(impacts[1].get("superseded_by_ref").is_none());
    assert_eq!(mine["current_impact"]["criticality"], 20);
    ok(&state(&case_a, "closed"), 200);
    let overview = ok(&hub.rest("GET", "/api/v1/recovery", &admin, None), 200);
    assert_eq!(overview["by_sector"]["energy"]["restored"], 2, "{overview}");
    assert_eq!(overview["by_organization"][&a_id]["restored"], 1);
    assert_eq!(hub.rest("GET", "/api/v1/recovery", &ta, None).status, 403);
    let case = ok(
        &hub.rest("GET", &format!("/api/v1/incidents/{case_a}"), &admin, None),
        200,
    );
    assert_eq!(case["state"], "closed");
    assert_eq!(case["referrals"].as_array().unwrap().len(), 2);
    assert!(case["referrals"][0].get("content").is_none());
    assert_eq!(case["recovery"].as_array().unwrap().len(), 2);
}

#[test]
fn an_exercise_stays_out_of_statistics_recovery_notifications_and_peers() {
    let smtp = SmtpServer::start();
    let mut cfg = SmtpConfig::new("127.0.0.1", smtp.port(), "warnings@hub.example");
    cfg.tls = TlsMode::None;
    let mut config = crate::lab_config();
    config.notify.smtp = Some(cfg);
    config.notify.poll = Duration::from_millis(50);
    let us = Hub::start_with(config);
    let jp = Hub::start_with(HubConfig {
        federation: hinomi_hub::service::federation::FederationConfig {
            pull_interval: Duration::from_secs(3600),
            ..Default::default()
        },
        ..crate::lab_config()
    });
    let admin = us.admin.clone();
    let (a, ta) = us.member("Drill operator", "private");
    let (rcpt, tr) = us.member("Drill recipient", "government");
    let a_id = a["id"].as_str().unwrap().to_string();
    ok(
        &us.rest(
            "POST",
            "/api/v1/subscription/contacts",
            &tr,
            Some(json!({"email": "soc@drill.example"})),
        ),
        201,
    );
    let mut body = report_body(
        "Drill: ransomware on the SCADA historian",
        "exercise scenario 7",
        vec![ip("192.0.2.77", 9)],
        json!({"share_anonymized": true, "share_named": false, "law_enforcement": "no"}),
    );
    body["exercise"] = json!(true);
    let r = ok(
        &us.rest("POST", "/api/v1/incidents/reports", &ta, Some(body)),
        201,
    );
    assert_eq!(r["exercise"], true);
    let case = r["incident"].as_str().unwrap().to_string();
    let stats = ok(
        &us.rest("GET", "/api/v1/incidents/stats", &admin, None),
        200,
    );
    assert_eq!(
        stats["cases"], 0,
        "an exercise never counts in the real figures: {stats}"
    );
    assert_eq!(stats["reports"], 0);
    assert_eq!(stats["exercise"]["cases"], 1);
    assert_eq!(stats["exercise"]["reports_by_kind"]["incident"], 1);
    for to in ["triaging", "confirmed"] {
        ok(
            &us.rest(
                "POST",
                &format!("/api/v1/incidents/{case}/state"),
                &admin,
                Some(json!({"state": to})),
            ),
            200,
        );
    }
    ok(
        &us.rest(
            "PUT",
            &format!("/api/v1/incidents/{case}/recovery/{a_id}"),
            &ta,
            Some(json!({"status": "in-progress"})),
        ),
        200,
    );
    let real = ok(&us.rest("GET", "/api/v1/recovery", &admin, None), 200);
    assert_eq!(real["entries"], json!([]), "{real}");
    let drill = ok(
        &us.rest("GET", "/api/v1/recovery?exercise=true", &admin, None),
        200,
    );
    assert_eq!(drill["entries"].as_array().unwrap().len(), 1);

    // The sanitized warning of an exercise is an exercise: marked as one in every
    // notification, and not exported to a peer whose agreement leaves exercises out.
    let drafted = ok(
        &us.rest(
            "POST",
            &format!("/api/v1/incidents/{case}/warning"),
            &admin,
            Some(json!({"audience": {"all": true}, "tlp": "green"})),
        ),
        201,
    );
    assert_eq!(drafted["warning"]["exercise"], true);
    let wid = drafted["warning"]["id"].as_str().unwrap().to_string();
    ok(
        &us.rest(
            "POST",
            &format!("/api/v1/warnings/{wid}/publish"),
            &admin,
            None,
        ),
        200,
    );
    let mails = smtp.wait_for(1, WAIT);
    assert!(!mails.is_empty());
    for m in &mails {
        let subject = header(&m.data, "Subject").unwrap_or_default();
        assert!(subject.contains("EXERCISE"), "{subject}");
    }
    let _ = rcpt;
    // JP pulls the US warnings collection under an agreement without exercises.
    let agreement =
        json!({"green": true, "one_community": true, "exported_collections": ["warnings"]});
    let r = us.rest(
        "POST",
        "/api/v1/peers",
        &admin,
        Some(
            json!({"name": "JP", "country": "JP", "identity_id": jp.coordinator_identity,
            "api_root": jp.url("/taxii2/hub/"), "direction": "push", "push_collection": FEDERATION,
            "agreement": agreement}),
        ),
    );
    let jp_token = ok(&r, 201)["token"].as_str().unwrap().to_string();
    let r = jp.rest(
        "POST",
        "/api/v1/peers",
        &jp.admin,
        Some(
            json!({"name": "US", "country": "US", "identity_id": us.coordinator_identity,
            "api_root": us.url("/taxii2/hub/"), "direction": "pull", "pull_collections": [WARNINGS],
            "agreement": {"green": true, "one_community": true}, "token": jp_token}),
        ),
    );
    let us_at_jp = ok(&r, 201)["id"].as_str().unwrap().to_string();
    ok(
        &jp.rest(
            "POST",
            &format!("/api/v1/peers/{us_at_jp}/sync"),
            &jp.admin,
            None,
        ),
        200,
    );
    let got = jp.taxii_get(&objects_path(FEDERATION), Some(&jp.admin));
    assert!(
        !got.body.contains("192.0.2.77"),
        "the exercise did not cross: {}",
        got.body
    );
    // A real sanitized warning does cross the same agreement (so the check above can
    // fail), and names its reporter no more at the peer than at home.
    let (w_org, tw) = us.member("Shirakawa Water Works", "private");
    let real = ok(
        &us.rest(
            "POST",
            "/api/v1/incidents/reports",
            &tw,
            Some(report_body(
                "Shirakawa Water Works SCADA beacons",
                "Shirakawa pump station beacons",
                vec![ip("198.51.100.99", 10)],
                json!({"share_anonymized": true, "share_named": false, "law_enforcement": "no"}),
            )),
        ),
        201,
    );
    let real_case = real["incident"].as_str().unwrap().to_string();
    let mixed = us.rest(
        "POST",
        &format!("/api/v1/incidents/{real_case}/merge"),
        &admin,
        Some(json!({"incidents": [case]})),
    );
    assert_eq!(
        mixed.status, 409,
        "an exercise is never merged into a real case: {}",
        mixed.body
    );
    ok(
        &us.rest(
            "POST",
            &format!("/api/v1/incidents/{real_case}/state"),
            &admin,
            Some(json!({"state": "confirmed"})),
        ),
        200,
    );
    let w = ok(
        &us.rest(
            "POST",
            &format!("/api/v1/incidents/{real_case}/warning"),
            &admin,
            Some(json!({"audience": {"all": true}, "tlp": "green"})),
        ),
        201,
    );
    assert_eq!(w["warning"]["exercise"], false);
    ok(
        &us.rest(
            "POST",
            &format!(
                "/api/v1/warnings/{}/publish",
                w["warning"]["id"].as_str().unwrap()
            ),
            &admin,
            None,
        ),
        200,
    );
    ok(
        &jp.rest(
            "POST",
            &format!("/api/v1/peers/{us_at_jp}/sync"),
            &jp.admin,
            None,
        ),
        200,
    );
    let got = jp.taxii_get(&objects_path(FEDERATION), Some(&jp.admin));
    assert!(got.body.contains("198.51.100.99"), "{}", got.body);
    assert!(!got.body.contains("192.0.2.77"));
    let w_id = w_org["id"].as_str().unwrap();
    let w_identity = w_org["identity_id"].as_str().unwrap();
    for s in [
        "Shirakawa",
        w_id,
        w_identity,
        real["id"].as_str().unwrap(),
        &real_case,
    ] {
        assert!(
            !got.body.contains(s),
            "the peer received '{s}': {}",
            got.body
        );
    }
}
