//! Warning delivery benchmark: one warning to N subscribed organizations, each with a
//! webhook receiver on loopback.
//!
//! ```text
//! cargo run --release -p hinomi-hub --example warning_bench -- \
//!     [--orgs 10000] [--receivers 10] [--rounds 3] [--database-url postgres://…]
//! ```
//!
//! Setup (not timed): a hub in this process (SQLite in a temporary directory, or the
//! PostgreSQL URL given, in a fresh schema), N member organizations with one webhook
//! each, spread over `--receivers` HTTP receivers. Each round the coordinator publishes
//! a TLP:GREEN warning to all members over the REST API; the clock starts just before
//! the request. Measured: how long the publish request takes (recipients, outbox, STIX
//! report, feed events, written in one transaction), when the last organization has its
//! copy (deduplicated by `webhook-id`), and per organization the publish-to-receipt
//! latency (p50, p99, max). Signatures are verified for a sample. Prints one JSON line
//! per round and a summary with medians.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hinomi_hub::{HubConfig, TestServer};
use hinomi_notify::testing::WebhookReceiver;
use hinomi_notify::webhook::{self, WebhookSecret};
use hinomi_store::{NewOrganization, OrgKind, Store, Timestamp, Webhook};

mod common;
use common::{bench_location, percentile};

struct Args {
    orgs: usize,
    receivers: usize,
    rounds: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        orgs: 10_000,
        receivers: 10,
        rounds: 3,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--orgs" => a.orgs = v.parse().expect("--orgs N"),
            "--receivers" => a.receivers = v.parse().expect("--receivers N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--database-url" => a.database_url = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn main() {
    let a = args();
    let location = bench_location(a.database_url.as_deref(), "warnbench");
    let store = Arc::new(Store::open(&location).expect("open the store"));
    let boot = store
        .bootstrap("Coordinator", Some("JP"))
        .expect("bootstrap");
    let config = HubConfig {
        outbound: hinomi_hub::outbound::OutboundPolicy::lab(),
        ..HubConfig::default()
    };
    let key = config.notify.key.clone();
    let receivers: Vec<WebhookReceiver> =
        (0..a.receivers).map(|_| WebhookReceiver::start()).collect();
    let setup = Instant::now();
    let mut secrets: HashMap<String, WebhookSecret> = HashMap::new();
    for i in 0..a.orgs {
        let o = store
            .create_organization(
                &NewOrganization {
                    name: format!("Member {i}"),
                    kind: OrgKind::Private,
                    sectors: vec!["energy".into()],
                    country: Some("JP".into()),
                },
                &boot.organization.id,
            )
            .expect("create organization");
        let secret = WebhookSecret::generate();
        let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
        let path = format!("/hook/{i}");
        let w = Webhook {
            id: id.clone(),
            org_id: o.id.clone(),
            url: receivers[i % a.receivers].url(&path),
            secret_sealed: key.seal(secret.expose().as_bytes(), id.as_bytes()),
            created: Timestamp::now(),
        };
        store.add_webhook(&w, &o.id).expect("add webhook");
        secrets.insert(path, secret);
    }
    eprintln!(
        "setup: {} organizations with webhooks in {:.1} s",
        a.orgs,
        setup.elapsed().as_secs_f64()
    );
    let server = TestServer::start(store.clone(), config);
    let agent = ureq::agent();
    let mut rounds = Vec::new();
    for round in 0..a.rounds {
        let before: usize = receivers.iter().map(|r| r.requests().len()).sum();
        let body = json!({
            "title": {"en": format!("Benchmark warning {round}"), "ja": "ベンチマーク"},
            "summary": {"en": "Delivery benchmark."},
            "severity": "high", "tlp": "green", "ack_required": false,
            "audience": {"all": true},
        });
        let auth = format!("Bearer {}", boot.token);
        let created: Value = agent
            .post(&format!("{}/api/v1/warnings", server.url()))
            .set("Authorization", &auth)
            .send_json(body)
            .expect("create the warning")
            .into_json()
            .expect("JSON");
        let wid = created["id"].as_str().expect("id").to_string();
        let t0 = Instant::now();
        agent
            .post(&format!("{}/api/v1/warnings/{wid}/publish", server.url()))
            .set("Authorization", &auth)
            .call()
            .expect("publish");
        let publish_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut seen: HashMap<String, Instant> = HashMap::new();
        while seen.len() < a.orgs && Instant::now() < deadline {
            // Receipt times are taken by the receivers; polling slowly keeps this loop
            // from competing with the hub for the CPU.
            std::thread::sleep(Duration::from_millis(250));
            for r in &receivers {
                for q in r.requests().into_iter() {
                    if q.accepted && q.body.contains(&wid) {
                        seen.entry(q.path.clone()).or_insert(q.at);
                    }
                }
            }
        }
        let all_s = seen
            .values()
            .max()
            .map(|t| t.duration_since(t0).as_secs_f64())
            .unwrap_or(f64::NAN);
        let mut lat: Vec<f64> = seen
            .values()
            .map(|t| t.duration_since(t0).as_secs_f64() * 1000.0)
            .collect();
        lat.sort_by(f64::total_cmp);
        // Verify a sample of signatures.
        let mut verified = 0;
        for r in &receivers {
            for q in r
                .requests()
                .into_iter()
                .filter(|q| q.body.contains(&wid))
                .take(20)
            {
                let ts: i64 = q
                    .header("webhook-timestamp")
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                webhook::verify(
                    &secrets[&q.path],
                    q.header("webhook-id").unwrap_or(""),
                    ts,
                    q.body.as_bytes(),
                    q.header("webhook-signature").unwrap_or(""),
                    ts,
                    300,
                )
                .expect("signature verifies");
                verified += 1;
            }
        }
        let after: usize = receivers.iter().map(|r| r.requests().len()).sum();
        let line = json!({
            "round": round, "organizations": a.orgs, "delivered": seen.len(),
            "requests": after - before,
            "publish_request_ms": (publish_ms * 10.0).round() / 10.0,
            "all_delivered_s": (all_s * 1000.0).round() / 1000.0,
            "latency_ms": {"p50": percentile(&lat, 0.5).round(), "p99": percentile(&lat, 0.99).round(), "max": percentile(&lat, 1.0).round()},
            "signatures_verified": verified,
        });
        println!("{line}");
        rounds.push(line);
    }
    let m = |f: &dyn Fn(&Value) -> f64| median(rounds.iter().map(f).collect());
    println!(
        "{}",
        json!({
            "summary": {
                "backend": if a.database_url.is_some() { "postgres" } else { "sqlite" },
                "organizations": a.orgs, "rounds": a.rounds,
                "median_publish_request_ms": m(&|r| r["publish_request_ms"].as_f64().unwrap_or(f64::NAN)),
                "median_all_delivered_s": m(&|r| r["all_delivered_s"].as_f64().unwrap_or(f64::NAN)),
                "median_p99_latency_ms": m(&|r| r["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN)),
            }
        })
    );
    drop(server);
}
