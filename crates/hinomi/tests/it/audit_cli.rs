//! `hinomi admin audit checkpoint` and `verify`: checkpoints kept in a file outside the
//! store detect a cut tail that the chain alone cannot show.

use std::process::Command;

fn hinomi(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .args(args)
        .output()
        .expect("hinomi runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn checkpoints_from_the_cli_verify_and_refuse_another_hubs() {
    let dir = std::env::temp_dir().join(format!("hinomi-audit-cli-{}", uuid_ish()));
    let d = dir.to_str().unwrap();
    assert_eq!(hinomi(&["admin", "bootstrap", "--data-dir", d]).0, 0);
    let (code, line, err) = hinomi(&["admin", "audit", "checkpoint", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    let file = dir.join("checkpoints.jsonl");
    std::fs::write(&file, &line).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = hinomi(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        d,
        "--checkpoints",
        f,
    ]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(err.contains("intact (1 checkpoint"), "{err}");
    // Another hub's checkpoint (another key) is refused.
    let other = std::env::temp_dir().join(format!("hinomi-audit-cli-{}", uuid_ish()));
    let o = other.to_str().unwrap();
    assert_eq!(hinomi(&["admin", "bootstrap", "--data-dir", o]).0, 0);
    let (code, out, _) = hinomi(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        o,
        "--checkpoints",
        f,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not this hub's"), "{out}");
    // A file that is not checkpoints names the line.
    std::fs::write(&file, "{}\nnot json\n").unwrap();
    let (code, _, err) = hinomi(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        d,
        "--checkpoints",
        f,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("checkpoints.jsonl:2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

fn uuid_ish() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
