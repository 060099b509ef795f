//! Every write of STIX objects into a collection through TAXII: a member's or the
//! coordinator's (the write rule, [`super::objects::add`]) and a peer hub's push (the
//! federation ingest with this hub's handling, [`super::federation::ingest_status`]).
//! The status resource of each write is kept for the writer's later `status` reads.

use serde_json::Value;

use hinomi_access::OrgKind;
use hinomi_store::Collection;

use super::{federation, objects, Result, Viewer};
use crate::AppState;

/// Adds `objects` to `col` for the caller; answers the TAXII status resource.
pub fn add(s: &AppState, who: &Viewer, col: &Collection, objects: Vec<Value>) -> Result<Value> {
    let p = who.require()?.clone();
    objects::check_addable(who, col)?;
    let status = if p.org.kind == OrgKind::PeerHub {
        federation::ingest_status(&s.store, s, &p.org.id, objects)?
    } else {
        objects::add(s, who, col, objects)?
    };
    let sid = status["id"].as_str().unwrap_or("").to_string();
    s.store.save_status(&sid, &p.org.id, &status)?;
    Ok(status)
}
