//! The hub's domain layer: every operation the hub offers, once, for every front end
//! (TAXII, REST, the SSE stream, the CSAF provider tree), every worker (delivery,
//! escalation, federation, re-matching, targeted warnings) and the CLI.
//!
//! A service function takes the caller as a [`Viewer`] (principal, scope and, for a
//! peer hub, its export view) and typed input, and answers typed output or an
//! [`Error`]. Services never see HTTP: no axum, no status codes, no request bodies.
//! The access rule, the export view, resource bounds and the audit entry are applied
//! here. Services import nothing from `crate::front` or `crate::http`.

pub mod access;
pub mod accounts;
pub mod advisories;
pub mod cases;
pub mod correlation;
pub mod delivery;
pub mod directory;
mod error;
pub mod exercises;
pub mod federation;
pub mod feed;
pub mod incidents;
pub mod index;
pub mod intake;
pub mod inventory;
pub mod matching;
pub mod objects;
pub mod provider;
pub mod recovery;
pub mod redistribution;
pub mod referral;
pub mod subscriptions;
pub mod targeted;
pub mod warnings;

pub use access::{org_reader, org_scope, ExportView, Viewer};
pub use error::{Error, Kind, Result};

use crate::AppState;

/// A UUID (RFC 4122 layout, version 5 bits) derived from `seed`: the objects the hub
/// writes beside a warning or a report get stable ids, so a retried write is a
/// duplicate, not a second object.
/// A keyset cursor `time/id` from a previous page's `next`.
pub(crate) fn parse_cursor(c: &str) -> Result<(i64, String)> {
    c.split_once('/')
        .and_then(|(t, id)| t.parse::<i64>().ok().map(|t| (t, id.to_string())))
        .ok_or_else(|| {
            Error::new(
                Kind::InvalidFilter,
                format!("before: '{c}' is not a cursor from a previous page"),
            )
        })
}

pub(crate) fn derived_uuid(seed: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// What the hub tells every caller about itself (TAXII discovery and API root).
#[derive(Debug, Clone)]
pub struct About {
    pub title: String,
    /// Largest request body accepted, bytes.
    pub max_content_length: usize,
}

/// The hub's description, for any caller (the public included).
pub fn about(s: &AppState, _who: &Viewer) -> About {
    About {
        title: s.config.title.clone(),
        max_content_length: s.config.max_content_length,
    }
}

/// The hub's health: the schema version of a reachable database.
/// Lowercase hex of bytes (digests, fingerprints).
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn health(s: &AppState) -> Result<i64> {
    Ok(s.store.schema_version()?)
}

/// The hub's metrics in the Prometheus text format. They name peers and count objects
/// per TLP, so only a coordinator token reads them (any role: give Prometheus a
/// read-only one) unless the operator made them public (`metrics_public`).
pub fn metrics_text(s: &AppState, who: &Viewer) -> Result<String> {
    if !s.config.metrics_public {
        let p = who.require()?;
        if p.org.kind != hinomi_access::OrgKind::Coordinator {
            return Err(Error::new(
                Kind::Forbidden,
                "metrics are read with a coordinator token",
            ));
        }
    }
    let mut text = s.metrics.render();
    let (orgs, st) = s.streams.stats();
    use std::fmt::Write;
    let _ = write!(
        text,
        "# HELP hinomi_match_state_orgs Organizations with matching state (patterns binding several observations).\n\
         # TYPE hinomi_match_state_orgs gauge\nhinomi_match_state_orgs {orgs}\n\
         # HELP hinomi_match_observations_total Observations matched.\n\
         # TYPE hinomi_match_observations_total counter\nhinomi_match_observations_total {}\n\
         # HELP hinomi_match_state_held Observations held for patterns binding several (per pattern).\n\
         # TYPE hinomi_match_state_held gauge\nhinomi_match_state_held {}\n\
         # HELP hinomi_match_state_bytes Estimated memory of the held observations.\n\
         # TYPE hinomi_match_state_bytes gauge\nhinomi_match_state_bytes {}\n\
         # HELP hinomi_match_state_patterns Patterns holding observations, summed over organizations.\n\
         # TYPE hinomi_match_state_patterns gauge\nhinomi_match_state_patterns {}\n\
         # HELP hinomi_match_state_expired_total Held observations dropped at the end of their window.\n\
         # TYPE hinomi_match_state_expired_total counter\nhinomi_match_state_expired_total {}\n\
         # HELP hinomi_match_state_evicted_total Held observations dropped for lack of room.\n\
         # TYPE hinomi_match_state_evicted_total counter\nhinomi_match_state_evicted_total {}\n",
        st.observations, st.held, st.bytes, st.patterns, st.expired, st.evicted
    );
    let _ = write!(
        text,
        "# HELP hinomi_blocking_busy Requests' blocking steps running now.\n\
         # TYPE hinomi_blocking_busy gauge\nhinomi_blocking_busy {}\n\
         # HELP hinomi_blocking_limit Blocking steps allowed at once (max_blocking).\n\
         # TYPE hinomi_blocking_limit gauge\nhinomi_blocking_limit {}\n\
         # HELP hinomi_blocking_peak The most blocking steps that ran at once.\n\
         # TYPE hinomi_blocking_peak gauge\nhinomi_blocking_peak {}\n\
         # HELP hinomi_blocking_refused_total Requests answered 503 for want of a worker.\n\
         # TYPE hinomi_blocking_refused_total counter\nhinomi_blocking_refused_total {}\n",
        s.work.busy(),
        s.work.limit(),
        s.work.peak(),
        s.work.refused()
    );
    Ok(text)
}
