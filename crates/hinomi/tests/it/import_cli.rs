//! `hinomi import csaf` and `hinomi import kev` into a fresh SQLite store.

use std::process::Command;

use serde_json::Value;

fn hinomi(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .args(args)
        .output()
        .expect("hinomi runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn shared(rel: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn import_advisories_and_catalog() {
    let dir = std::env::temp_dir().join(format!("hinomi-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let (code, _, err) = hinomi(&[
        "import",
        "csaf",
        "--data-dir",
        d,
        &shared("csaf/cisa-sample"),
    ]);
    assert_ne!(code, 0, "no coordinator yet");
    assert!(err.contains("bootstrap"), "{err}");
    assert_eq!(hinomi(&["admin", "bootstrap", "--data-dir", d]).0, 0);

    let (code, v, _) = hinomi(&[
        "import",
        "csaf",
        "--data-dir",
        d,
        &shared("csaf/cisa-sample"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        (v["files"].as_u64(), v["added"].as_u64()),
        (Some(59), Some(59))
    );
    let (code, v, _) = hinomi(&[
        "import",
        "csaf",
        "--data-dir",
        d,
        &shared("csaf/cisa-sample"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["unchanged"], 59, "re-import changes nothing");
    let examples = shared("csaf/oasis-csaf-2.0-examples/examples/csaf");
    let (code, v, err) = hinomi(&["import", "csaf", "--data-dir", d, &examples]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["added"], 19, "the OASIS examples import too");

    let mandatory = shared("csaf/oasis-csaf-2.0-tests/test/validator/data/mandatory");
    let (code, v, err) = hinomi(&["import", "csaf", "--data-dir", d, &mandatory]);
    assert_eq!(code, 2, "invalid documents are skipped and reported");
    assert!(v["skipped"].as_u64().unwrap() > 50);
    assert!(
        err.contains("6-1-01-01.json: skipped: not valid CSAF 2.0"),
        "{err}"
    );

    let kev = shared("vuln/kev/known_exploited_vulnerabilities.json");
    let (code, v, _) = hinomi(&["import", "kev", "--data-dir", d, &kev]);
    assert_eq!(code, 0);
    assert_eq!(v["added"], 1404);
    let (_, v, _) = hinomi(&["import", "kev", "--data-dir", d, &kev]);
    assert_eq!(v["unchanged"], 1404);
}
