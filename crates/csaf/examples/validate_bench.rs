//! Validate every corpus document N times and print documents per second
//! (median of the rounds). Documents are parsed once up front; a round times
//! `hinomi_csaf::validate` (schema + all mandatory tests) over all of them.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-csaf cargo run -j1 --release -p hinomi-csaf \
//!     --example validate_bench -- [--rounds 20] [--findings]
//! ```
//!
//! `--matrix` prints the failing tests of every document. `--findings` prints every finding of the CISA advisories and OASIS examples
//! instead of benchmarking.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(20, |n| n.parse().expect("--rounds N"));
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/csaf");
    let sets = [
        (
            "oasis-tests",
            "oasis-csaf-2.0-tests/test/validator/data/mandatory",
        ),
        ("cisa", "cisa-sample"),
        ("oasis-examples", "oasis-csaf-2.0-examples/examples/csaf"),
    ];
    let mut docs = Vec::new();
    for (set, dir) in sets {
        let mut files = Vec::new();
        json_files(&shared.join(dir), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            let value: serde_json::Value = serde_json::from_str(&text).expect("json");
            docs.push((set, f, value));
        }
    }
    if args.iter().any(|a| a == "--matrix") {
        // Which tests fail, per document (for comparing with the peer).
        for (set, path, doc) in &docs {
            let mut tests: Vec<String> = hinomi_csaf::validate(doc)
                .into_iter()
                .map(|f| f.test)
                .collect();
            tests.sort();
            tests.dedup();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            println!("{set}/{name}: {}", tests.join(" "));
        }
        return;
    }
    if args.iter().any(|a| a == "--findings") {
        for (set, path, doc) in &docs {
            if *set == "oasis-tests" {
                continue;
            }
            let findings = hinomi_csaf::validate(doc);
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            println!(
                "{set}/{name}: {}",
                if findings.is_empty() {
                    "valid".into()
                } else {
                    format!("{} findings", findings.len())
                }
            );
            for f in findings {
                println!("    {f}");
            }
        }
        return;
    }
    // Warm-up: compiles the schema once.
    let mut findings = 0usize;
    for (_, _, doc) in &docs {
        findings += hinomi_csaf::validate(doc).len();
    }
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for (_, _, doc) in &docs {
            std::hint::black_box(hinomi_csaf::validate(std::hint::black_box(doc)));
        }
        rates.push(docs.len() as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "hinomi-csaf: {} documents x {rounds} rounds, {findings} findings per round, median {median:.0} docs/s (min {:.0}, max {:.0})",
        docs.len(),
        rates[0],
        rates[rates.len() - 1]
    );
}
