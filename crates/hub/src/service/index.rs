//! The hub's indicator index: every current STIX-pattern indicator compiled into one
//! bulk matcher, kept up to date as indicators are added, revoked or deleted (on this
//! node, and on others through the store's change notifications).
//!
//! The index knows each indicator's handling (owner, TLP, audience) so matching can
//! drop what the access rule refuses before the store is asked; what is reported is
//! still decided by [`super::objects::read`].

use std::collections::HashMap;
use std::sync::RwLock;

use hinomi_pattern::bulk::BulkMatcher;
use hinomi_pattern::Pattern;
use hinomi_stix::{Timestamp, Tlp};
use hinomi_store::{IndicatorRow, StoreError};
use serde_json::Value;

use crate::AppState;

/// Handling of an indexed indicator.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    version: i64,
    pub(super) owner_org: String,
    pub(super) tlp: Tlp,
    pub(super) audience: Vec<String>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) matcher: BulkMatcher,
    pub(super) meta: HashMap<String, Meta>,
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

    /// Whether no indicator is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
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
pub fn refresh(state: &AppState, id: &str) -> Result<(), StoreError> {
    refresh_many(state, &[id.to_string()])
}

/// Re-reads indicators that changed on another node (a NOTIFY), skipping those this
/// node stored itself: it queued them already.
pub fn refresh_notified(state: &AppState, ids: Vec<String>) -> Result<(), StoreError> {
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
pub fn refresh_many(state: &AppState, ids: &[String]) -> Result<(), StoreError> {
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
