//! Correlation benchmark: the posting-list index at ten million values.
//!
//! ```text
//! cargo run --release -p hinomi-hub --example correlation_bench -- \
//!     [--objects 1000000] [--values-per-object 10] [--distinct 2000000] \
//!     [--queries 50] [--database-url postgres://…]
//! ```
//!
//! Setup (timed, reported): ten member organizations store
//! `--objects` indicators in the shared collection, each with a pattern of
//! `--values-per-object` IPv4 addresses OR'ed together, drawn from `--distinct` values
//! (so each value occurs about objects × values-per-object / distinct times), and one
//! object in five also holds one hot value (9.9.9.9, like a public resolver); half are
//! TLP:GREEN (every member reads them), half TLP:AMBER+STRICT (their owner and the
//! coordinator only). They are stored without postings; phase 1 indexes them. SQLite lives in a temporary directory; PostgreSQL gets a fresh
//! schema `hinomi_bench_…` (drop it afterwards; `.ci/run` does), analyzed after the
//! load as autovacuum would.
//!
//! 1. **Rebuild**: the whole index built from the stored objects (every pattern parsed
//!    again), as `hinomi admin correlation rebuild` does: objects × values-per-object
//!    postings (ten million by default).
//! 2. **Correlate**: a new report's 100 observables (50 values already in the index,
//!    49 new, and the hot value) correlated through the hub's service, with the access rule applied in
//!    the query, as a member and as the coordinator: median, p90 and max over
//!    `--queries` runs, each with fresh values.
//! 3. **Write**: 20 writes of 100 indicators (1,000 values) with the index at full
//!    size, each indexing its values in its own transaction as every write path does.
//!
//! Prints one JSON line per figure and a summary line.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use hinomi_access::OrgKind;
use hinomi_hub::service::{correlation, Viewer};
use hinomi_hub::{AppState, HubConfig};
use hinomi_stix::{check_object, Tlp};
use hinomi_store::{Location, NewObject, NewOrganization, Role, Store, SHARED_COLLECTION};

mod common;
use common::{bench_location, percentile};

/// The value one object in five holds.
const HOT: &str = "9.9.9.9";

struct Args {
    objects: usize,
    per_object: usize,
    distinct: usize,
    queries: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        objects: 1_000_000,
        per_object: 10,
        distinct: 2_000_000,
        queries: 50,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--objects" => a.objects = v.parse().expect("--objects N"),
            "--values-per-object" => a.per_object = v.parse().expect("--values-per-object N"),
            "--distinct" => a.distinct = v.parse().expect("--distinct N"),
            "--queries" => a.queries = v.parse().expect("--queries N"),
            "--database-url" => a.database_url = Some(v),
            "--help" | "-h" => {
                eprintln!("usage: correlation_bench [--objects N] [--values-per-object N] [--distinct N] [--queries N] [--database-url URL]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (try --help)"),
        }
    }
    a
}

/// The n-th distinct address: 10.0.0.0/8 and then 11.0.0.0/8, …
fn address(n: usize) -> String {
    let n = n as u32;
    format!(
        "{}.{}.{}.{}",
        10 + (n >> 24),
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

fn main() {
    let a = args();
    let location = bench_location(a.database_url.as_deref(), "corrbench");
    let backend = if a.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let store = Arc::new(Store::open(&location).expect("open the store"));
    let boot = store
        .bootstrap("Coordinator", Some("JP"))
        .expect("bootstrap");
    let mut members = Vec::new();
    for i in 0..10 {
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
        let (_, token) = store
            .create_token(&o.id, Role::Member, None, &boot.organization.id)
            .expect("token");
        members.push((o, token));
    }

    // Load.
    let started = Instant::now();
    let batch = 1000;
    let mut next = 0usize;
    let mut stored = 0usize;
    while stored < a.objects {
        let n = batch.min(a.objects - stored);
        let (owner, _) = &members[(stored / batch) % members.len()];
        let mut objects = Vec::with_capacity(n);
        for i in 0..n {
            let k = stored + i;
            let mut terms: Vec<String> = (0..a.per_object)
                .map(|_| {
                    let v = address(next.wrapping_mul(7919) % a.distinct);
                    next += 1;
                    format!("ipv4-addr:value = '{v}'")
                })
                .collect();
            if k.is_multiple_of(5) {
                // A value everyone sees everywhere (a public resolver): one object in
                // five holds it.
                terms[0] = format!("ipv4-addr:value = '{HOT}'");
            }
            let tlp = if k.is_multiple_of(2) {
                Tlp::Green
            } else {
                Tlp::AmberStrict
            };
            let v = json!({"type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z",
                "created_by_ref": owner.identity_id,
                "pattern": format!("[{}]", terms.join(" OR ")), "pattern_type": "stix",
                "valid_from": "2026-12-01T00:00:00Z",
                "object_marking_refs": [tlp.marking_id()]});
            let checked = check_object(v).expect("a valid indicator");
            // Indexed by the rebuild below (phase 1), not here.
            objects.push(NewObject::new(checked, tlp));
        }
        store
            .add_objects(SHARED_COLLECTION, &owner.id, objects)
            .expect("store a batch");
        stored += n;
        if stored.is_multiple_of(100_000) || stored == a.objects {
            eprintln!(
                "loaded {stored} objects ({} values) in {:.1} s",
                stored * a.per_object,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let load_s = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"figure": "load-objects", "backend": backend, "objects": a.objects,
            "seconds": (load_s * 10.0).round() / 10.0})
    );
    let state = AppState::new(store.clone(), HubConfig::default()).expect("state");

    // Rebuild: the whole index from the stored objects.
    let t = Instant::now();
    let mut last = Instant::now();
    let (objects, postings) = correlation::rebuild(&state, &mut |n| {
        if last.elapsed().as_secs() >= 10 {
            eprintln!(
                "rebuilt from {n} objects in {:.0} s",
                t.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    })
    .expect("rebuild");
    let rebuild_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"figure": "rebuild", "backend": backend, "objects": objects, "postings": postings,
            "seconds": (rebuild_s * 10.0).round() / 10.0})
    );

    if let Location::Postgres(url) = &location {
        // What autovacuum does on its own a little later: planner statistics for the
        // loaded tables.
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        c.batch_execute("ANALYZE").expect("analyze");
    }

    // Correlate.
    let member = Viewer::of(
        &store,
        store.authenticate(&members[3].1).expect("authenticate"),
    )
    .expect("member viewer");
    let coordinator = Viewer::of(
        &store,
        store.authenticate(&boot.token).expect("authenticate"),
    )
    .expect("coordinator viewer");
    let mut summary = json!({"backend": backend, "postings": postings});
    for (name, who) in [("member", &member), ("coordinator", &coordinator)] {
        let mut times = Vec::new();
        let mut hits = 0usize;
        for q in 0..a.queries {
            let mut values: Vec<String> = (0..50)
                .map(|i| format!("ipv4-addr:{}", address((q * 50 + i) * 104_729 % a.distinct)))
                .collect();
            values.extend((0..49).map(|i| format!("ipv4-addr:192.0.{}.{}", q % 250, i)));
            values.push(format!("ipv4-addr:{HOT}"));
            let t = Instant::now();
            let v = correlation::correlate(&state, who, &values, &[]).expect("correlate");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            hits += v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|x| x["reports"].as_u64().unwrap_or(0) > 0 || x["common"] == true)
                        .count()
                })
                .unwrap_or(0);
        }
        times.sort_by(f64::total_cmp);
        let line = json!({"figure": "correlate-100", "backend": backend, "as": name,
            "queries": a.queries, "values_with_hits_per_query": hits as f64 / a.queries as f64,
            "ms": {"p50": percentile(&times, 0.5), "p90": percentile(&times, 0.9), "max": percentile(&times, 1.0)}});
        println!("{line}");
        summary[format!("correlate_100_{name}_p50_ms")] = json!(percentile(&times, 0.5));
    }

    summary["rebuild_s"] = json!((rebuild_s * 10.0).round() / 10.0);

    // Writes with the index at full size: each write indexes its own values in its
    // transaction (batches of 100 objects, as TAXII envelopes come).
    let (owner, _) = &members[0];
    let mut times = Vec::new();
    for b in 0..20 {
        let objects: Vec<NewObject> = (0..100)
            .map(|i| {
                let terms: Vec<String> = (0..a.per_object)
                    .map(|j| {
                        format!(
                            "ipv4-addr:value = '{}'",
                            address((b * 1000 + i * 10 + j) * 31 % a.distinct)
                        )
                    })
                    .collect();
                let v = json!({"type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                    "created": "2026-12-02T00:00:00.000Z", "modified": "2026-12-02T00:00:00.000Z",
                    "created_by_ref": owner.identity_id,
                    "pattern": format!("[{}]", terms.join(" OR ")), "pattern_type": "stix",
                    "valid_from": "2026-12-02T00:00:00Z",
                    "object_marking_refs": [Tlp::Green.marking_id()]});
                let values = correlation::values_of(&v);
                NewObject::new(check_object(v).expect("valid"), Tlp::Green)
                    .with_observables(values, None)
            })
            .collect();
        let t = Instant::now();
        store
            .add_objects(SHARED_COLLECTION, &owner.id, objects)
            .expect("store");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let p50 = percentile(&times, 0.5);
    println!(
        "{}",
        json!({"figure": "write-100-indexed", "backend": backend, "values_per_write": 100 * a.per_object,
            "ms": {"p50": p50, "max": percentile(&times, 1.0)},
            "objects_per_s": (100.0 / (p50 / 1000.0)).round()})
    );
    summary["write_100_objects_p50_ms"] = json!(p50);
    println!("{}", json!({ "summary": summary }));
}
