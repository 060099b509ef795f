//! `hinomi csaf validate`, run as the built binary on the shared corpora (read in place).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn shared(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/csaf")
        .join(rel)
        .display()
        .to_string()
}

fn validate(args: &[&str]) -> (i32, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .arg("csaf")
        .arg("validate")
        .args(args)
        .output()
        .expect("hinomi runs");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

#[test]
fn valid_and_failing_documents() {
    let ok = shared("cisa-sample/icsa-24-289-02.json");
    let (code, lines) = validate(&[&ok]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["errors"].as_array().unwrap().len(), 0);

    let bad = shared("oasis-csaf-2.0-tests/test/validator/data/mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-01-01.json");
    let (code, lines) = validate(&[&ok, &bad]);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["valid"], false);
    let errors = lines[1]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["test"] == "6.1.1"), "{errors:?}");
    assert!(errors
        .iter()
        .all(|e| e["path"].as_str().unwrap().is_empty()
            || e["path"].as_str().unwrap().starts_with('/')));
}

#[test]
fn directories_and_unreadable_input() {
    let (code, lines) = validate(&[&shared("cisa-sample")]);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 59);
    let dir = std::env::temp_dir().join(format!("hinomi-csaf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{not json").unwrap();
    let (code, lines) = validate(&[junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["errors"][0]["test"], "json");
}
