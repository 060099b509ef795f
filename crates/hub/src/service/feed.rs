//! An organization's live feed: the events the hub wrote for it (warnings published,
//! updated, withdrawn; acknowledgements asked), in order, each with its sequence
//! number so a reader can resume without loss or repeats.

use hinomi_store::StreamEvent;

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// Where a new reader of the feed starts: after `resume_after` if given, else after
/// the newest event.
pub fn start(s: &AppState, who: &Viewer, resume_after: Option<i64>) -> Result<i64> {
    who.require()?;
    match resume_after {
        Some(n) => Ok(n),
        None => Ok(s.store.last_stream_seq()?),
    }
}

/// Up to `limit` events of the caller's feed after sequence number `after`.
/// Unauthorized once the caller's token has been revoked: a stream asks on every look,
/// so it ends within a second or two of the revocation.
pub fn events(s: &AppState, who: &Viewer, after: i64, limit: usize) -> Result<Vec<StreamEvent>> {
    let p = who.require()?;
    if !s.store.token_active(&p.token_id)? {
        return Err(Error::new(
            Kind::Unauthorized,
            "the token of this stream has been revoked",
        ));
    }
    Ok(s.store.stream_events(&p.org.id, after, limit as _)?)
}
