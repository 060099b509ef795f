//! Objects in collections: the one read function, lookups across collections, writes
//! (with the write rule), deletes and the status of a write.
//!
//! Invariant: [`read`] is the only function that reads stored objects for a caller; the
//! TAXII objects, object, versions and manifest resources, the REST object lookup
//! ([`latest`]) and observation matching ([`visible_ids`]) all go through it.

use std::collections::HashSet;

use serde_json::{json, Value};

use hinomi_access::check_write;
use hinomi_pattern::Pattern;
use hinomi_stix::{check_object, Timestamp, Tlp};
use hinomi_store::{
    Collection, Cursor, IndicatorRow, NewObject, ObjectQuery, Order, Outcome, Page, Role, Store,
    StoredObject, VersionFilter, PUBLIC_COLLECTION,
};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// A read of one collection: the TAXII 2.1 filters, already parsed.
#[derive(Debug, Clone)]
pub struct Query {
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionFilter,
    pub added_after: Option<Timestamp>,
    pub after: Option<Cursor>,
    pub limit: usize,
    pub order: Order,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            ids: vec![],
            types: vec![],
            versions: VersionFilter::default(),
            added_after: None,
            after: None,
            limit: 1000,
            order: Order::Added,
        }
    }
}

/// The collection `cid` if the caller may read or write it. Otherwise NotFound (or
/// Unauthorized for the public), so that a collection's existence is not revealed.
pub fn collection(st: &Store, who: &Viewer, cid: &str) -> Result<Collection> {
    let org = who.org();
    match st.collection(cid)? {
        Some(c) if c.can_read(org) || c.can_write(org) => Ok(c),
        _ if who.principal.is_none() => Err(Error::new(
            Kind::Unauthorized,
            format!("collection '{cid}' needs credentials, or does not exist"),
        )),
        _ => Err(Error::new(
            Kind::NotFound,
            format!("no collection '{cid}' for this organization"),
        )),
    }
}

/// The collections the caller may read or write.
pub fn collections(st: &Store, who: &Viewer) -> Result<Vec<Collection>> {
    let org = who.org();
    Ok(st
        .collections()?
        .into_iter()
        .filter(|c| c.can_read(org) || c.can_write(org))
        .collect())
}

/// Whether the caller's token may write to the collection.
pub fn can_write(who: &Viewer, col: &Collection) -> bool {
    who.principal
        .as_ref()
        .is_some_and(|p| p.role.can_write() && col.can_write(Some(&p.org)))
}

/// Forbidden unless the caller may read the collection's objects.
pub fn check_readable(who: &Viewer, col: &Collection) -> Result<()> {
    if !who.can_read(col) {
        return Err(Error::new(
            Kind::Forbidden,
            "this organization may write to the collection but not read it",
        ));
    }
    Ok(())
}

/// Forbidden unless the caller's token may write to the collection.
pub fn check_writable(who: &Viewer, col: &Collection) -> Result<()> {
    if !can_write(who, col) {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not delete objects in this collection",
        ));
    }
    Ok(())
}

/// The answer to a delete that matched nothing.
pub fn nothing_to_delete(oid: &str) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no version of '{oid}' owned by this organization matches in this collection"),
    )
}

/// THE read: a page of `col` as the caller may see it — the collection's read policy,
/// the access rule (in SQL, through the caller's scope) and, for a peer hub, its
/// sharing agreement (exclusions and anonymization).
pub fn read(st: &Store, who: &Viewer, col: &Collection, q: &Query) -> Result<Page> {
    check_readable(who, col)?;
    let mut oq = ObjectQuery::new(&col.id, &who.scope);
    oq.ids = q.ids.clone();
    oq.types = q.types.clone();
    oq.versions = q.versions.clone();
    oq.added_after = q.added_after;
    oq.after = q.after;
    oq.limit = q.limit;
    oq.order = q.order;
    let mut page = st.query_objects(&oq)?;
    who.filter_page(&mut page);
    if col.id == hinomi_store::WARNINGS_COLLECTION {
        who.hide_warning_audiences(&mut page);
    }
    Ok(page)
}

/// The latest version of object `id` that the caller may see, from any collection it
/// may read, with that collection's id.
pub fn latest(st: &Store, who: &Viewer, id: &str) -> Result<Option<(StoredObject, String)>> {
    let mut best: Option<(StoredObject, String)> = None;
    let q = Query {
        ids: vec![id.to_string()],
        limit: 1,
        ..Query::default()
    };
    for col in st.collections()? {
        if !who.can_read(&col) {
            continue;
        }
        if let Some(o) = read(st, who, &col, &q)?.items.into_iter().next() {
            if best.as_ref().is_none_or(|(b, _)| o.version > b.version) {
                best = Some((o, col.id.clone()));
            }
        }
    }
    Ok(best)
}

/// Of `ids`, those the caller may see in some collection it may read.
pub fn visible_ids(st: &Store, who: &Viewer, ids: &[String]) -> Result<HashSet<String>> {
    let mut seen = HashSet::new();
    if ids.is_empty() {
        return Ok(seen);
    }
    for col in st.collections()? {
        if !who.can_read(&col) {
            continue;
        }
        for chunk in ids.chunks(500) {
            let q = Query {
                ids: chunk.to_vec(),
                limit: chunk.len(),
                ..Query::default()
            };
            seen.extend(
                read(st, who, &col, &q)?
                    .items
                    .into_iter()
                    .map(|o| o.stix_id),
            );
        }
    }
    Ok(seen)
}

fn failure(v: &Value, message: String) -> Value {
    json!({
        "id": v.get("id").and_then(Value::as_str).unwrap_or(""),
        "version": v.get("modified").or_else(|| v.get("created")).and_then(Value::as_str).unwrap_or(""),
        "message": message,
    })
}

/// Adds objects to a collection for a member or the coordinator: each one checked
/// (STIX, the write rule, the public collection's CLEAR-only rule), the rest stored in
/// one transaction. Answers a TAXII status resource.
pub fn add(s: &AppState, who: &Viewer, col: &Collection, objects: Vec<Value>) -> Result<Value> {
    let p = who.require()?;
    check_addable(who, col)?;
    let total = objects.len();
    add_checked(s, &p.org, col, objects, total)
}

/// Forbidden unless the caller's token may add objects to the collection.
pub fn check_addable(who: &Viewer, col: &Collection) -> Result<()> {
    if !can_write(who, col) {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not add objects to this collection",
        ));
    }
    Ok(())
}

/// Whether `v` is the TLP 2.0 or TLP 1.0 marking definition of `level` as published
/// (its name or its `definition.tlp` says that level).
pub(crate) fn is_builtin_tlp(level: Tlp, v: &Value) -> bool {
    if v["name"].as_str() == Some(level.label()) {
        return true;
    }
    let tlp1 = match level {
        Tlp::Clear => "white",
        Tlp::Green => "green",
        Tlp::Amber => "amber",
        Tlp::Red => "red",
        Tlp::AmberStrict => return false,
    };
    v["definition_type"] == "tlp" && v["definition"]["tlp"] == tlp1
}

/// Checks one submitted object as every write path does (TAXII, incident reports):
/// STIX validation with the property path, the built-in TLP marking definitions (a
/// genuine copy answers `None`: acknowledged, not stored), marking definitions being the
/// coordinator's, parseable STIX patterns, the write rule and the public collection's
/// TLP:CLEAR. The error names `objects[i]` and the property.
pub fn check_submitted(
    s: &AppState,
    org: &hinomi_store::Organization,
    public: bool,
    i: usize,
    raw: Value,
) -> std::result::Result<Option<NewObject>, String> {
    let default_tlp = s.config.default_tlp;
    let checked = match check_object(raw) {
        Ok(c) => c,
        Err(e) => {
            return Err(if e.path.is_empty() {
                format!("objects[{i}]: {}", e.message)
            } else {
                format!("objects[{i}].{}: {}", e.path, e.message)
            })
        }
    };
    if checked.object_type == "marking-definition" {
        if let Some(level) = Tlp::from_marking_id(&checked.id) {
            if is_builtin_tlp(level, &checked.value) {
                return Ok(None);
            }
            return Err(format!(
                "objects[{i}]: {} is the id of the built-in {} marking definition; it cannot be redefined",
                checked.id,
                level.label()
            ));
        }
        if org.kind != hinomi_access::OrgKind::Coordinator {
            return Err(format!(
                "objects[{i}]: only the coordinator defines marking definitions"
            ));
        }
    }
    // An indicator whose STIX pattern does not parse could never match: refused with
    // the parser's error rather than stored and silently left out of matching.
    let mut values = None;
    if checked.object_type == "indicator" && checked.value["pattern_type"] == "stix" {
        match checked.value["pattern"].as_str().map(Pattern::parse) {
            Some(Err(e)) => return Err(format!("objects[{i}].pattern: {e}")),
            Some(Ok(p)) => values = Some(super::correlation::pattern_values(&p)),
            None => {}
        }
    }
    let tlp = checked.tlp.unwrap_or(default_tlp);
    if let Err(e) = check_write(
        &org.identity_id,
        checked.created_by_ref.as_deref(),
        tlp,
        &checked.audience,
    ) {
        return Err(format!("objects[{i}]: {e}"));
    }
    if public && tlp != Tlp::Clear {
        return Err(format!("objects[{i}]: only TLP:CLEAR objects may be added to the public collection (this one is {tlp})"));
    }
    // The correlation values, from the pattern parsed above rather than a second parse.
    let values = values.unwrap_or_else(|| super::correlation::values_of(&checked.value));
    Ok(Some(
        NewObject::new(checked, tlp).with_observables(values, None),
    ))
}

/// What the indicator index needs of a new object, if it is an indicator owned by `org`.
pub(crate) fn indicator_row(org: &str, o: &NewObject) -> Option<IndicatorRow> {
    (o.checked.object_type == "indicator").then(|| IndicatorRow {
        stix_id: o.checked.id.clone(),
        owner_org: org.to_string(),
        tlp: o.tlp,
        audience: o.checked.audience.clone(),
        version: o.checked.version.map_or(0, Timestamp::micros),
        json: o.json.clone(),
    })
}

fn add_checked(
    s: &AppState,
    org: &hinomi_store::Organization,
    col: &Collection,
    objects: Vec<Value>,
    total: usize,
) -> Result<Value> {
    let public = col.id == PUBLIC_COLLECTION;
    let mut failures: Vec<Value> = Vec::new();
    let mut accepted: Vec<(usize, NewObject)> = Vec::new();
    let mut builtin: Vec<Value> = Vec::new();
    for (i, raw) in objects.into_iter().enumerate() {
        let shown = raw.clone();
        match check_submitted(s, org, public, i, raw) {
            Ok(Some(o)) => accepted.push((i, o)),
            Ok(None) => {
                let label = shown["id"]
                    .as_str()
                    .and_then(Tlp::from_marking_id)
                    .map_or("this TLP marking definition", Tlp::label);
                builtin.push(json!({"id": shown["id"], "version": "",
                    "message": format!("{label} is built in; nothing was stored")}));
            }
            Err(m) => failures.push(failure(&shown, m)),
        }
    }

    let mut successes: Vec<Value> = builtin;
    let mut indicator_rows: Vec<IndicatorRow> = Vec::new();
    if !accepted.is_empty() {
        let meta: Vec<(usize, String, String, Tlp)> = accepted
            .iter()
            .map(|(i, o)| {
                let version = o.checked.version.map(|t| t.to_string()).unwrap_or_default();
                (*i, o.checked.id.clone(), version, o.tlp)
            })
            .collect();
        // What the indicator index needs of each indicator, taken before the objects move.
        let rows: Vec<Option<IndicatorRow>> = accepted
            .iter()
            .map(|(_, o)| indicator_row(&org.id, o))
            .collect();
        let objs: Vec<NewObject> = accepted.into_iter().map(|(_, o)| o).collect();
        // Mark our own indicators before the write: their change notifications can
        // arrive before this function resumes.
        let own: Vec<String> = rows.iter().flatten().map(|r| r.stix_id.clone()).collect();
        s.indicators.expect_local(&own);
        let outcomes = match s.store.add_objects(&col.id, &org.id, objs) {
            Ok(o) => o,
            Err(e) => {
                s.indicators.forget_local(&own);
                return Err(e.into());
            }
        };
        for (((i, id, version, tlp), outcome), row) in meta.into_iter().zip(outcomes).zip(rows) {
            match outcome {
                Outcome::Added => {
                    indicator_rows.extend(row);
                    s.metrics.objects_added(tlp);
                    successes.push(json!({"id": id, "version": version}));
                }
                Outcome::Duplicate => {
                    s.metrics.objects_duplicate(1);
                    successes.push(json!({"id": id, "version": version, "message": "this version was already stored; nothing changed"}));
                }
                Outcome::Refused(m) => failures.push(
                    json!({"id": id, "version": version, "message": format!("objects[{i}]: {m}")}),
                ),
            }
        }
    }
    if !indicator_rows.is_empty() {
        s.indicators.queue(indicator_rows);
    }
    if !successes.is_empty() {
        s.wake_federation();
    }
    s.metrics.objects_refused(failures.len() as u64);
    let mut status = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "status": "complete",
        "request_timestamp": Timestamp::now().to_string(),
        "total_count": total,
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": 0,
    });
    if !successes.is_empty() {
        status["successes"] = Value::Array(successes);
    }
    if !failures.is_empty() {
        status["failures"] = Value::Array(failures);
    }
    Ok(status)
}

/// Deletes the caller's versions of `oid` in `col` that match `versions` (the
/// coordinator's admins delete any); answers how many went.
pub fn delete(
    s: &AppState,
    who: &Viewer,
    col: &Collection,
    oid: &str,
    versions: &VersionFilter,
) -> Result<usize> {
    let p = who.require()?;
    check_writable(who, col)?;
    let owner = (p.role != Role::Admin).then_some(p.org.id.as_str());
    let n = s
        .store
        .delete_object(&col.id, oid, owner, versions, &p.org.id)?;
    if n == 0 {
        return Err(nothing_to_delete(oid));
    }
    s.wake_federation();
    if oid.starts_with("indicator--") {
        super::index::refresh(s, oid)?;
    }
    Ok(n)
}

/// The status resource of an earlier write by the caller's organization.
pub fn status(st: &Store, who: &Viewer, id: &str) -> Result<Value> {
    let p = who.require()?;
    match st.status(id)? {
        Some((org, body)) if org == p.org.id || p.role == Role::Admin => Ok(body),
        _ => Err(Error::new(
            Kind::NotFound,
            format!("no status '{id}' for this organization"),
        )),
    }
}
