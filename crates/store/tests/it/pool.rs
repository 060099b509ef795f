//! The connection pool is bounded: many threads share at most the configured number of
//! database connections, wait for one instead of opening more, and lose no write.

use std::sync::Arc;

use hinomi_store::Store;

use crate::backends;

#[test]
fn many_callers_share_a_bounded_number_of_connections() {
    for (name, location) in backends() {
        let store = Arc::new(Store::open(&location).unwrap());
        store.set_max_connections(2);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        store
                            .audit(
                                None,
                                "test.write",
                                Some(&format!("{t}-{i}")),
                                serde_json::json!({}),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (open, peak, max) = store.connection_usage();
        assert_eq!(max, 2, "{name}");
        assert!(peak <= 2, "{name}: {peak} connections were open at once");
        assert!(open <= 2, "{name}");
        let n = store
            .audit_entries(0, 1000)
            .unwrap()
            .iter()
            .filter(|e| e.action == "test.write")
            .count();
        assert_eq!(n, 200, "{name}: every write landed");
        assert_eq!(store.verify_audit_chain().unwrap(), None, "{name}");
    }
}
