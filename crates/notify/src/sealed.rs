//! Secrets at rest and MACs, under one [`MasterKey`].
//!
//! [`MasterKey::seal`] encrypts a value (for example a webhook secret before it goes into
//! the database) with ChaCha20-Poly1305; [`MasterKey::mac`] authenticates a value (for
//! example a signed link) with HMAC-SHA256. The master key itself is never used directly:
//! each use derives its own key with HMAC-SHA256 over a fixed label (`hinomi seal v1` for
//! sealing, `hinomi mac v1:<purpose>` for each MAC purpose), so a MAC tag can never be
//! replayed as a tag for another purpose and neither reveals anything about the sealing key.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::NotifyError;

/// Prefix of a sealed value; names the format so it can change later.
const SEAL_PREFIX: &str = "v1:";
const SEAL_LABEL: &[u8] = b"hinomi seal v1";
const MAC_LABEL: &[u8] = b"hinomi mac v1:";

/// The 32-byte key that protects every other secret of the hub.
///
/// `Debug` prints `MasterKey(***)`.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system random number generator failed");
    bytes
}

impl MasterKey {
    /// A new random key.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails.
    pub fn generate() -> MasterKey {
        MasterKey(random())
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace is ignored).
    pub fn from_base64(s: &str) -> Result<MasterKey, NotifyError> {
        let bytes = STANDARD
            .decode(s.trim())
            .map_err(|_| NotifyError::BadKey("not standard base64".to_string()))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            NotifyError::BadKey(format!("the key is {} bytes; expected 32", bytes.len()))
        })?;
        Ok(MasterKey(key))
    }

    /// Standard base64 of the key, the format of the key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the key from `path` (base64, surrounding whitespace ignored), or, when the
    /// file does not exist, creates it with a new key and returns that.
    ///
    /// A new file is written to a temporary file in the same directory (mode `0600` on
    /// unix), synced, then linked into place, so a reader never sees a partial key and an
    /// existing file is never overwritten: when another process creates the file first,
    /// its key is read and returned. The directory must exist.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, NotifyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_base64(&text).map_err(|e| match e {
                NotifyError::BadKey(why) => {
                    NotifyError::BadKey(format!("key file {}: {why}", path.display()))
                }
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
            Err(e) => Err(NotifyError::Io(format!(
                "reading key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plaintext` bound to `aad` (associated data that must be given again to
    /// [`MasterKey::open`], e.g. the id of the row holding the value). The result is
    /// `v1:` + standard base64 of nonce ‖ ciphertext ‖ tag, with a random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = random();
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead_key()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            // Only fails for inputs of more than 256 GiB.
            .expect("plaintext too long to seal");
        out.extend_from_slice(tag.as_ref());
        format!("{SEAL_PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts a value made by [`MasterKey::seal`] with the same key and `aad`.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, NotifyError> {
        let encoded = sealed
            .trim()
            .strip_prefix(SEAL_PREFIX)
            .ok_or_else(|| NotifyError::Crypto(format!("does not start with `{SEAL_PREFIX}`")))?;
        let mut bytes = STANDARD
            .decode(encoded)
            .map_err(|_| NotifyError::Crypto("not standard base64".to_string()))?;
        let tag_len = CHACHA20_POLY1305.tag_len();
        if bytes.len() < NONCE_LEN + tag_len {
            return Err(NotifyError::Crypto(format!(
                "{} bytes is too short; at least {} expected",
                bytes.len(),
                NONCE_LEN + tag_len
            )));
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN])
            .map_err(|_| NotifyError::Crypto("bad nonce".to_string()))?;
        let plain_len = self
            .aead_key()
            .open_in_place(nonce, Aad::from(aad), &mut bytes[NONCE_LEN..])
            .map_err(|_| {
                NotifyError::Crypto(
                    "authentication failed (tampered, wrong key or wrong associated data)"
                        .to_string(),
                )
            })?
            .len();
        bytes.drain(..NONCE_LEN);
        bytes.truncate(plain_len);
        Ok(bytes)
    }

    /// HMAC-SHA256 of `msg` under a key derived for `purpose` (e.g. `"unsubscribe-link"`),
    /// as base64url without padding, ready for a URL.
    pub fn mac(&self, purpose: &str, msg: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.mac_key(purpose), msg))
    }

    /// Whether `tag` is [`MasterKey::mac`] of `msg` for `purpose`; constant time.
    pub fn verify_mac(&self, purpose: &str, msg: &[u8], tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag.trim()) else {
            return false;
        };
        hmac::verify(&self.mac_key(purpose), msg, &tag).is_ok()
    }

    /// A 32-byte key derived for `purpose`, for use outside this module (the audit
    /// chain's key).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(
            self.derive(&[b"hinomi-derived-key", purpose.as_bytes()])
                .as_ref(),
        );
        k
    }

    fn signing_pair(&self, purpose: &str) -> ring::signature::Ed25519KeyPair {
        let seed = self.derive_key(&format!("ed25519:{purpose}"));
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .expect("32 bytes are a valid Ed25519 seed")
    }

    /// The Ed25519 public key for `purpose` (standard base64), which anyone may hold to
    /// check [`MasterKey::sign`] without the secret.
    pub fn public_key(&self, purpose: &str) -> String {
        use ring::signature::KeyPair as _;
        STANDARD.encode(self.signing_pair(purpose).public_key().as_ref())
    }

    /// An Ed25519 signature of `msg` under the key derived for `purpose` (standard
    /// base64).
    pub fn sign(&self, purpose: &str, msg: &[u8]) -> String {
        STANDARD.encode(self.signing_pair(purpose).sign(msg).as_ref())
    }

    fn derive(&self, label: &[&[u8]]) -> hmac::Tag {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        for part in label {
            ctx.update(part);
        }
        ctx.sign()
    }

    fn aead_key(&self) -> LessSafeKey {
        let derived = self.derive(&[SEAL_LABEL]);
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, derived.as_ref())
            .expect("HMAC-SHA256 output is a valid ChaCha20-Poly1305 key");
        LessSafeKey::new(unbound)
    }

    fn mac_key(&self, purpose: &str) -> hmac::Key {
        let derived = self.derive(&[MAC_LABEL, purpose.as_bytes()]);
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

fn create_key_file(path: &Path) -> Result<MasterKey, NotifyError> {
    let io = |what: &str, e: std::io::Error| NotifyError::Io(format!("{what}: {e}"));
    let file_name = path.file_name().ok_or_else(|| {
        NotifyError::Io(format!("key file path {} has no file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let suffix = URL_SAFE_NO_PAD.encode(random::<9>());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{suffix}"));
    let tmp = dir.join(tmp_name);

    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(key.to_base64().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&format!("writing key file {}", tmp.display()), e));
    }
    // A hard link, unlike a rename, fails when the target exists: never overwrite a key.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process won the race; use its key.
            MasterKey::load_or_create(path)
        }
        Err(e) => Err(io(&format!("creating key file {}", path.display()), e)),
    }
}

/// Whether `signature` (standard base64) is an Ed25519 signature of `msg` by
/// `public_key` (standard base64).
pub fn verify_signature(public_key: &str, msg: &[u8], signature: &str) -> bool {
    let (Ok(pk), Ok(sig)) = (
        STANDARD.decode(public_key.trim()),
        STANDARD.decode(signature.trim()),
    ) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, pk)
        .verify(msg, &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_keys_differ_per_purpose_and_from_the_seal_key() {
        let k = MasterKey::generate();
        assert_ne!(k.mac("a", b"x"), k.mac("b", b"x"));
        assert!(!k.verify_mac("b", b"x", &k.mac("a", b"x")));
        // The MAC key for purpose "" is derived with a different label than the seal key.
        let seal_key = k.derive(&[SEAL_LABEL]);
        let mac_key = k.derive(&[MAC_LABEL, b""]);
        assert_ne!(seal_key.as_ref(), mac_key.as_ref());
    }
}
