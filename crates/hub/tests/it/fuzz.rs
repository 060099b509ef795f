//! A bounded, deterministic fuzz harness that runs on stable Rust in every test run:
//! seeds from the corpora in ../shared (STIX objects, patterns, CSAF advisories) and a
//! CycloneDX BOM, mutated structurally (values swapped for hostile ones: deep nesting,
//! long strings, extreme numbers, wrong types, many elements) and textually (bytes and
//! grammar tokens inserted, deleted, repeated), fed to STIX object validation, the
//! pattern parser, CSAF validation, inventory parsing, and TAXII envelopes posted to a
//! running hub. Every input must finish without a panic, within a generous budget (a
//! hang shows as a failure naming the input), and the hub must keep serving with a
//! 4xx, never a 5xx.
//!
//! `HINOMI_FUZZ_ROUNDS` (default 1000) sets mutations per seed; the seed of the random
//! generator is printed, and `HINOMI_FUZZ_SEED` replays a run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{objects_path, Hub, SHARED};

/// Longest one input may take before it counts as a hang (debug build, shared machine).
const HANG: Duration = Duration::from_secs(10);

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn rounds() -> usize {
    std::env::var("HINOMI_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn rng(target: &str) -> Rng {
    let seed = std::env::var("HINOMI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    eprintln!("fuzz {target}: seed {seed}, {} rounds per input", rounds());
    Rng(seed
        ^ target
            .bytes()
            .fold(0u64, |a, b| a.rotate_left(5) ^ b as u64)
        | 1)
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn json_files(dir: &Path, limit: usize) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .take(limit)
        .filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok())
        .collect()
}

/// A hostile replacement value.
fn hostile(r: &mut Rng) -> Value {
    match r.below(12) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(i64::MIN),
        3 => json!(u64::MAX),
        4 => json!(1e308),
        5 => json!("x".repeat(1 + r.below(100_000))),
        6 => json!("\u{0}\u{202e}<script>'\"\\"),
        7 => {
            // As deep as JSON parsing admits (serde_json stops at 128 levels): every
            // document the validators get was parsed first.
            let mut v = json!("deep");
            for _ in 0..(1 + r.below(120)) {
                v = json!([v]);
            }
            v
        }
        8 => Value::Array((0..r.below(20_000)).map(|i| json!(i)).collect()),
        9 => json!({}),
        10 => json!("2026-13-45T25:61:61.123456789Z"),
        _ => json!("identity--00000000-0000-0000-0000-000000000000"),
    }
}

/// Replaces one random node of `v` (or adds or removes a key) with a hostile value.
fn mutate(v: &mut Value, r: &mut Rng) {
    // Walk down a random path first, then edit at its end through a JSON pointer.
    let mut pointer = String::new();
    let mut node: &Value = v;
    for _ in 0..r.below(6) {
        let step = match node {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(r.below(m.len())).unwrap();
                Some((k.replace('~', "~0").replace('/', "~1"), &m[k]))
            }
            Value::Array(a) if !a.is_empty() => {
                let i = r.below(a.len());
                Some((i.to_string(), &a[i]))
            }
            _ => None,
        };
        match step {
            Some((seg, n)) => {
                pointer.push('/');
                pointer.push_str(&seg);
                node = n;
            }
            None => break,
        }
    }
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    match node {
        Value::Object(m) if r.below(3) == 0 => {
            m.insert(format!("x_fuzz_{}", r.below(10)), hostile(r));
        }
        Value::Object(m) if !m.is_empty() && r.below(2) == 0 => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap();
            m.remove(&k);
        }
        other => *other = hostile(r),
    }
}

/// A text mutation: insert, delete or repeat a slice, or insert a grammar token.
fn mutate_text(s: &str, r: &mut Rng) -> String {
    const TOKENS: [&str; 16] = [
        "[",
        "]",
        "(",
        ")",
        "'",
        "\\",
        " AND ",
        " OR ",
        " FOLLOWEDBY ",
        " REPEATS 99999 TIMES",
        " WITHIN 0 SECONDS",
        " START t'2026-01-01T00:00:00Z' STOP t'1970-01-01T00:00:00Z'",
        ":",
        ".",
        "[*]",
        " MATCHES '(a+)+$'",
    ];
    let chars: Vec<char> = s.chars().collect();
    let at = r.below(chars.len() + 1);
    let mut out: Vec<char> = chars[..at].to_vec();
    match r.below(4) {
        0 => out.extend(TOKENS[r.below(TOKENS.len())].chars()),
        1 => {
            let skip = r.below(8);
            out.extend(chars.iter().skip(at + skip));
            return out.into_iter().collect();
        }
        2 => {
            let piece: String = chars[at..].iter().take(1 + r.below(20)).collect();
            for _ in 0..r.below(200) {
                out.extend(piece.chars());
            }
        }
        _ => out.push(char::from_u32(r.below(0x3000) as u32).unwrap_or('\u{fffd}')),
    }
    out.extend(&chars[at..]);
    out.into_iter().collect()
}

/// Runs `f` on `input`, failing on a panic or a hang with the input named.
fn run<T: std::fmt::Debug>(target: &str, input: &T, f: impl FnOnce()) {
    let t0 = Instant::now();
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        let shown: String = format!("{input:?}").chars().take(2000).collect();
        panic!("fuzz {target}: panic on input {shown}");
    }
    let took = t0.elapsed();
    if took > HANG {
        let shown: String = format!("{input:?}").chars().take(2000).collect();
        panic!("fuzz {target}: {took:?} on input {shown}");
    }
}

fn stix_seeds() -> Vec<Value> {
    let mut out = Vec::new();
    for dir in ["stix/examples", "stix/interop"] {
        for v in json_files(&shared().join(dir), 40) {
            match v["objects"].as_array() {
                Some(objs) => out.extend(objs.iter().take(20).cloned()),
                None => out.push(v),
            }
        }
    }
    assert!(out.len() > 20, "STIX seeds found: {}", out.len());
    out
}

#[test]
fn fuzz_stix_object_validation() {
    let mut r = rng("stix");
    for seed in stix_seeds() {
        for _ in 0..rounds() / 4 {
            let mut v = seed.clone();
            for _ in 0..1 + r.below(3) {
                mutate(&mut v, &mut r);
            }
            run("stix", &v, || {
                let _ = hinomi_stix::check_object(v.clone());
            });
        }
    }
}

#[test]
fn fuzz_pattern_parser() {
    let mut r = rng("pattern");
    let text = std::fs::read_to_string(shared().join("stix/pattern-corpus/spec_examples_v21.txt"))
        .unwrap();
    let mut seeds: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('['))
        .map(String::from)
        .collect();
    let corpus =
        std::fs::read_to_string(shared().join("stix/pattern-corpus/validator_v21_corpus.jsonl"))
            .unwrap();
    seeds.extend(
        corpus
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["pattern"].as_str().map(String::from))
            .step_by(4),
    );
    assert!(seeds.len() > 20);
    for seed in &seeds {
        for _ in 0..rounds() / 10 {
            let mut p = seed.clone();
            for _ in 0..1 + r.below(3) {
                p = mutate_text(&p, &mut r);
            }
            run("pattern", &p, || {
                let _ = hinomi_pattern::Pattern::parse(&p);
            });
        }
    }
}

#[test]
fn fuzz_csaf_validation() {
    let mut r = rng("csaf");
    let mut seeds = json_files(&shared().join("csaf/cisa-sample"), 4);
    seeds.extend(json_files(
        &shared().join("csaf/oasis-csaf-2.0-examples/examples/csaf"),
        4,
    ));
    assert!(seeds.len() >= 4, "CSAF seeds: {}", seeds.len());
    for seed in seeds {
        for _ in 0..rounds() / 8 {
            let mut v = seed.clone();
            for _ in 0..1 + r.below(3) {
                mutate(&mut v, &mut r);
            }
            run("csaf", &v, || {
                let _ = hinomi_csaf::validate(&v);
            });
        }
    }
}

#[test]
fn fuzz_inventories() {
    let mut r = rng("inventory");
    let bom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "application", "name": "scada-hmi"}},
        "components": [
            {"type": "library", "name": "openssl", "version": "3.0.7", "purl": "pkg:generic/openssl@3.0.7",
             "cpe": "cpe:2.3:a:openssl:openssl:3.0.7:*:*:*:*:*:*:*",
             "supplier": {"name": "OpenSSL"}, "components": [{"type": "library", "name": "zlib", "version": "1.2.13"}]},
            {"type": "firmware", "name": "plc", "version": "2.1", "group": "acme"}
        ]
    });
    let list = json!({"components": [{"name": "nginx", "version": "1.24.0", "vendor": "f5"}]});
    for seed in [bom, list] {
        for _ in 0..rounds() {
            let mut v = seed.clone();
            for _ in 0..1 + r.below(3) {
                mutate(&mut v, &mut r);
            }
            run("inventory", &v, || {
                let _ = hinomi_csaf::inventory::Inventory::from_json(&v);
            });
        }
    }
}

#[test]
fn fuzz_taxii_envelopes_keep_the_hub_serving() {
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        write_rate_per_minute: 0,
        ..crate::lab_config()
    });
    let (_, token) = hub.member("Fuzzer", "private");
    let mut r = rng("taxii");
    let seeds = stix_seeds();
    for round in 0..rounds() / 2 {
        let objects: Vec<Value> = (0..1 + r.below(5))
            .map(|_| seeds[r.below(seeds.len())].clone())
            .collect();
        let mut env = json!({ "objects": objects });
        for _ in 0..1 + r.below(3) {
            mutate(&mut env, &mut r);
        }
        let mut body = env.to_string();
        if round % 5 == 0 {
            body = mutate_text(&body, &mut r);
        }
        let mut status = 0;
        run("taxii", &body, || {
            status = hub
                .call(
                    "POST",
                    &objects_path(SHARED),
                    Some(&token),
                    &[("Content-Type", crate::TAXII), ("Accept", crate::TAXII)],
                    Some(&body),
                )
                .status;
        });
        assert!(
            status < 500,
            "fuzz taxii: HTTP {status} on {}",
            body.chars().take(2000).collect::<String>()
        );
    }
    assert_eq!(hub.call("GET", "/healthz", None, &[], None).status, 200);
}
