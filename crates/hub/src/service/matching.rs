//! Matching a member's observations against the indicator index ([`observe`]), which
//! records sightings.
//!
//! Invariant: a hit is only reported, and a sighting only written, for indicators the
//! posting organization may see through [`super::objects::read`]; a sighting's
//! handling is never wider than its indicator's, so it reveals the indicator to nobody
//! who may not see it.

use std::collections::HashMap;

use serde_json::{json, Value};

use hinomi_access::{check_write, Item, OrgKind};
use hinomi_pattern::Observations;
use hinomi_stix::{check_object, Timestamp, Tlp, HUB_EXTENSION_ID};
use hinomi_store::{NewObject, Outcome, SHARED_COLLECTION};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

/// The caller, if it may submit observations (a member token that may write).
pub fn may_observe(who: &Viewer) -> Result<&hinomi_store::Principal> {
    let p = who.require()?;
    if !p.role.can_write() || p.org.kind == OrgKind::PeerHub {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not submit observations",
        ));
    }
    Ok(p)
}

/// Matches a member's observed-data (and the objects they reference) against the
/// indicator index. Answers the sightings of the indicators this organization may see
/// (the access rule, and a collection it may read), each stored in the shared
/// collection with a handling never wider than its indicator's. `requested` is the
/// TLP the member asks for its sightings (at least each indicator's).
pub fn observe(
    s: &AppState,
    who: &Viewer,
    objects: Vec<Value>,
    requested: Option<Tlp>,
) -> Result<Value> {
    let p = may_observe(who)?.clone();
    let requested = requested.unwrap_or(s.config.default_tlp);
    for (i, o) in objects.iter().enumerate() {
        if let Err(e) = check_object(o.clone()) {
            let path = if e.path.is_empty() {
                format!("objects[{i}]")
            } else {
                format!("objects[{i}].{}", e.path)
            };
            return Err(bad(format!("{path}: {}", e.message)));
        }
    }
    let set = Observations::from_json(&objects).map_err(|e| bad(format!("observations: {e}")))?;
    if set.is_empty() {
        return Err(bad("objects: no observed-data to match"));
    }

    // Match, then keep only what this organization may see: the access rule first (in
    // memory), then the one read (collections it may read, export view).
    let scope = &who.scope;
    let mut hits = Vec::new();
    s.indicators.flush();
    {
        let inner = s.indicators.read();
        for hit in inner.matcher.match_all(&set) {
            let Some(meta) = inner.meta.get(&hit.indicator) else {
                continue;
            };
            let item = Item {
                owner_org: &meta.owner_org,
                tlp: meta.tlp,
                audience: &meta.audience,
            };
            if scope.allows(&item) {
                hits.push((hit, meta.clone()));
            }
        }
    }
    let candidates: Vec<String> = hits.iter().map(|(h, _)| h.indicator.clone()).collect();
    let readable = super::objects::visible_ids(&s.store, who, &candidates)?;
    hits.retain(|(h, _)| readable.contains(&h.indicator));

    // The coordinator and its reader scope, so it is named where the rule lets it see
    // the indicator.
    let st = &s.store;
    let coordinator = match st.coordinator()? {
        Some(co) => {
            let scope = super::org_scope(&co, &st.communities()?);
            Some((co, scope))
        }
        None => None,
    };
    let owners: Vec<String> = hits.iter().map(|(_, m)| m.owner_org.clone()).collect();
    let mut owner_identities = HashMap::new();
    for o in owners {
        if let std::collections::hash_map::Entry::Vacant(e) = owner_identities.entry(o.clone()) {
            e.insert(st.organization(&o)?.identity_id);
        }
    }

    let now = Timestamp::now().to_string();
    let mut sightings = Vec::new();
    let mut new_objects = Vec::new();
    for (hit, meta) in &hits {
        let bound: Vec<_> = hit
            .observations
            .iter()
            .filter_map(|i| set.get(*i))
            .collect();
        let refs: Vec<&str> = bound.iter().filter_map(|o| o.id()).collect();
        let first = bound.iter().map(|o| o.first_observed()).min();
        let last = bound.iter().map(|o| o.last_observed()).max();
        let count: u64 = bound.iter().map(|o| o.number_observed()).sum();
        let tlp = requested.max(meta.tlp);
        // Never wider than the indicator: its owner, its audience, and the coordinator
        // only where the coordinator may see the indicator.
        let mut audience = vec![owner_identities
            .get(&meta.owner_org)
            .cloned()
            .unwrap_or_default()];
        audience.extend(meta.audience.iter().cloned());
        if let Some((co, co_scope)) = &coordinator {
            let item = Item {
                owner_org: &meta.owner_org,
                tlp: meta.tlp,
                audience: &meta.audience,
            };
            if co_scope.allows(&item) {
                audience.push(co.identity_id.clone());
            }
        }
        audience.retain(|a| !a.is_empty());
        audience.sort();
        audience.dedup();
        let mut sighting = json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": format!("sighting--{}", uuid::Uuid::new_v4()),
            "created": now,
            "modified": now,
            "created_by_ref": p.org.identity_id,
            "sighting_of_ref": hit.indicator,
            "where_sighted_refs": [p.org.identity_id],
            "count": count.min(999_999_999),
            "object_marking_refs": [tlp.marking_id()],
            "extensions": {HUB_EXTENSION_ID: {"extension_type": "property-extension", "audience": audience}},
        });
        if !refs.is_empty() {
            sighting["observed_data_refs"] = json!(refs);
        }
        if let (Some(f), Some(l)) = (first, last) {
            sighting["first_seen"] = json!(f.to_string());
            sighting["last_seen"] = json!(l.to_string());
        }
        let checked = check_object(sighting.clone())
            .map_err(|e| Error::internal(format!("generated sighting: {e}")))?;
        check_write(
            &p.org.identity_id,
            checked.created_by_ref.as_deref(),
            tlp,
            &checked.audience,
        )
        .map_err(|e| Error::internal(format!("generated sighting: {e}")))?;
        let values = super::correlation::values_of(&checked.value);
        new_objects.push(NewObject::new(checked, tlp).with_observables(values, None));
        sightings.push(sighting);
    }
    if !new_objects.is_empty() {
        let outcomes = st.add_objects(SHARED_COLLECTION, &p.org.id, new_objects)?;
        if let Some(Outcome::Refused(m)) =
            outcomes.iter().find(|o| matches!(o, Outcome::Refused(_)))
        {
            return Err(Error::internal(format!("storing a sighting: {m}")));
        }
    }
    Ok(json!({
        "observations": set.len(),
        "indicators_indexed": s.indicators.len(),
        "sightings": sightings,
    }))
}
