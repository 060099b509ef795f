//! Federation benchmark: replication between two hubs on loopback, and push lag under
//! continuous ingest.
//!
//! ```text
//! cargo run --release -p hinomi-hub --example federation_bench -- \
//!     [--objects 100000] [--ingest-seconds 20] [--rate 1000] [--database-url postgres://…]
//! ```
//!
//! Three hubs in this process (SQLite in temporary directories, or one fresh PostgreSQL
//! database each, `hinomi_bench_…`, left for inspection: drop them afterwards), each over
//! real HTTP on loopback. Setup (not timed): a member of the origin
//! hub stores N TLP:GREEN indicators (envelopes of 1,000).
//!
//! 1. **Pull**: the receiving hub's worker pulls the origin's shared collection (pages
//!    of 1,000, `added_after` checkpoints) from the moment the peer is registered;
//!    objects/s is N over the time until all N are stored (polled every 100 ms).
//! 2. **Push**: the origin pushes the same N objects to a third hub (envelopes of 1,000).
//! 3. **Lag**: a member posts `--rate` objects/s (envelopes of 100) for
//!    `--ingest-seconds`; the origin pushes as it goes (its worker wakes on each write).
//!    Per object, lag = date_added at the receiver − date_added at the origin (both
//!    hubs share this machine's clock). Prints p50, p99 and max.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hinomi_hub::{HubConfig, TestServer};
use hinomi_store::{Location, ObjectQuery, Scope, Store, FEDERATION_COLLECTION, SHARED_COLLECTION};

const TAXII: &str = "application/taxii+json;version=2.1";

struct Args {
    objects: usize,
    ingest_seconds: u64,
    rate: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        objects: 100_000,
        ingest_seconds: 20,
        rate: 1000,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--objects" => a.objects = v.parse().expect("--objects N"),
            "--ingest-seconds" => a.ingest_seconds = v.parse().expect("--ingest-seconds N"),
            "--rate" => a.rate = v.parse().expect("--rate N"),
            "--database-url" => a.database_url = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn location(url: &Option<String>) -> Location {
    match url {
        Some(url) => {
            // A database per hub, as separate deployments would have (LISTEN/NOTIFY is
            // per database: hubs sharing one would hear each other's indicator changes).
            let db = format!("hinomi_bench_{}", uuid::Uuid::new_v4().simple());
            let mut c =
                postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL");
            c.batch_execute(&format!("CREATE DATABASE {db}"))
                .expect("create database");
            let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
            Location::Postgres(format!("{base}/{db}"))
        }
        None => Location::Sqlite(
            std::env::temp_dir()
                .join(format!("hinomi-fedbench-{}", uuid::Uuid::new_v4().simple()))
                .join("hinomi.db"),
        ),
    }
}

struct Node {
    server: TestServer,
    store: Arc<Store>,
    admin: String,
    identity: String,
}

fn node(url: &Option<String>) -> Node {
    let store = Arc::new(Store::open(&location(url)).expect("open the store"));
    let boot = store
        .bootstrap("Coordinator", Some("JP"))
        .expect("bootstrap");
    let config = HubConfig {
        outbound: hinomi_hub::outbound::OutboundPolicy::lab(),
        write_rate_per_minute: 0,
        ..HubConfig::default()
    };
    let server = TestServer::start(store.clone(), config);
    Node {
        server,
        store,
        admin: boot.token,
        identity: boot.organization.identity_id,
    }
}

fn call(agent: &ureq::Agent, method: &str, url: &str, token: &str, body: Option<Value>) -> Value {
    let r = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {token}"));
    let r = match body {
        Some(b) => r
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => r.call(),
    };
    match r {
        Ok(r) => r.into_json().unwrap_or(Value::Null),
        Err(ureq::Error::Status(c, r)) => panic!(
            "{method} {url}: {c} {}",
            r.into_string().unwrap_or_default()
        ),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn indicator(i: usize) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", i >> 16, i),
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "name": format!("Malicious address {i}"), "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    })
}

/// Registers `other` at `at`: returns (peer id, token `other` uses at `at`).
fn register(
    agent: &ureq::Agent,
    at: &Node,
    other: &Node,
    name: &str,
    direction: &str,
    token: Option<&str>,
) -> (String, String) {
    let mut body = json!({
        "name": name, "identity_id": other.identity, "api_root": format!("{}/taxii2/hub/", other.server.url()),
        "direction": direction, "pull_collections": [SHARED_COLLECTION], "push_collection": FEDERATION_COLLECTION,
        "agreement": {"green": true, "one_community": true, "exported_collections": ["shared"]},
    });
    if let Some(t) = token {
        body["token"] = json!(t);
    }
    let v = call(
        agent,
        "POST",
        &format!("{}/api/v1/peers", at.server.url()),
        &at.admin,
        Some(body),
    );
    (
        v["id"].as_str().unwrap().into(),
        v["token"].as_str().unwrap().into(),
    )
}

fn member(agent: &ureq::Agent, n: &Node) -> String {
    let base = n.server.url();
    let org = call(
        agent,
        "POST",
        &format!("{base}/api/v1/organizations"),
        &n.admin,
        Some(json!({"name": "Member", "kind": "government"})),
    );
    let t = call(
        agent,
        "POST",
        &format!(
            "{base}/api/v1/organizations/{}/tokens",
            org["id"].as_str().unwrap()
        ),
        &n.admin,
        Some(json!({"role": "member"})),
    );
    t["token"].as_str().unwrap().to_string()
}

fn post(agent: &ureq::Agent, n: &Node, token: &str, objs: Vec<Value>) {
    let r = agent
        .post(&format!(
            "{}/taxii2/hub/collections/{SHARED_COLLECTION}/objects/",
            n.server.url()
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Accept", TAXII)
        .set("Content-Type", TAXII)
        .send_string(&json!({ "objects": objs }).to_string())
        .expect("post");
    assert_eq!(r.status(), 202);
}

/// date_added of every object (by id) in a collection, as the coordinator reads it.
fn added(
    store: &Store,
    coordinator: &str,
    collection: &str,
) -> std::collections::HashMap<String, i64> {
    let org = store.organization(coordinator).expect("coordinator");
    let scope = Scope::for_reader(&hinomi_access::Reader::Organization {
        org_id: org.id.clone(),
        kind: org.kind,
        audience_keys: vec![org.identity_id.clone()],
        peer_green: false,
    });
    let mut out = std::collections::HashMap::new();
    let mut q = ObjectQuery::new(collection, &scope);
    q.limit = 10_000;
    loop {
        let page = store.query_objects(&q).expect("query");
        for i in &page.items {
            out.insert(i.stix_id.clone(), i.date_added.micros());
        }
        match page.next {
            Some(n) if page.more => q.after = Some(n),
            _ => break,
        }
    }
    out
}

/// Objects in the federation collection (one COUNT, cheap enough to poll).
fn count(store: &Store) -> usize {
    store
        .backlog(FEDERATION_COLLECTION, 0)
        .map(|(n, _)| n as usize)
        .unwrap_or(0)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let a = args();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(600))
        .build();
    let (origin, receiver, third) = (
        node(&a.database_url),
        node(&a.database_url),
        node(&a.database_url),
    );
    let m = member(&agent, &origin);
    let t = Instant::now();
    for start in (0..a.objects).step_by(1000) {
        post(
            &agent,
            &origin,
            &m,
            (start..(start + 1000).min(a.objects))
                .map(indicator)
                .collect(),
        );
    }
    eprintln!(
        "setup: {} objects at the origin in {:.1} s",
        a.objects,
        t.elapsed().as_secs_f64()
    );
    let origin_coord = origin.store.coordinator().unwrap().unwrap().id;

    // 1. Pull: the receiver's worker pulls as soon as the peer exists.
    let (_, tok_recv_at_origin) = register(&agent, &origin, &receiver, "receiver", "pull", None);
    let recv_coord = receiver.store.coordinator().unwrap().unwrap().id;
    let t = Instant::now();
    register(
        &agent,
        &receiver,
        &origin,
        "origin",
        "pull",
        Some(&tok_recv_at_origin),
    );
    loop {
        let n = count(&receiver.store);
        if n >= a.objects || t.elapsed() > Duration::from_secs(600) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pull_s = t.elapsed().as_secs_f64();
    let pulled = added(&receiver.store, &recv_coord, FEDERATION_COLLECTION).len();

    // 2. Push to a third hub.
    let (_, tok_origin_at_third) = register(&agent, &third, &origin, "origin", "push", None);
    let t = Instant::now();
    let (push_peer, _) = register(
        &agent,
        &origin,
        &third,
        "third",
        "push",
        Some(&tok_origin_at_third),
    );
    // The origin's worker starts pushing as soon as the peer exists; wait until all landed.
    let third_coord = third.store.coordinator().unwrap().unwrap().id;
    loop {
        let n = count(&third.store);
        if n >= a.objects || t.elapsed() > Duration::from_secs(600) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let push_s = t.elapsed().as_secs_f64();
    let pushed = added(&third.store, &third_coord, FEDERATION_COLLECTION).len();

    // 3. Lag under continuous ingest (origin → third, pushed by the worker).
    let before: std::collections::HashSet<String> =
        added(&origin.store, &origin_coord, SHARED_COLLECTION)
            .into_keys()
            .collect();
    let per_envelope = 100usize;
    let envelopes_per_s = (a.rate / per_envelope).max(1);
    let t = Instant::now();
    let mut i = a.objects;
    while t.elapsed() < Duration::from_secs(a.ingest_seconds) {
        let tick = Instant::now();
        for _ in 0..envelopes_per_s {
            post(
                &agent,
                &origin,
                &m,
                (i..i + per_envelope).map(indicator).collect(),
            );
            i += per_envelope;
        }
        let spent = tick.elapsed();
        if spent < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_secs(1) - spent);
        }
    }
    let ingested = i - a.objects;
    let wait = Instant::now();
    loop {
        let n = count(&third.store);
        if n >= a.objects + ingested || wait.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let at_origin = added(&origin.store, &origin_coord, SHARED_COLLECTION);
    let at_third = added(&third.store, &third_coord, FEDERATION_COLLECTION);
    let mut lags: Vec<f64> = at_origin
        .iter()
        .filter(|(id, _)| !before.contains(*id) && id.starts_with("indicator--"))
        .filter_map(|(id, t0)| at_third.get(id).map(|t1| (t1 - t0) as f64 / 1000.0))
        .collect();
    lags.sort_by(f64::total_cmp);
    let status = call(
        &agent,
        "GET",
        &format!("{}/api/v1/peers/{push_peer}", origin.server.url()),
        &origin.admin,
        None,
    );
    println!(
        "{}",
        json!({
            "backend": if a.database_url.is_some() { "postgres" } else { "sqlite" },
            "objects": a.objects,
            "pull": {"objects": pulled, "seconds": (pull_s * 100.0).round() / 100.0, "objects_per_s": (pulled as f64 / pull_s).round()},
            "push": {"objects": pushed, "seconds": (push_s * 100.0).round() / 100.0, "objects_per_s": (pushed as f64 / push_s).round()},
            "lag": {"ingested": ingested, "rate_per_s": a.rate, "arrived": lags.len(),
                    "p50_ms": percentile(&lags, 0.5).round(), "p99_ms": percentile(&lags, 0.99).round(), "max_ms": percentile(&lags, 1.0).round()},
            "push_status": status["status"],
        })
    );
}
