//! Every write of STIX objects into a collection through TAXII: a member's or the
//! coordinator's (the write rule, [`super::objects::add`]) and a peer hub's push (the
//! federation ingest with this hub's handling, [`super::federation::ingest_status`]).
//! The status resource of each write is kept for the writer's later `status` reads.

use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::Collection;

use super::{federation, objects, Error, Kind, Result, Viewer};
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

/// Shares observables an analyst typed or pasted (one per line, as
/// [`super::incidents::observables`] reads them) as STIX indicators in the shared
/// collection, under `tlp`, named `name`: one indicator per observable, written through
/// the same checks as any TAXII write. Answers the TAXII status resource.
pub fn share_observables(
    s: &AppState,
    who: &Viewer,
    name: &str,
    description: &str,
    text: &str,
    tlp: &str,
) -> Result<Value> {
    let p = who.require()?.clone();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 500 {
        return Err(Error::new(
            Kind::BadRequest,
            "name: between 1 and 500 characters",
        ));
    }
    if description.len() > 20_000 {
        return Err(Error::new(
            Kind::BadRequest,
            "description: at most 20000 bytes",
        ));
    }
    let tlp: hinomi_stix::Tlp = tlp.parse().map_err(|_| {
        Error::new(
            Kind::BadRequest,
            format!("tlp: '{tlp}' is not a TLP 2.0 label"),
        )
    })?;
    let scos = super::incidents::observables(text)?;
    if scos.is_empty() {
        return Err(Error::new(
            Kind::BadRequest,
            "observables: give at least one, one per line",
        ));
    }
    let now = s.config.clock.now().to_string();
    let objects: Vec<Value> = scos
        .iter()
        .filter_map(|o| {
            let t = o["type"].as_str()?;
            let pattern = super::redistribution::observable_pattern(t, o)?;
            let mut v = json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": now, "modified": now, "created_by_ref": p.org.identity_id,
                "name": name, "pattern": pattern, "pattern_type": "stix", "valid_from": now,
                "object_marking_refs": [tlp.marking_id()],
            });
            if !description.trim().is_empty() {
                v["description"] = json!(description);
            }
            Some(v)
        })
        .collect();
    let col = objects::collection(&s.store, who, hinomi_store::SHARED_COLLECTION)?;
    add(s, who, &col, objects)
}
