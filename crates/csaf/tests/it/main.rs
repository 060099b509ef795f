//! Integration tests: the OASIS test corpus and real advisories, read in
//! place from `../shared` (never copied into the repository).

mod corpora;
mod matching;
mod oasis;
mod vers;

use std::path::PathBuf;

/// A path below the shared folder that lies beside the clone.
pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the shared corpora must lie beside the clone",
        p.display()
    );
    p
}

pub fn load(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
