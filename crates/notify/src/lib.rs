//! hinomi's delivery of warnings: what the hub needs to send a warning somewhere else.
//!
//! - [`webhook`] signs and verifies HTTP deliveries the
//!   [Standard Webhooks](https://www.standardwebhooks.com/) way (`whsec_` secrets,
//!   `webhook-id` / `webhook-timestamp` / `webhook-signature` headers).
//! - [`sealed`] keeps secrets (such as webhook secrets) encrypted at rest under one
//!   [`sealed::MasterKey`], and MACs values such as signed links.
//! - [`smtp`] renders an RFC 5322 / MIME message and sends it with a small blocking SMTP
//!   client (STARTTLS or implicit TLS, AUTH PLAIN / LOGIN).
//! - [`testing`] is an in-process SMTP server, a webhook receiver and message decoders,
//!   for tests and benchmarks here and in the hub.
//!
//! Invariant: the crate is blocking std IO only; it knows nothing of HTTP, async runtimes
//! or the store. It never prints or formats a secret: `Debug` of every secret-holding type
//! is redacted and no error message echoes secret material.

pub mod sealed;
pub mod smtp;
pub mod testing;
pub mod webhook;

mod line;
mod receiver;

/// What went wrong in [`webhook`] or [`sealed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// A webhook secret could not be parsed (the message never contains the secret).
    #[error("webhook secret is invalid: {0}")]
    BadSecret(String),
    /// A master key could not be parsed or loaded (the message never contains the key).
    #[error("master key is invalid: {0}")]
    BadKey(String),
    /// A sealed value could not be opened: malformed, tampered with, wrong key or wrong
    /// associated data.
    #[error("cannot open sealed value: {0}")]
    Crypto(String),
    /// Reading or writing a key file failed; the message names the file.
    #[error("I/O error: {0}")]
    Io(String),
    /// A webhook delivery did not verify: no matching signature, a malformed signature
    /// header or a timestamp outside the tolerance.
    #[error("webhook signature rejected: {0}")]
    Signature(String),
}
