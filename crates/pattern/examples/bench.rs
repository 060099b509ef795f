//! Throughput of the evaluator and the bulk matcher; no criterion, medians of rounds.
//!
//! `cargo run --release -p hinomi-pattern --example bench -- [N_OBSERVATIONS] [--export FILE]`
//!
//! Workload (deterministic, LCG seed 1):
//! - evaluator: 12 patterns (equality, IN, CIDR, MATCHES, LIKE, AND/OR, a reference)
//!   against 200 observed-data of 2–5 SCOs, each pattern against each observed-data on
//!   its own (`Pattern::evaluate` on a one-element set, the streaming unit);
//!   `--export FILE` writes exactly these patterns and observed-data for
//!   `bench/stix2_matcher_peer.py`, which times stix2-matcher on them;
//! - bulk: 100,000 indicators, a realistic feed mix (see `indicator`): 30% domain, 14% URL,
//!   14% IPv4, 12% file hash equality, 14% ISSUBSET (/16–/32), 1% MATCHES, 1% LIKE,
//!   8% AND/OR of those, 1% numeric range, 5 per mille genuinely unindexable
//!   (`NOT LIKE`, `NOT MATCHES`, `NOT IN`: only "path present" finds them; rarely true,
//!   like real feed patterns), against N observations
//!   (default 1,000,000) generated in batches of 10,000, each matched on its own.
//!   `FALLBACK_PER_MILLE=20` in the environment raises the fallback share to 2%;
//!   `MULTI_PER_CENT=10` makes 10% of them two-stage patterns
//!   (`([domain] FOLLOWEDBY [ipv4]) WITHIN 600 SECONDS`);
//! - `--export-stream DIR` writes those indicators and N observations as
//!   `DIR/indicators.jsonl` and `DIR/observations.jsonl` for `hinomi match`, and stops.

use std::time::Instant;

use hinomi_pattern::bulk::{BulkMatcher, Scratch};
use hinomi_pattern::{Observations, ObservationsBuilder, Pattern};
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

/// The best of the rates: on a shared machine, the least disturbed batch.
fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
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
    let d = rng.below(2_000_000);
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
        json!({"type": "network-traffic", "dst_ref": "1", "dst_port": port, "protocols": ["ipv4", "tcp"]}),
    );
    if rng.below(3) == 0 {
        objects.insert(
            "3".into(),
            json!({"type": "url", "value": format!("http://host{}.example.com/x", rng.below(2_000_000))}),
        );
    }
    if rng.below(4) == 0 {
        objects.insert(
            "4".into(),
            json!({"type": "file", "name": format!("f{}.exe", rng.below(1000)),
            "size": rng.below(100_000), "hashes": {"MD5": format!("{:032x}", rng.below(2_000_000))}}),
        );
    }
    json!({"type": "observed-data", "id": format!("observed-data--00000000-0000-4000-8000-{i:012}"),
           "spec_version": "2.1", "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
           "first_observed": t, "last_observed": t, "number_observed": 1 + rng.below(3),
           "objects": objects})
}

fn indicator(rng: &mut Lcg, fallback_per_mille: u64, multi_per_cent: u64) -> String {
    let r = |rng: &mut Lcg, n| rng.below(n);
    if multi_per_cent > 0 && r(rng, 100) < multi_per_cent {
        // Two stages of an intrusion: a lookup, then traffic to an address.
        return format!(
            "([domain-name:value = 'host{}.example.com'] FOLLOWEDBY [ipv4-addr:value = '10.{}.{}.{}']) WITHIN 600 SECONDS",
            r(rng, 2_000_000),
            r(rng, 256),
            r(rng, 256),
            r(rng, 256)
        );
    }
    let ip = |rng: &mut Lcg| {
        format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        )
    };
    if r(rng, 1000) < fallback_per_mille {
        // Unindexable (only "the property is present" finds them) and, like real feed
        // patterns, rarely true: each costs an evaluation per observation with the path.
        return match r(rng, 3) {
            0 => format!("[file:name NOT LIKE 'f%.exe' AND file:size < {}]", r(rng, 10)),
            1 => format!(
                "[domain-name:value NOT MATCHES '\\\\.example\\\\.com$' AND domain-name:value != 'h{}']",
                r(rng, 1000)
            ),
            _ => format!(
                "[network-traffic:dst_port NOT IN (80, 443, 8080) AND network-traffic:dst_port != {}]",
                r(rng, 10_000)
            ),
        };
    }
    match rng.below(100) {
        0..=29 => format!("[domain-name:value = 'host{}.example.com']", r(rng, 1_000_000)),
        30..=43 => format!("[url:value = 'http://host{}.example.com/x']", r(rng, 1_000_000)),
        44..=57 => format!("[ipv4-addr:value = '{}']", ip(rng)),
        58..=63 => format!("[file:hashes.MD5 = '{:032x}']", r(rng, 1_000_000)),
        64..=69 => format!("[file:hashes.'SHA-256' = '{:064x}']", r(rng, 1_000_000)),
        70..=83 => {
            let prefix = 16 + r(rng, 17);
            let net = ((10u64 << 24) | (r(rng, 1 << 24))) >> (32 - prefix) << (32 - prefix);
            let [a, b, c, d] = (net as u32).to_be_bytes();
            format!("[ipv4-addr:value ISSUBSET '{a}.{b}.{c}.{d}/{prefix}']")
        }
        84 => format!("[domain-name:value MATCHES '^host{}[0-9]\\\\.']", r(rng, 100_000)),
        85 => format!("[file:name LIKE 'f{}%.exe']", r(rng, 1000)),
        86..=88 => format!(
            "[network-traffic:dst_ref.value = '{}' AND network-traffic:dst_port = {}]",
            ip(rng),
            [80, 443, 8080][r(rng, 3) as usize]
        ),
        89..=91 => format!(
            "[file:hashes.MD5 = '{:032x}' OR file:hashes.'SHA-256' = '{:064x}']",
            r(rng, 1_000_000),
            r(rng, 1_000_000)
        ),
        92..=93 => format!(
            "[domain-name:value = 'host{}.example.com'] OR [url:value = 'http://host{}.example.com/x']",
            r(rng, 1_000_000),
            r(rng, 1_000_000)
        ),
        94 => format!(
            "[file:size > {} AND file:name LIKE '%.exe']",
            99_000 + r(rng, 1000)
        ),
        _ => format!(
            "[domain-name:value IN ('host{}.example.com', 'host{}.example.com', 'host{}.example.com')]",
            r(rng, 1_000_000),
            r(rng, 1_000_000),
            r(rng, 1_000_000)
        ),
    }
}

const EVAL_PATTERNS: &[&str] = &[
    "[domain-name:value = 'host7.example.com']",
    "[domain-name:value IN ('a.example.com', 'b.example.com', 'host9.example.com')]",
    "[ipv4-addr:value = '10.1.2.3']",
    "[ipv4-addr:value ISSUBSET '10.0.0.0/9']",
    "[network-traffic:dst_ref.value ISSUBSET '10.128.0.0/9' AND network-traffic:dst_port = 443]",
    "[domain-name:value MATCHES '^host[0-9]+7\\\\.example']",
    "[file:name LIKE 'f1%.exe']",
    "[file:hashes.MD5 = '0000000000000000000000000000abcd' OR file:size > 90000]",
    "[url:value = 'http://host1.example.com/x' OR domain-name:value = 'host1.example.com']",
    "[network-traffic:dst_port = 8080 AND network-traffic:protocols[*] = 'tcp']",
    "[domain-name:value = 'nowhere'] OR [ipv4-addr:value ISSUBSET '10.200.0.0/16']",
    "[file:size >= 50000 AND file:name MATCHES '^f[0-9]+\\\\.exe$']",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let export = args
        .iter()
        .position(|a| a == "--export")
        .and_then(|i| args.get(i + 1).cloned());
    let export_stream = args
        .iter()
        .position(|a| a == "--export-stream")
        .and_then(|i| args.get(i + 1).cloned());
    let n_obs: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let fallback: u64 = std::env::var("FALLBACK_PER_MILLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut rng = Lcg(1);

    // --- Evaluator -------------------------------------------------------------
    let small: Vec<Value> = (0..200).map(|i| observation(&mut rng, i)).collect();
    let sets: Vec<Observations> = small
        .iter()
        .map(|v| Observations::from_value(v).unwrap())
        .collect();
    let patterns: Vec<Pattern> = EVAL_PATTERNS
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
    if let Some(path) = &export {
        let w = json!({"patterns": EVAL_PATTERNS, "observations": small});
        std::fs::write(path, w.to_string()).unwrap();
        eprintln!("wrote the evaluation workload to {path}");
    }
    let rounds = 7;
    let mut rates = Vec::new();
    let mut matched = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut reps = 0;
        matched = 0;
        while start.elapsed().as_secs_f64() < 0.3 {
            for p in &patterns {
                for s in &sets {
                    matched += usize::from(p.evaluate(s).unwrap().is_some());
                }
            }
            reps += 1;
        }
        matched /= reps;
        let n = reps * patterns.len() * sets.len();
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    println!(
        "evaluate: {:.0} evaluations/s (median of {rounds} rounds; {} patterns x {} observed-data each on its own; {matched} matches per pass)",
        median(rates),
        patterns.len(),
        sets.len(),
    );

    // --- Bulk ------------------------------------------------------------------
    let n_ind = 100_000;
    let multi: u64 = std::env::var("MULTI_PER_CENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let texts: Vec<String> = (0..n_ind)
        .map(|_| indicator(&mut rng, fallback, multi))
        .collect();
    if let Some(dir) = &export_stream {
        // The same indicators and observations as files for `hinomi match`.
        use std::io::Write;
        std::fs::create_dir_all(dir).unwrap();
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(format!("{dir}/indicators.jsonl")).unwrap(),
        );
        for (i, t) in texts.iter().enumerate() {
            let v = json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--00000000-0000-4000-8000-{i:012}"),
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                "pattern": t, "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"});
            writeln!(f, "{v}").unwrap();
        }
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(format!("{dir}/observations.jsonl")).unwrap(),
        );
        let mut orng = Lcg(rng.0);
        for i in 0..n_obs {
            writeln!(f, "{}", observation(&mut orng, i)).unwrap();
        }
        f.flush().unwrap();
        eprintln!("wrote {dir}/indicators.jsonl ({n_ind}) and {dir}/observations.jsonl ({n_obs})");
        return;
    }
    let start = Instant::now();
    let parsed: Vec<Pattern> = texts.iter().map(|t| Pattern::parse(t).unwrap()).collect();
    let parse_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut matcher = BulkMatcher::new();
    for (i, p) in parsed.into_iter().enumerate() {
        matcher.insert(format!("indicator--{i}"), p);
    }
    let build_s = start.elapsed().as_secs_f64();
    // The first observations build the lazy regex sets: part of compiling.
    let warm_data: Vec<Value> = (0..100).map(|i| observation(&mut rng, i)).collect();
    let warm_set = Observations::from_json(&warm_data).unwrap();
    let start = Instant::now();
    let warm: usize = (0..warm_set.len())
        .map(|i| matcher.match_observation(&warm_set, i).len())
        .sum();
    let regex_s = start.elapsed().as_secs_f64();
    let stats = matcher.stats();
    println!(
        "bulk: compiled {n_ind} indicators in {:.2}s (parse {parse_s:.2}s, index {build_s:.2}s, regex sets {regex_s:.2}s); \
         {} exact, {} fallback ({:.2}%); warm-up {warm} hits",
        parse_s + build_s + regex_s,
        stats.exact,
        stats.fallback,
        stats.fallback as f64 * 100.0 / n_ind as f64
    );

    let batch = 10_000u64.min(n_obs.max(1));
    // The streaming phase below replays exactly these observations.
    let stream_seed = rng.0;
    let mut scratch = Scratch::new();
    let mut out = Vec::new();
    let mut rates = Vec::new();
    let (mut hits, mut errors, mut total_s, mut done, mut with_set_s) =
        (0usize, 0usize, 0.0, 0u64, 0.0);
    while done < n_obs {
        let n = batch.min(n_obs - done);
        let data: Vec<Value> = (done..done + n).map(|i| observation(&mut rng, i)).collect();
        let t0 = Instant::now();
        let set = Observations::from_json(&data).unwrap();
        let t1 = Instant::now();
        for i in 0..set.len() {
            out.clear();
            matcher.match_observation_with(&set, i, &mut scratch, &mut out);
            hits += out.iter().filter(|o| o.result.is_ok()).count();
            errors += out.iter().filter(|o| o.result.is_err()).count();
        }
        let s = t1.elapsed().as_secs_f64();
        total_s += s;
        with_set_s += t0.elapsed().as_secs_f64();
        rates.push(n as f64 / s);
        done += n;
    }
    println!(
        "bulk: {:.0} observations/s matching (median of {} batches of {batch}, best {:.0}/s; overall {:.0}/s, {:.0}/s including building Observations from JSON values); \
         {n_ind} indicators x {n_obs} observations; {hits} hits, {errors} errors",
        median(rates.clone()),
        rates.len(),
        best(&rates),
        n_obs as f64 / total_s,
        n_obs as f64 / with_set_s,
    );

    // Streaming: each observation is converted and matched as soon as it exists (what a
    // caller reading a feed does), so its SCOs are still in cache. Same observations as
    // above; timed per observation from the JSON value: `Observations::from_value` plus
    // matching (the two clock reads, ~40 ns, are inside the figure).
    // Run twice: with `Observations::from_value`, then with a reused
    // `ObservationsBuilder` (no allocation per observation once warm).
    let mut builder = ObservationsBuilder::new();
    for reuse in [false, true] {
        let mut srng = Lcg(stream_seed);
        let mut rates = Vec::new();
        let (mut s_hits, mut s_total, mut done) = (0usize, 0.0, 0u64);
        while done < n_obs {
            let n = batch.min(n_obs - done);
            let mut s = 0.0;
            for i in done..done + n {
                let v = observation(&mut srng, i);
                let t0 = Instant::now();
                let set = if reuse {
                    builder.from_value(&v).unwrap()
                } else {
                    Observations::from_value(&v).unwrap()
                };
                out.clear();
                matcher.match_observation_with(&set, 0, &mut scratch, &mut out);
                s_hits += out.iter().filter(|o| o.result.is_ok()).count();
                if reuse {
                    builder.recycle(set);
                }
                s += t0.elapsed().as_secs_f64();
            }
            s_total += s;
            rates.push(n as f64 / s);
            done += n;
        }
        println!(
            "bulk streaming: {:.0} observations/s including {} (median of {} groups of {batch}, best {:.0}/s; overall {:.0}/s); {s_hits} hits",
            median(rates.clone()),
            if reuse {
                "ObservationsBuilder::from_value"
            } else {
                "Observations::from_value"
            },
            rates.len(),
            best(&rates),
            n_obs as f64 / s_total,
        );
        assert_eq!(s_hits, hits, "streaming and batch runs disagree");
    }

    // Correctness in the same run: the indexes equal evaluating every indicator.
    let sample: Vec<Value> = (0..3).map(|i| observation(&mut rng, i)).collect();
    let set = Observations::from_json(&sample).unwrap();
    let start = Instant::now();
    for i in 0..set.len() {
        assert_eq!(
            matcher.match_observation_naive(&set, i),
            matcher.match_observation(&set, i)
        );
    }
    println!(
        "naive: {:.2} observations/s (every indicator evaluated; 3 observations; results equal)",
        3.0 / start.elapsed().as_secs_f64()
    );
}
