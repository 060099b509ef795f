//! `/healthz` latency while hostile members post maximum-size bodies.
//!
//! ```text
//! cargo run --release -p hinomi-hub --example healthz_bench -- [--posters 4] [--seconds 20]
//! ```
//!
//! A hub in this process (SQLite in a temporary directory). `--posters` threads, each
//! with its own member token, post TAXII envelopes as large as `max_content_length`
//! allows (16 MiB): indicators whose audience lists hold the most entries an object may
//! carry (1,000 identities) and patterns of many comparisons, so every body is as
//! expensive to parse and validate as it may be. Another thread asks `/healthz` every
//! 10 ms on fresh connections. Printed: the posters' outcomes and `/healthz` latency
//! p50, p99 and max over the run, as one JSON line.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hinomi_hub::{HubConfig, TestServer};
use hinomi_store::{Location, NewOrganization, OrgKind, Store};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A hostile envelope of about `size` bytes.
fn hostile_body(size: usize, seed: usize) -> String {
    let audience: Vec<String> = (0..1000)
        .map(|i| format!("identity--{:08x}-0000-4000-8000-{:012x}", seed, i))
        .collect();
    let pattern = (0..200)
        .map(|i| format!("[ipv4-addr:value = '198.51.{}.{}']", i / 256, i % 256))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut objects = Vec::new();
    let mut len = 0;
    let mut n = 0;
    while len < size {
        let o = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", seed, n),
            "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
            "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
            "extensions": {"extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd":
                {"extension_type": "property-extension", "audience": audience}},
        })
        .to_string();
        len += o.len() + 1;
        objects.push(o);
        n += 1;
    }
    objects.pop();
    format!("{{\"objects\":[{}]}}", objects.join(","))
}

fn main() {
    let posters = arg("--posters", 4) as usize;
    let seconds = arg("--seconds", 20);
    let dir = std::env::temp_dir().join(format!("hinomi-healthz-bench-{}", std::process::id()));
    let store = Arc::new(Store::open(&Location::Sqlite(dir.join("hinomi.db"))).expect("store"));
    store
        .bootstrap("Coordinator", Some("JP"))
        .expect("bootstrap");
    let config = HubConfig {
        write_rate_per_minute: 0,
        ..HubConfig::default()
    };
    let max = config.max_content_length;
    let server = TestServer::start(store.clone(), config);
    let base = server.url();
    let tokens: Vec<String> = (0..posters)
        .map(|i| {
            let org = store
                .create_organization(
                    &NewOrganization {
                        name: format!("Hostile {i}"),
                        kind: OrgKind::Private,
                        sectors: vec![],
                        country: None,
                    },
                    "bench",
                )
                .expect("org");
            store
                .create_token(&org.id, hinomi_store::Role::Member, None, "bench")
                .expect("token")
                .1
        })
        .collect();
    let bodies: Vec<Arc<String>> = (0..posters)
        .map(|i| Arc::new(hostile_body(max - 4096, i)))
        .collect();
    eprintln!(
        "{posters} posters with {:.1} MiB bodies for {seconds} s",
        bodies[0].len() as f64 / (1 << 20) as f64
    );
    let stop = Arc::new(AtomicBool::new(false));
    let statuses: Arc<std::sync::Mutex<std::collections::BTreeMap<u16, usize>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let url =
        format!("{base}/taxii2/hub/collections/4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60/objects/");
    let workers: Vec<_> = (0..posters)
        .map(|i| {
            let (stop, statuses, sent) = (stop.clone(), statuses.clone(), sent.clone());
            let (url, token, body) = (url.clone(), tokens[i].clone(), bodies[i].clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(300))
                    .build();
                while !stop.load(Ordering::Relaxed) {
                    let r = agent
                        .post(&url)
                        .set("Authorization", &format!("Bearer {token}"))
                        .set("Content-Type", "application/taxii+json;version=2.1")
                        .set("Accept", "application/taxii+json;version=2.1")
                        .send_string(&body);
                    let code = match r {
                        Ok(r) => r.status(),
                        Err(ureq::Error::Status(c, _)) => c,
                        Err(_) => 0,
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    *statuses.lock().unwrap().entry(code).or_default() += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut lat: Vec<f64> = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let t0 = Instant::now();
        let ok = ureq::get(&format!("{base}/healthz"))
            .timeout(Duration::from_secs(60))
            .call()
            .is_ok();
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if ok {
            lat.push(ms);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let out: Value = json!({
        "posters": posters, "body_mib": bodies[0].len() as f64 / (1 << 20) as f64,
        "posts_finished_during_run": sent.load(Ordering::Relaxed),
        "post_statuses": *statuses.lock().unwrap(),
        "healthz_samples": lat.len(),
        "healthz_ms": {"p50": q(0.5), "p99": q(0.99), "max": lat[lat.len() - 1]},
    });
    println!("{out}");
    for w in workers {
        let _ = w.join();
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
