use hinomi_notify::webhook::{self, WebhookSecret};
use hinomi_notify::NotifyError;

// The Standard Webhooks specification's published test vector (also reproduced with
// python3 `hmac.new(base64.b64decode(key), b"msg_id.timestamp.body", hashlib.sha256)`).
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: i64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// A vector of our own, computed once with python3:
// key = bytes(range(32)); msg = b'alert-1.1700000000.{"sev":"high","text":"\xe8\xad\xa6\xe5\x91\x8a"}'
// base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())
const OWN_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OWN_SIGNATURE: &str = "v1,uI0b8uoCoXweZmLyKPUqLhtg1scnZfGoFiCiJxbtjsk=";

#[test]
fn signs_the_standard_webhooks_reference_vector() {
    let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
    assert_eq!(
        webhook::sign(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
        SPEC_SIGNATURE
    );
    webhook::verify(
        &secret,
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        SPEC_TIMESTAMP + 10,
        300,
    )
    .unwrap();
}

#[test]
fn signs_our_own_known_answer_vector() {
    let secret = WebhookSecret::parse(OWN_SECRET).unwrap();
    assert_eq!(secret.as_bytes(), (0u8..32).collect::<Vec<_>>().as_slice());
    let body = r#"{"sev":"high","text":"警告"}"#.as_bytes();
    assert_eq!(
        webhook::sign(&secret, "alert-1", 1_700_000_000, body),
        OWN_SIGNATURE
    );
}

#[test]
fn round_trip_and_headers() {
    let secret = WebhookSecret::generate();
    assert_eq!(secret.as_bytes().len(), 32);
    let again = WebhookSecret::parse(&secret.expose()).unwrap();
    assert_eq!(again.as_bytes(), secret.as_bytes());

    let body = "日本語の警告".as_bytes();
    let [(id_name, id), (ts_name, ts), (sig_name, sig)] =
        webhook::headers(&secret, "msg_1", 1000, body);
    assert_eq!(
        (id_name, ts_name, sig_name),
        (
            webhook::HEADER_ID,
            webhook::HEADER_TIMESTAMP,
            webhook::HEADER_SIGNATURE
        )
    );
    assert_eq!((id.as_str(), ts.as_str()), ("msg_1", "1000"));
    webhook::verify(&secret, "msg_1", 1000, body, &sig, 1000, 300).unwrap();
}

#[test]
fn accepts_any_listed_v1_signature_during_rotation() {
    let old = WebhookSecret::generate();
    let new = WebhookSecret::generate();
    let header = format!(
        "v1a,ignored {} {}",
        webhook::sign(&old, "m", 5, b"x"),
        webhook::sign(&new, "m", 5, b"x")
    );
    webhook::verify(&old, "m", 5, b"x", &header, 5, 0).unwrap();
    webhook::verify(&new, "m", 5, b"x", &header, 5, 0).unwrap();
}

#[test]
fn rejects_tampering_wrong_key_and_stale_timestamps() {
    let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
    let now = SPEC_TIMESTAMP;
    let check = |id: &str, ts: i64, body: &[u8], header: &str, now: i64| {
        webhook::verify(&secret, id, ts, body, header, now, 300)
    };
    let rejected = |r: Result<(), NotifyError>| matches!(r, Err(NotifyError::Signature(_)));

    assert!(rejected(check(
        SPEC_ID,
        SPEC_TIMESTAMP,
        br#"{"test": 2432232315}"#,
        SPEC_SIGNATURE,
        now
    )));
    assert!(rejected(check(
        "msg_other",
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now
    )));
    assert!(rejected(check(
        SPEC_ID,
        SPEC_TIMESTAMP + 1,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now
    )));
    // Signature bytes flipped, other versions, garbage, empty.
    let flipped = SPEC_SIGNATURE.replace("g0hM", "g0hN");
    for header in [
        flipped.as_str(),
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,***",
        "",
    ] {
        assert!(
            rejected(check(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header, now)),
            "{header}"
        );
    }
    // Too old and too far in the future; the edge of the tolerance is still accepted.
    assert!(rejected(check(
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now + 301
    )));
    assert!(rejected(check(
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now - 301
    )));
    check(
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now + 300,
    )
    .unwrap();
    let err = check(
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now + 3600,
    )
    .unwrap_err();
    assert!(err.to_string().contains("old"), "{err}");

    let other = WebhookSecret::generate();
    assert!(webhook::verify(
        &other,
        SPEC_ID,
        SPEC_TIMESTAMP,
        SPEC_BODY,
        SPEC_SIGNATURE,
        now,
        300
    )
    .is_err());
}

#[test]
fn bad_secrets_are_named_without_echoing_them() {
    let cases = [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_", "nothing follows"),
        ("whsec_not base64 at all!", "base64"),
        ("whsec_c2hvcnQ=", "5 bytes"),
    ];
    for (input, expected) in cases {
        let err = WebhookSecret::parse(input).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, NotifyError::BadSecret(_)));
        assert!(message.contains(expected), "{input}: {message}");
        assert!(
            !message.contains("MfKQ9r8G") && !message.contains("c2hvcnQ"),
            "{message}"
        );
    }
    let long = format!("whsec_{}", base64_of(&[7u8; 65]));
    assert!(WebhookSecret::parse(&long)
        .unwrap_err()
        .to_string()
        .contains("65 bytes"));
    assert!(WebhookSecret::parse(&format!("whsec_{}", base64_of(&[7u8; 64]))).is_ok());
    assert!(WebhookSecret::parse(&format!("whsec_{}", base64_of(&[7u8; 24]))).is_ok());
}

#[test]
fn debug_never_shows_the_key() {
    let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
    assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
