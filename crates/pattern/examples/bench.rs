//! Throughput of the evaluator and the bulk matcher; no criterion, medians of rounds.
//!
//! `cargo run --release -p hinomi-pattern --example bench [N_OBSERVATIONS]`
//!
//! Workload (deterministic):
//! - evaluator: 10 patterns (equality, IN, CIDR, MATCHES, LIKE, references, FOLLOWEDBY
//!   WITHIN, REPEATS, START/STOP) against 20 observed-data of 1–3 SCOs each;
//! - bulk: 100,000 indicators (74% equality on domain/url/ip/hash, 15% ISSUBSET /24,
//!   9% MATCHES/LIKE, 2% order or negated tests that only the type index can find)
//!   against N observations (default 10,000), each matched on its own.

use std::time::Instant;

use hinomi_pattern::bulk::BulkMatcher;
use hinomi_pattern::{Observations, Pattern};
use serde_json::{json, Value};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn observation(rng: &mut Lcg, i: u64) -> Value {
    let t = format!(
        "2024-01-01T{:02}:{:02}:{:02}Z",
        i / 3600 % 24,
        i / 60 % 60,
        i % 60
    );
    let d = rng.below(50_000);
    let mut objects = serde_json::Map::new();
    objects.insert(
        "0".into(),
        json!({"type": "domain-name", "value": format!("host{d}.example.com")}),
    );
    objects.insert(
        "1".into(),
        json!({"type": "ipv4-addr", "value": format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256))}),
    );
    let port = [80, 443, 8080][rng.below(3) as usize];
    objects.insert(
        "2".into(),
        json!({"type": "network-traffic", "dst_ref": "1", "dst_port": port}),
    );
    if rng.below(2) == 0 {
        objects.insert(
            "3".into(),
            json!({"type": "file", "name": format!("f{}.exe", rng.below(1000)),
            "size": rng.below(100_000), "hashes": {"MD5": format!("{:032x}", rng.below(50_000))}}),
        );
    }
    json!({"type": "observed-data", "first_observed": t, "last_observed": t, "number_observed": 1 + rng.below(3),
           "objects": objects})
}

fn indicator(rng: &mut Lcg) -> String {
    let r = |rng: &mut Lcg, n| rng.below(n);
    match rng.below(100) {
        0..=31 => format!(
            "[domain-name:value = 'host{}.example.com']",
            r(rng, 1_000_000)
        ),
        32..=46 => format!(
            "[url:value = 'http://host{}.example.com/x']",
            r(rng, 1_000_000)
        ),
        47..=61 => {
            let (a, b, c) = (r(rng, 256), r(rng, 256), r(rng, 256));
            format!("[ipv4-addr:value = '10.{a}.{b}.{c}']")
        }
        62..=73 => format!("[file:hashes.MD5 = '{:032x}']", r(rng, 1_000_000)),
        74..=88 => {
            let (a, b) = (r(rng, 256), r(rng, 256));
            format!("[ipv4-addr:value ISSUBSET '10.{a}.{b}.0/24']")
        }
        89..=95 => format!(
            "[domain-name:value MATCHES '^host{}[0-9]\\\\.']",
            r(rng, 5_000)
        ),
        96..=97 => format!("[file:name LIKE 'f{}%.exe']", r(rng, 1000)),
        98 => format!(
            "[file:size > {} AND file:name != 'x']",
            99_000 + r(rng, 1000)
        ),
        _ => format!(
            "[network-traffic:dst_port NOT IN (80, 443, {})]",
            r(rng, 10_000)
        ),
    }
}

fn main() {
    let n_obs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut rng = Lcg(1);

    // --- Evaluator -------------------------------------------------------------
    let small: Vec<Value> = (0..20).map(|i| observation(&mut rng, i)).collect();
    let small_set = Observations::from_json(&small).unwrap();
    let patterns: Vec<Pattern> = [
        "[domain-name:value = 'host7.example.com']",
        "[domain-name:value IN ('a.example.com', 'b.example.com', 'host9.example.com')]",
        "[ipv4-addr:value ISSUBSET '10.0.0.0/9']",
        "[domain-name:value MATCHES '^host[0-9]+7\\\\.example']",
        "[file:name LIKE 'f1%.exe']",
        "[network-traffic:dst_ref.value ISSUBSET '10.128.0.0/9' AND network-traffic:dst_port = 443]",
        "([ipv4-addr:value ISSUBSET '10.0.0.0/8'] FOLLOWEDBY [network-traffic:dst_port = 8080]) WITHIN 60 SECONDS",
        "[network-traffic:dst_port = 443] REPEATS 5 TIMES",
        "[file:size > 50000] START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:00:10Z'",
        "[domain-name:value = 'nowhere'] OR [file:hashes.MD5 = '00000000000000000000000000000001']",
    ]
    .iter()
    .map(|p| Pattern::parse(p).unwrap())
    .collect();
    let rounds = 7;
    let per_round = 2_000;
    let mut rates = Vec::new();
    let mut matched = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..per_round {
            if patterns[i % patterns.len()]
                .evaluate(&small_set)
                .unwrap()
                .is_some()
            {
                matched += 1;
            }
        }
        rates.push(per_round as f64 / start.elapsed().as_secs_f64());
    }
    println!(
        "evaluate: {:.0} evaluations/s (median of {rounds} rounds of {per_round}; {} patterns x 20 observations; {} matched)",
        median(rates),
        patterns.len(),
        matched / rounds
    );

    // --- Bulk ------------------------------------------------------------------
    let n_ind = 100_000;
    let texts: Vec<String> = (0..n_ind).map(|_| indicator(&mut rng)).collect();
    let start = Instant::now();
    let parsed: Vec<Pattern> = texts.iter().map(|t| Pattern::parse(t).unwrap()).collect();
    let parse_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut matcher = BulkMatcher::new();
    for (i, p) in parsed.into_iter().enumerate() {
        matcher.insert(format!("indicator--{i}"), p);
    }
    let build_s = start.elapsed().as_secs_f64();
    println!(
        "bulk: parsed {n_ind} indicators in {parse_s:.2}s ({:.0}/s), indexed in {build_s:.2}s",
        n_ind as f64 / parse_s
    );

    let data: Vec<Value> = (0..n_obs).map(|i| observation(&mut rng, i)).collect();
    let set = Observations::from_json(&data).unwrap();
    // Warm-up builds the lazy regex sets.
    let warm: usize = (0..set.len().min(100))
        .map(|i| matcher.match_observation(&set, i).len())
        .sum();
    let mut rates = Vec::new();
    let mut hits = 0;
    for _ in 0..5 {
        let start = Instant::now();
        hits = (0..set.len())
            .map(|i| matcher.match_observation(&set, i).len())
            .sum::<usize>();
        rates.push(set.len() as f64 / start.elapsed().as_secs_f64());
    }
    let candidates: usize = (0..set.len())
        .map(|i| matcher.count_candidates(&set, i))
        .sum();
    println!(
        "bulk: {:.0} observations/s (median of 5 rounds; {n_ind} indicators x {n_obs} observations; \
         {hits} hits, {:.1} candidates verified per observation; warm-up {warm} hits)",
        median(rates),
        candidates as f64 / set.len() as f64
    );

    // Peer measured in the same run: every indicator evaluated on a few observations.
    let sample = 3.min(set.len());
    let start = Instant::now();
    let naive_hits: usize = (0..sample)
        .map(|i| matcher.match_observation_naive(&set, i).len())
        .sum();
    let naive_rate = sample as f64 / start.elapsed().as_secs_f64();
    let fast_hits: usize = (0..sample)
        .map(|i| matcher.match_observation(&set, i).len())
        .sum();
    assert_eq!(naive_hits, fast_hits);
    println!(
        "naive: {naive_rate:.2} observations/s (every indicator evaluated; {sample} observations)"
    );
}
