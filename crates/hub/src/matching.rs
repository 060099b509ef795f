//! The hub's indicator index: every current STIX-pattern indicator compiled into one
//! bulk matcher, kept up to date as indicators are added, revoked or deleted, and the
//! `POST /api/v1/observations` endpoint that matches a member's observations against
//! it and records sightings.
//!
//! Invariant: a hit is only reported, and a sighting only written, for indicators the
//! posting organization may see; a sighting's handling is never wider than its
//! indicator's, so it reveals the indicator to nobody who may not see it.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde_json::{json, Value};

use hinomi_access::{check_write, Item, OrgKind};
use hinomi_pattern::bulk::BulkMatcher;
use hinomi_pattern::{Observations, Pattern};
use hinomi_stix::{check_object, Timestamp, Tlp, HUB_EXTENSION_ID};
use hinomi_store::{IndicatorRow, NewObject, Outcome, StoreError, SHARED_COLLECTION};

use crate::auth::caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::taxii::read_body;
use crate::Shared;

/// Handling of an indexed indicator.
#[derive(Debug, Clone)]
struct Meta {
    version: i64,
    owner_org: String,
    tlp: Tlp,
    audience: Vec<String>,
}

#[derive(Default)]
struct Inner {
    matcher: BulkMatcher,
    meta: HashMap<String, Meta>,
}

/// Every current indicator with a STIX pattern, compiled.
///
/// Ingest only queues new indicator versions (`queue`); they are compiled in one batch
/// by the next match, so bulk loads do not pay for pattern compilation on their path.
#[derive(Default)]
pub struct IndicatorIndex {
    inner: RwLock<Inner>,
    pending: std::sync::Mutex<Vec<IndicatorRow>>,
    /// Ids this node queued itself, whose change notifications it need not re-read.
    local: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Whether change notifications arrive (PostgreSQL); only then is `local` kept.
    notified: std::sync::atomic::AtomicBool,
}

impl IndicatorIndex {
    /// Builds the index from the store.
    pub fn load(store: &hinomi_store::Store) -> Result<IndicatorIndex, StoreError> {
        let index = IndicatorIndex::default();
        for row in store.latest_indicators(None)? {
            index.apply(&row, true);
        }
        Ok(index)
    }

    /// Number of indexed indicators (after compiling what is queued).
    pub fn len(&self) -> usize {
        self.flush();
        self.read().meta.len()
    }

    /// Notes ids this node is about to store, so their change notifications are not
    /// re-read from the database.
    pub fn expect_local(&self, ids: &[String]) {
        if ids.is_empty() || !self.notified.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() > 1_000_000 {
            local.clear();
        }
        local.extend(ids.iter().cloned());
    }

    /// Turns on the bookkeeping for change notifications from other nodes.
    pub fn set_notified(&self) {
        self.notified
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Undoes [`IndicatorIndex::expect_local`] after a failed write.
    pub fn forget_local(&self, ids: &[String]) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            local.remove(id);
        }
    }

    /// Queues indicator versions that were just stored.
    pub fn queue(&self, rows: Vec<IndicatorRow>) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(rows);
    }

    /// Compiles the queued versions, in the order they were stored.
    pub fn flush(&self) {
        let rows = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for row in &rows {
            self.apply(row, false);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Indexes the latest version of an indicator, or drops it when that version is
    /// revoked, expired, not a STIX pattern, or does not compile. Unless `force`, a
    /// version older than the indexed one changes nothing.
    pub fn apply(&self, row: &IndicatorRow, force: bool) {
        if !force
            && self
                .read()
                .meta
                .get(&row.stix_id)
                .is_some_and(|m| m.version > row.version)
        {
            return;
        }
        let v: Value = serde_json::from_str(&row.json).unwrap_or(Value::Null);
        let now = Timestamp::now();
        let usable = v.get("pattern_type").and_then(Value::as_str) == Some("stix")
            && !v.get("revoked").and_then(Value::as_bool).unwrap_or(false)
            && v.get("valid_until")
                .and_then(Value::as_str)
                .and_then(|t| Timestamp::parse(t).ok())
                .is_none_or(|t| t > now);
        let pattern = if usable {
            v.get("pattern")
                .and_then(Value::as_str)
                .and_then(|p| Pattern::parse(p).ok())
        } else {
            None
        };
        let mut inner = self.write();
        inner.matcher.remove(&row.stix_id);
        inner.meta.remove(&row.stix_id);
        if let Some(p) = pattern {
            inner.matcher.insert(row.stix_id.clone(), p);
            inner.meta.insert(
                row.stix_id.clone(),
                Meta {
                    version: row.version,
                    owner_org: row.owner_org.clone(),
                    tlp: row.tlp,
                    audience: row.audience.clone(),
                },
            );
        }
    }

    /// Drops an indicator id.
    pub fn remove(&self, id: &str) {
        let mut inner = self.write();
        inner.matcher.remove(id);
        inner.meta.remove(id);
    }
}

/// Re-reads one indicator from the store after it changed (added, deleted).
pub fn refresh(state: &Shared, id: &str) -> Result<(), StoreError> {
    refresh_many(state, &[id.to_string()])
}

/// Re-reads indicators that changed on another node (a NOTIFY), skipping those this
/// node stored itself: it queued them already.
pub fn refresh_notified(state: &Shared, ids: Vec<String>) -> Result<(), StoreError> {
    let ids: Vec<String> = {
        let mut local = state
            .indicators
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        ids.into_iter().filter(|id| !local.remove(id)).collect()
    };
    if ids.is_empty() {
        return Ok(());
    }
    refresh_many(state, &ids)
}

/// Re-reads indicators from the store after they changed, in one query per 500 ids.
pub fn refresh_many(state: &Shared, ids: &[String]) -> Result<(), StoreError> {
    state.indicators.flush();
    let rows = state.store.latest_indicators_of(ids)?;
    for row in &rows {
        state.indicators.apply(row, true);
    }
    for id in ids {
        if !rows.iter().any(|r| &r.stix_id == id) {
            state.indicators.remove(id);
        }
    }
    Ok(())
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, m)
}

/// `POST /api/v1/observations[?tlp=…]`: a STIX bundle (or `{"objects": […]}`) of
/// observed-data and the objects they reference. Answers the sightings of the
/// indicators this organization may see, each stored in the shared collection.
pub async fn post_observations(
    State(s): State<Shared>,
    headers: HeaderMap,
    query: axum::extract::RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?.clone();
    if !p.role.can_write() || p.org.kind == OrgKind::PeerHub {
        return Err(ApiError::new(
            Code::Forbidden,
            "this token may not submit observations",
        ));
    }
    let requested = match query.0.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("tlp=").map(str::to_string))
    }) {
        Some(t) => t
            .parse::<Tlp>()
            .map_err(|e| ApiError::new(Code::InvalidFilter, format!("tlp: {e}")))?,
        None => s.config.default_tlp,
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with("application/json")
        || ct.starts_with("application/stix+json")
        || ct.starts_with("application/taxii+json"))
    {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send a STIX bundle as application/json, not '{ct}'"),
        ));
    }
    let bytes = read_body(body, &headers, s.config.max_content_length).await?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("request body: {e}")))?;
    let objects = match doc.get("objects") {
        Some(Value::Array(a)) => a.clone(),
        _ => {
            return Err(ApiError::new(
                Code::Unprocessable,
                "the body must be a STIX bundle or an object with an 'objects' list",
            ))
        }
    };
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

    // Match, then keep only what this organization may see.
    let scope = c.scope();
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

    // The coordinator and its reader scope, so it is named where the rule lets it see
    // the indicator.
    let coordinator = s
        .db(|st| match st.coordinator()? {
            Some(co) => {
                let scope = crate::inventory::scope_of(&co, &st.communities()?);
                Ok(Some((co, scope)))
            }
            None => Ok(None),
        })
        .await?;
    let owners: Vec<String> = hits.iter().map(|(_, m)| m.owner_org.clone()).collect();
    let owner_identities = s
        .db(move |st| {
            let mut m = HashMap::new();
            for o in owners {
                if let std::collections::hash_map::Entry::Vacant(e) = m.entry(o.clone()) {
                    e.insert(st.organization(&o)?.identity_id);
                }
            }
            Ok(m)
        })
        .await?;

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
            .map_err(|e| ApiError::internal(format!("generated sighting: {e}")))?;
        check_write(
            &p.org.identity_id,
            checked.created_by_ref.as_deref(),
            tlp,
            &checked.audience,
        )
        .map_err(|e| ApiError::internal(format!("generated sighting: {e}")))?;
        new_objects.push(NewObject::new(checked, tlp));
        sightings.push(sighting);
    }
    if !new_objects.is_empty() {
        let org = p.org.id.clone();
        let outcomes = s
            .db(move |st| st.add_objects(SHARED_COLLECTION, &org, new_objects))
            .await?;
        if let Some(Outcome::Refused(m)) =
            outcomes.iter().find(|o| matches!(o, Outcome::Refused(_)))
        {
            return Err(ApiError::internal(format!("storing a sighting: {m}")));
        }
    }
    Ok(Json(json!({
        "observations": set.len(),
        "indicators_indexed": s.indicators.len(),
        "sightings": sightings,
    })))
}
