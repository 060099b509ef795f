//! Prometheus counters kept in atomics and rendered as text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hinomi_stix::Tlp;

const BUCKETS_MS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// The hub's metrics.
#[derive(Default)]
pub struct Metrics {
    requests_by_class: [AtomicU64; 6],
    latency_buckets: [AtomicU64; BUCKETS_MS.len()],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    objects_added: [AtomicU64; 5],
    objects_duplicate: AtomicU64,
    objects_refused: AtomicU64,
    objects_served: AtomicU64,
    warnings_published: AtomicU64,
    deliveries_enqueued: AtomicU64,
    deliveries_ok: [AtomicU64; 2],
    deliveries_failed: [AtomicU64; 2],
    deliveries_dead: [AtomicU64; 2],
    delivery_latency_us: AtomicU64,
    /// (peer, direction, TLP label) → objects.
    federation_objects: std::sync::Mutex<std::collections::BTreeMap<(String, String, String), u64>>,
    /// (peer, direction) → last success (Unix seconds).
    federation_last: std::sync::Mutex<std::collections::BTreeMap<(String, String), f64>>,
    federation_errors: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Delivery channels, as metric label values.
const CHANNELS: [&str; 2] = ["webhook", "email"];

impl Metrics {
    pub fn observe_request(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).min(5);
        self.requests_by_class[class].fetch_add(1, Relaxed);
        let ms = elapsed.as_millis() as u64;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.latency_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.latency_sum_us
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }

    pub fn objects_added(&self, tlp: Tlp) {
        self.objects_added[tlp as usize].fetch_add(1, Relaxed);
    }

    pub fn objects_duplicate(&self, n: u64) {
        self.objects_duplicate.fetch_add(n, Relaxed);
    }

    pub fn objects_refused(&self, n: u64) {
        self.objects_refused.fetch_add(n, Relaxed);
    }

    pub fn objects_served(&self, n: u64) {
        self.objects_served.fetch_add(n, Relaxed);
    }

    pub fn warning_published(&self, deliveries: u64) {
        self.warnings_published.fetch_add(1, Relaxed);
        self.deliveries_enqueued.fetch_add(deliveries, Relaxed);
    }

    /// One delivery attempt on `channel`: ok, failed (will retry) or dead.
    pub fn delivery(&self, channel: &str, ok: bool, dead: bool, elapsed: Duration) {
        let i = usize::from(channel == "email");
        let c = if ok {
            &self.deliveries_ok[i]
        } else if dead {
            &self.deliveries_dead[i]
        } else {
            &self.deliveries_failed[i]
        };
        c.fetch_add(1, Relaxed);
        self.delivery_latency_us
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// A successful pull (`in`) or push (`out`) with the objects moved by TLP label.
    pub fn federation(&self, peer: &str, direction: &str, moved: &[(String, i64)]) {
        let mut m = self
            .federation_objects
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (tlp, n) in moved {
            *m.entry((peer.to_string(), direction.to_string(), tlp.clone()))
                .or_default() += *n as u64;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.federation_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((peer.to_string(), direction.to_string()), now);
    }

    pub fn federation_error(&self, peer: &str) {
        *self
            .federation_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(peer.to_string())
            .or_default() += 1;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP hinomi_build_info Version of the running hub.\n# TYPE hinomi_build_info gauge\nhinomi_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(s, "# HELP hinomi_http_requests_total HTTP requests by status class.\n# TYPE hinomi_http_requests_total counter");
        for (i, c) in self.requests_by_class.iter().enumerate().skip(1) {
            let _ = writeln!(
                s,
                "hinomi_http_requests_total{{class=\"{i}xx\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP hinomi_http_request_duration_seconds Request latency.\n# TYPE hinomi_http_request_duration_seconds histogram");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                s,
                "hinomi_http_request_duration_seconds_bucket{{le=\"{}\"}} {}",
                *b as f64 / 1000.0,
                self.latency_buckets[i].load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "hinomi_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "hinomi_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "hinomi_http_request_duration_seconds_count {count}");
        let _ = writeln!(s, "# HELP hinomi_objects_ingested_total STIX object versions stored, by TLP.\n# TYPE hinomi_objects_ingested_total counter");
        for t in Tlp::ALL {
            let _ = writeln!(
                s,
                "hinomi_objects_ingested_total{{tlp=\"{}\"}} {}",
                t.label(),
                self.objects_added[t as usize].load(Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP hinomi_objects_duplicate_total Submitted versions that were already stored.\n# TYPE hinomi_objects_duplicate_total counter\nhinomi_objects_duplicate_total {}", self.objects_duplicate.load(Relaxed));
        let _ = writeln!(s, "# HELP hinomi_objects_refused_total Submitted objects refused (invalid or not allowed).\n# TYPE hinomi_objects_refused_total counter\nhinomi_objects_refused_total {}", self.objects_refused.load(Relaxed));
        let _ = writeln!(s, "# HELP hinomi_objects_served_total Object versions returned by reads.\n# TYPE hinomi_objects_served_total counter\nhinomi_objects_served_total {}", self.objects_served.load(Relaxed));
        let _ = writeln!(s, "# HELP hinomi_warnings_published_total Warning versions published (exercises excluded).\n# TYPE hinomi_warnings_published_total counter\nhinomi_warnings_published_total {}", self.warnings_published.load(Relaxed));
        let _ = writeln!(s, "# HELP hinomi_deliveries_enqueued_total Deliveries put in the outbox (exercises excluded).\n# TYPE hinomi_deliveries_enqueued_total counter\nhinomi_deliveries_enqueued_total {}", self.deliveries_enqueued.load(Relaxed));
        let _ = writeln!(s, "# HELP hinomi_delivery_attempts_total Delivery attempts by channel and outcome.\n# TYPE hinomi_delivery_attempts_total counter");
        for (i, ch) in CHANNELS.iter().enumerate() {
            for (outcome, c) in [
                ("delivered", &self.deliveries_ok[i]),
                ("failed", &self.deliveries_failed[i]),
                ("dead", &self.deliveries_dead[i]),
            ] {
                let _ = writeln!(
                    s,
                    "hinomi_delivery_attempts_total{{channel=\"{ch}\",outcome=\"{outcome}\"}} {}",
                    c.load(Relaxed)
                );
            }
        }
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(s, "# HELP hinomi_federation_objects_total Objects received from (in) and sent to (out) peer hubs, by TLP.\n# TYPE hinomi_federation_objects_total counter");
        for ((peer, dir, tlp), n) in self
            .federation_objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(s, "hinomi_federation_objects_total{{peer=\"{}\",direction=\"{dir}\",tlp=\"{tlp}\"}} {n}", esc(peer));
        }
        let _ = writeln!(s, "# HELP hinomi_federation_last_success_seconds Unix time of the last successful pull (in) or push (out).\n# TYPE hinomi_federation_last_success_seconds gauge");
        for ((peer, dir), t) in self
            .federation_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "hinomi_federation_last_success_seconds{{peer=\"{}\",direction=\"{dir}\"}} {t}",
                esc(peer)
            );
        }
        let _ = writeln!(s, "# HELP hinomi_federation_errors_total Failed pulls and pushes by peer.\n# TYPE hinomi_federation_errors_total counter");
        for (peer, n) in self
            .federation_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "hinomi_federation_errors_total{{peer=\"{}\"}} {n}",
                esc(peer)
            );
        }
        let _ = writeln!(s, "# HELP hinomi_delivery_attempt_seconds_total Time spent in delivery attempts.\n# TYPE hinomi_delivery_attempt_seconds_total counter\nhinomi_delivery_attempt_seconds_total {}", self.delivery_latency_us.load(Relaxed) as f64 / 1e6);
        s
    }
}
