//! `hinomi csaf publish`: the CSAF 2.0 trusted-provider tree, signed with a real
//! OpenPGP key through GnuPG, checked file by file, then served by `hinomi serve`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn hinomi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .args(args)
        .output()
        .expect("hinomi runs")
}

fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--no-tty"])
        .args(args)
        .output()
        .expect("gpg runs")
}

#[test]
fn publish_signed_provider_tree() {
    let dir = std::env::temp_dir().join(format!("hinomi-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let d = data.to_str().unwrap();
    assert!(hinomi(&["admin", "bootstrap", "--data-dir", d])
        .status
        .success());
    let cisa = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/csaf/cisa-sample");
    assert!(
        hinomi(&["import", "csaf", "--data-dir", d, cisa.to_str().unwrap()])
            .status
            .success()
    );
    let k = gpg(
        &home,
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "hinomi test <psirt@hinomi.invalid>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));

    let out = hinomi(&[
        "csaf",
        "publish",
        "--data-dir",
        d,
        "--base-url",
        "https://hub.example",
        "--gpg-key",
        "psirt@hinomi.invalid",
        "--gnupg-home",
        home.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["advisories"], 59);
    let tree = data.join("csaf-provider");

    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(tree.join("provider-metadata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["role"], "csaf_trusted_provider");
    assert_eq!(meta["metadata_version"], "2.0");
    assert_eq!(
        meta["canonical_url"],
        "https://hub.example/.well-known/csaf/provider-metadata.json"
    );
    let fpr = meta["public_openpgp_keys"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tree.join(format!("openpgp/{fpr}.asc")).is_file());

    let index = std::fs::read_to_string(tree.join("index.txt")).unwrap();
    let paths: Vec<&str> = index.lines().collect();
    assert_eq!(paths.len(), 59);
    assert!(
        paths.contains(&"2024/icsa-24-289-02.json"),
        "§5.1 names in year folders"
    );
    let changes = std::fs::read_to_string(tree.join("changes.csv")).unwrap();
    assert_eq!(changes.lines().count(), 59);
    assert!(changes.lines().next().unwrap().starts_with('"'));
    let feed: Value =
        serde_json::from_str(&std::fs::read_to_string(tree.join("feed-tlp-white.json")).unwrap())
            .unwrap();
    assert_eq!(feed["feed"]["entry"].as_array().unwrap().len(), 59);

    for rel in paths.iter().take(5) {
        let file = tree.join(rel);
        let sum = Command::new("sha256sum").arg(&file).output().unwrap();
        let expect = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let got = std::fs::read_to_string(format!("{}.sha256", file.display())).unwrap();
        assert!(got.starts_with(&expect), "{rel}: {got}");
        assert!(Path::new(&format!("{}.sha512", file.display())).is_file());
        let v = gpg(
            &home,
            &[
                "--verify",
                &format!("{}.asc", file.display()),
                file.to_str().unwrap(),
            ],
        );
        assert!(
            v.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    // A tampered document no longer verifies.
    let victim = tree.join(paths[0]);
    let mut text = std::fs::read_to_string(&victim).unwrap();
    text.push(' ');
    std::fs::write(&victim, text).unwrap();
    assert!(!gpg(
        &home,
        &[
            "--verify",
            &format!("{}.asc", victim.display()),
            victim.to_str().unwrap()
        ]
    )
    .status
    .success());

    // Publishing again replaces the tree whole.
    assert!(hinomi(&[
        "csaf",
        "publish",
        "--data-dir",
        d,
        "--base-url",
        "https://hub.example"
    ])
    .status
    .success());
    assert!(
        !tree.join("openpgp").exists(),
        "unsigned run: no stale key or signatures"
    );
    assert!(!tree.join(format!("{}.asc", paths[0])).exists());
    let bad = hinomi(&["csaf", "publish", "--data-dir", d, "--base-url", "ftp://x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("https://"));
}
