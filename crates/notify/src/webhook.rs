//! Webhook signatures in the [Standard Webhooks](https://www.standardwebhooks.com/) shape.
//!
//! A delivery carries three headers: [`HEADER_ID`] (a unique message id),
//! [`HEADER_TIMESTAMP`] (unix seconds) and [`HEADER_SIGNATURE`] (space-separated
//! `v1,<base64>` entries). Each signature is
//! `base64(HMAC-SHA256(secret, "{msg_id}.{timestamp}.{body}"))`, so any Standard Webhooks
//! library can verify what [`sign`] produces. Secrets are written `whsec_<base64 of the key>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::NotifyError;

/// Header carrying the unique message id (also the receiver's idempotency key).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the time of signing in unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying one or more space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Prefix of the textual form of a secret.
const PREFIX: &str = "whsec_";
/// Accepted key sizes in bytes (the specification asks for 24 to 64).
const MIN_KEY: usize = 24;
const MAX_KEY: usize = 64;

/// The shared key of one webhook endpoint.
///
/// `Debug` prints `WebhookSecret(***)`; the only ways to see the key are
/// [`WebhookSecret::expose`] and [`WebhookSecret::as_bytes`]. Store it sealed (see
/// [`crate::sealed::MasterKey::seal`]), not in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// A new secret of 32 random bytes from the operating system.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails, which `ring` treats as
    /// unrecoverable.
    pub fn generate() -> WebhookSecret {
        let mut key = vec![0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the operating system random number generator failed");
        WebhookSecret(key)
    }

    /// Parses `whsec_<standard base64>` (surrounding whitespace is ignored). The key must
    /// be 24 to 64 bytes. Errors say what is wrong without repeating the secret.
    pub fn parse(s: &str) -> Result<WebhookSecret, NotifyError> {
        let s = s.trim();
        let encoded = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| NotifyError::BadSecret(format!("does not start with `{PREFIX}`")))?;
        if encoded.is_empty() {
            return Err(NotifyError::BadSecret(format!(
                "nothing follows `{PREFIX}`"
            )));
        }
        let key = STANDARD.decode(encoded).map_err(|_| {
            NotifyError::BadSecret(format!("the part after `{PREFIX}` is not standard base64"))
        })?;
        if !(MIN_KEY..=MAX_KEY).contains(&key.len()) {
            return Err(NotifyError::BadSecret(format!(
                "the key is {} bytes; expected {MIN_KEY} to {MAX_KEY}",
                key.len()
            )));
        }
        Ok(WebhookSecret(key))
    }

    /// The textual form `whsec_<base64>`, to show once to whoever configures the receiver.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn hmac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> hmac::Tag {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(msg_id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        ctx.sign()
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// The signature header value (`v1,<base64>`) for one delivery.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.hmac(msg_id, timestamp, body);
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// The three headers of one delivery, `(name, value)`, ready to add to a request.
pub fn headers(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secret, msg_id, timestamp, body)),
    ]
}

/// Checks a delivery: the timestamp must be within `tolerance_secs` of `now` (either
/// direction) and at least one `v1,` entry of `signature_header` must match. Entries of
/// other versions are ignored. The comparison is constant time.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    signature_header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), NotifyError> {
    let skew = now.abs_diff(timestamp);
    if skew > tolerance_secs.max(0).unsigned_abs() {
        let direction = if timestamp < now {
            "old"
        } else {
            "in the future"
        };
        return Err(NotifyError::Signature(format!(
            "timestamp {timestamp} is {skew} s {direction}; tolerance is {tolerance_secs} s"
        )));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret.0);
    let mut message = Vec::with_capacity(msg_id.len() + body.len() + 24);
    message.extend_from_slice(msg_id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);

    let mut v1_entries = 0usize;
    for entry in signature_header.split_whitespace() {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        v1_entries += 1;
        let Ok(tag) = STANDARD.decode(encoded) else {
            continue;
        };
        if hmac::verify(&key, &message, &tag).is_ok() {
            return Ok(());
        }
    }
    Err(NotifyError::Signature(if v1_entries == 0 {
        format!("`{HEADER_SIGNATURE}` holds no `v1,` signature")
    } else {
        format!("none of the {v1_entries} `v1` signatures matches")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_do_not_echo_the_secret() {
        let err = WebhookSecret::parse("whsec_!!notbase64-SECRETVALUE").unwrap_err();
        assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
    }

    #[test]
    fn negative_tolerance_acts_as_zero() {
        let s = WebhookSecret::generate();
        let sig = sign(&s, "m", 10, b"x");
        assert!(verify(&s, "m", 10, b"x", &sig, 10, -5).is_ok());
        assert!(verify(&s, "m", 10, b"x", &sig, 11, -5).is_err());
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let s = WebhookSecret::generate();
        let sig = sign(&s, "m", 0, b"x");
        assert!(verify(&s, "m", 0, b"x", &sig, i64::MAX, i64::MAX).is_ok());
        let sig = sign(&s, "m", i64::MIN, b"x");
        assert!(verify(&s, "m", i64::MIN, b"x", &sig, i64::MAX, i64::MAX).is_err());
    }
}
