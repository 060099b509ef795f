use hinomi_notify::sealed::MasterKey;
use hinomi_notify::NotifyError;

use crate::TempDir;

#[test]
fn seal_open_round_trip() {
    let key = MasterKey::generate();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw 秘密";
    let sealed = key.seal(secret.as_bytes(), b"endpoint:42");
    assert!(sealed.starts_with("v1:"));
    assert!(!sealed.contains("MfKQ9r8G"));
    assert_eq!(
        key.open(&sealed, b"endpoint:42").unwrap(),
        secret.as_bytes()
    );
    // Random nonces: sealing twice differs.
    assert_ne!(sealed, key.seal(secret.as_bytes(), b"endpoint:42"));
    // Empty values work too.
    assert_eq!(key.open(&key.seal(b"", b""), b"").unwrap(), b"");
}

#[test]
fn open_rejects_tampering_wrong_aad_wrong_key_and_garbage() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = MasterKey::generate();
    let sealed = key.seal(b"payload", b"aad");

    let mut raw = b64.decode(&sealed[3..]).unwrap();
    for i in [0, 12, raw.len() - 1] {
        raw[i] ^= 1;
        let tampered = format!("v1:{}", b64.encode(&raw));
        assert!(
            matches!(key.open(&tampered, b"aad"), Err(NotifyError::Crypto(_))),
            "byte {i}"
        );
        raw[i] ^= 1;
    }
    assert!(key.open(&sealed, b"other").is_err());
    assert!(MasterKey::generate().open(&sealed, b"aad").is_err());
    for garbage in ["", "v1:", "v2:AAAA", "v1:!!!", "v1:AAAA", &sealed[3..]] {
        let err = key.open(garbage, b"aad").unwrap_err();
        assert!(matches!(err, NotifyError::Crypto(_)), "{garbage:?}: {err}");
    }
}

#[test]
fn base64_round_trip_and_bad_keys() {
    let key = MasterKey::generate();
    let again = MasterKey::from_base64(&format!(" {}\n", key.to_base64())).unwrap();
    assert_eq!(again.to_base64(), key.to_base64());
    assert_eq!(format!("{key:?}"), "MasterKey(***)");
    let short = MasterKey::from_base64("AAAA").unwrap_err();
    assert!(
        short.to_string().contains("3 bytes; expected 32"),
        "{short}"
    );
    assert!(matches!(
        MasterKey::from_base64("not base64!"),
        Err(NotifyError::BadKey(_))
    ));
}

#[test]
fn macs_verify_per_purpose_in_constant_time() {
    let key = MasterKey::generate();
    let tag = key.mac("unsubscribe", b"user=7");
    assert!(!tag.contains(['+', '/', '=']), "{tag}");
    assert!(key.verify_mac("unsubscribe", b"user=7", &tag));
    assert!(!key.verify_mac("unsubscribe", b"user=8", &tag));
    assert!(!key.verify_mac("download", b"user=7", &tag));
    assert!(!MasterKey::generate().verify_mac("unsubscribe", b"user=7", &tag));
    assert!(!key.verify_mac("unsubscribe", b"user=7", "not a tag!"));
    assert!(!key.verify_mac("unsubscribe", b"user=7", ""));
    assert!(!key.verify_mac("unsubscribe", b"user=7", &tag[..20]));
}

#[test]
fn load_or_create_creates_once_and_never_overwrites() {
    let dir = TempDir::new("key");
    let path = dir.path().join("master.key");
    let created = MasterKey::load_or_create(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim(), created.to_base64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let loaded = MasterKey::load_or_create(&path).unwrap();
    assert_eq!(loaded.to_base64(), created.to_base64());
    // A value sealed before a restart opens after it.
    let sealed = created.seal(b"x", b"");
    assert_eq!(loaded.open(&sealed, b"").unwrap(), b"x");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("master.key")]);
}

#[test]
fn load_or_create_refuses_a_corrupt_file_instead_of_replacing_it() {
    let dir = TempDir::new("key");
    let path = dir.path().join("master.key");
    std::fs::write(&path, "garbage").unwrap();
    let err = MasterKey::load_or_create(&path).unwrap_err();
    assert!(matches!(err, NotifyError::BadKey(_)));
    assert!(err.to_string().contains("master.key"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
}

#[test]
fn load_or_create_names_a_missing_directory() {
    let dir = TempDir::new("key");
    let path = dir.path().join("missing").join("master.key");
    let err = MasterKey::load_or_create(&path).unwrap_err();
    assert!(matches!(err, NotifyError::Io(_)));
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn concurrent_creators_agree_on_one_key() {
    let dir = TempDir::new("key");
    let path = dir.path().join("master.key");
    let keys: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| MasterKey::load_or_create(&path).unwrap().to_base64()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}
