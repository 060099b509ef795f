//! `date_added` follows commit order: a reader polling with `added_after` (as every
//! TAXII client, the federation pull checkpoint and the push cursor do) never misses a
//! row because a transaction that started earlier committed later. Concurrent writers
//! and one polling reader, on every backend: 0 late rows.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use hinomi_access::{Reader, Scope};
use hinomi_stix::{check_object, Timestamp, Tlp};
use hinomi_store::{NewObject, ObjectQuery, Store, VersionFilter, SHARED_COLLECTION};

use crate::{backends, open};

const WRITERS: usize = 4;
const RUN: Duration = Duration::from_secs(3);

fn object(writer: usize, n: usize) -> NewObject {
    let v = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{writer:08x}-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [Tlp::Green.marking_id()]
    });
    NewObject::new(check_object(v).unwrap(), Tlp::Green)
}

/// Every row the reader gets with `added_after` = the newest `date_added` it has seen.
fn poll(store: &Store, scope: &Scope, after: &mut Option<Timestamp>, seen: &mut HashSet<i64>) {
    loop {
        let mut q = ObjectQuery::new(SHARED_COLLECTION, scope);
        q.added_after = *after;
        q.versions = VersionFilter {
            all: true,
            ..VersionFilter::default()
        };
        q.limit = 1000;
        let page = store.query_objects(&q).unwrap();
        for i in &page.items {
            seen.insert(i.pk);
            if after.is_none_or(|a| i.date_added > a) {
                *after = Some(i.date_added);
            }
        }
        if page.items.len() < q.limit {
            return;
        }
    }
}

#[test]
fn polling_readers_never_miss_a_row() {
    for (name, loc) in backends() {
        let store = open(&loc);
        let boot = store.bootstrap("Coordinator", Some("JP")).unwrap();
        let owner = boot.organization.id.clone();
        let scope = Scope::for_reader(&Reader::Organization {
            org_id: owner.clone(),
            kind: hinomi_access::OrgKind::Coordinator,
            audience_keys: vec![boot.organization.identity_id.clone()],
            peer_green: false,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, owner, stop) = (store.clone(), owner.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        // Envelopes of varying size, so transactions overlap unevenly.
                        let batch: Vec<NewObject> = (0..1 + (n % 7) * 5)
                            .map(|i| object(w + 1, n * 64 + i))
                            .collect();
                        store.add_objects(SHARED_COLLECTION, &owner, batch).unwrap();
                        n += 1;
                    }
                })
            })
            .collect();
        let mut after = None;
        let mut seen = HashSet::new();
        let t0 = Instant::now();
        while t0.elapsed() < RUN {
            poll(&store, &scope, &mut after, &mut seen);
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        poll(&store, &scope, &mut after, &mut seen);
        // Everything stored, read once from the start.
        let mut all = HashSet::new();
        poll(&store, &scope, &mut None, &mut all);
        let late = all.difference(&seen).count();
        eprintln!(
            "{name}: {} rows written by {WRITERS} writers in {RUN:?}, {late} late",
            all.len()
        );
        assert!(all.len() > 100, "{name}: the writers barely wrote");
        assert_eq!(late, 0, "{name}: rows the polling reader skipped for good");
    }
}

/// The pull and the push worker record their outcomes on the same row at once: no
/// duplicate-key failure and no lost update, on every backend.
#[test]
fn concurrent_sync_records_lose_nothing() {
    for (name, loc) in backends() {
        let store = open(&loc);
        store.bootstrap("Coordinator", Some("JP")).unwrap();
        let threads: Vec<_> = ["in", "out", "in", "out"]
            .into_iter()
            .map(|dir| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let moved = [("TLP:GREEN".to_string(), 1i64)];
                        store
                            .record_sync("peer-1", dir, Ok(&moved), i)
                            .unwrap_or_else(|e| panic!("{dir}: {e}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let st = store.peer_status("peer-1").unwrap();
        assert_eq!(st.counts["in"]["TLP:GREEN"], 100, "{name}: {}", st.counts);
        assert_eq!(st.counts["out"]["TLP:GREEN"], 100, "{name}: {}", st.counts);
    }
}
