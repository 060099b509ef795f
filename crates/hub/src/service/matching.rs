//! Matching a member's observations against the indicator index ([`observe`]), which
//! records sightings.
//!
//! Patterns that bind several observations (`[a] AND [b]`, `FOLLOWEDBY`, `REPEATS`)
//! match across a member's requests: each organization has its own [`StreamState`]
//! ([`Streams`]), holding its earlier observations that may take part in such a match,
//! bounded by time (the pattern's `WITHIN`, or [`MatchingConfig::window`]) and memory.
//!
//! Invariants:
//! - a hit is only reported, and a sighting only written, for indicators the posting
//!   organization may see through [`super::objects::read`]; a sighting's handling is
//!   never wider than its indicator's, so it reveals the indicator to nobody who may
//!   not see it;
//! - an organization's observations are only ever matched with its own: states never
//!   mix organizations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};

use hinomi_access::{check_write, Item, OrgKind};
use hinomi_pattern::bulk::{Candidate, Scratch};
use hinomi_pattern::stream::{Held, StreamOptions, StreamState, StreamStats};
use hinomi_pattern::{EvalError, Observations};
use hinomi_stix::{check_object, Timestamp, Tlp, HUB_EXTENSION_ID};
use hinomi_store::{NewObject, Outcome, SHARED_COLLECTION};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

/// Limits of the per-organization matching state.
#[derive(Debug, Clone)]
pub struct MatchingConfig {
    /// How long an observation is held for patterns without a top-level `WITHIN`.
    pub window: Duration,
    /// Most observations held for one pattern, per organization.
    pub max_per_pattern: usize,
    /// Most observations held per organization (one held for two patterns counts
    /// twice).
    pub max_held_per_org: usize,
    /// Most memory an organization's held observations take (estimated).
    pub max_bytes_per_org: usize,
    /// Most held observations evaluated with arriving ones in one request; past it the
    /// rest of the request is matched within itself only.
    pub max_evaluated_per_request: u64,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        MatchingConfig {
            window: Duration::from_secs(3600),
            max_per_pattern: 1000,
            max_held_per_org: 20_000,
            max_bytes_per_org: 32 << 20,
            max_evaluated_per_request: 1_000_000,
        }
    }
}

/// Objects of the request one held observation may carry (itself and what it reaches).
const MAX_CARRIED: usize = 1000;

/// Observations dated further ahead of the hub's clock than this are matched within
/// their request but never move an organization's state (whose time only advances).
const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Each organization's matching state, created at its first observation.
#[derive(Default)]
pub struct Streams {
    by_org: Mutex<HashMap<String, Arc<Mutex<StreamState>>>>,
    /// Counters of the states dropped when empty (so that totals never go down).
    retired: Mutex<StreamStats>,
}

fn fresh(config: &MatchingConfig) -> StreamState {
    StreamState::new(StreamOptions {
        default_window: config.window,
        max_per_pattern: config.max_per_pattern,
        max_held: config.max_held_per_org,
        max_bytes: config.max_bytes_per_org,
    })
}

fn add(sum: &mut StreamStats, s: &StreamStats) {
    sum.observations += s.observations;
    sum.held += s.held;
    sum.bytes += s.bytes;
    sum.patterns += s.patterns;
    sum.expired += s.expired;
    sum.evicted += s.evicted;
    sum.evaluated += s.evaluated;
}

/// An organization's state, locked; a state left poisoned by a panic starts afresh
/// (what it held may be what made the panic).
fn lock<'s>(state: &'s Mutex<StreamState>, config: &MatchingConfig) -> MutexGuard<'s, StreamState> {
    match state.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            *g = fresh(config);
            state.clear_poison();
            g
        }
    }
}

impl Streams {
    fn of(&self, org: &str, config: &MatchingConfig) -> Arc<Mutex<StreamState>> {
        let mut map = self.by_org.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(org) {
            // A new organization's state: the empty states of others go first, so the
            // map holds the organizations with something held, and this one.
            let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, st| match st.try_lock() {
                Ok(g) if g.stats().held == 0 => {
                    add(&mut retired, &g.stats());
                    false
                }
                _ => true,
            });
            map.insert(org.to_string(), Arc::new(Mutex::new(fresh(config))));
        }
        map[org].clone()
    }

    /// The counters of every organization's state, summed (with those of states
    /// dropped when empty), and how many states there are.
    pub fn stats(&self) -> (usize, StreamStats) {
        let states: Vec<_> = self
            .by_org
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut sum = *self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        for st in &states {
            add(
                &mut sum,
                &st.lock().unwrap_or_else(PoisonError::into_inner).stats(),
            );
        }
        (states.len(), sum)
    }
}

/// An observation bound in a hit: from this request, or held from an earlier one
/// (with the TLP it was posted under).
#[derive(Clone)]
struct Bound {
    id: Option<String>,
    first: hinomi_pattern::Timestamp,
    last: hinomi_pattern::Timestamp,
    count: u64,
    tlp: Tlp,
}

impl Bound {
    fn of(o: &hinomi_pattern::Observation<'_>, tlp: Tlp) -> Bound {
        Bound {
            id: o.id().map(str::to_string),
            first: o.first_observed(),
            last: o.last_observed(),
            count: o.number_observed(),
            tlp,
        }
    }

    fn held(h: &Held) -> Bound {
        // The TLP it was posted under is in its detached record; Red if unreadable.
        let tlp = h
            .record()
            .get(h.index())
            .and_then(|od| od["object_marking_refs"][0].as_str())
            .and_then(Tlp::from_marking_id)
            .unwrap_or(Tlp::Red);
        Bound {
            id: h.id().map(str::to_string),
            first: h.first_observed(),
            last: h.last_observed(),
            count: h.number_observed(),
            tlp,
        }
    }

    fn key(&self) -> Option<(String, i128, i128)> {
        let id = self.id.clone()?;
        Some((id, self.first.as_nanos(), self.last.as_nanos()))
    }
}

/// The observations bound to one indicator, each once.
#[derive(Default)]
struct Hit {
    bound: Vec<Bound>,
    seen: HashSet<(String, i128, i128)>,
}

/// Adds `bound` to the hit of `indicator`.
fn bind(hits: &mut BTreeMap<String, Hit>, indicator: &str, bound: impl IntoIterator<Item = Bound>) {
    let at = hits.entry(indicator.to_string()).or_default();
    for b in bound {
        if b.key().is_none_or(|k| at.seen.insert(k)) {
            at.bound.push(b);
        }
    }
}

/// What the index found for one observation of a request: indicators it matches
/// alone, and candidates that may bind it with others (with their ids, to check that
/// the index did not change before they are verified).
struct Arrival {
    single: Vec<String>,
    several: Vec<(Candidate, String)>,
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

    // 1. The index, for every observation; the patterns binding several evaluated over
    // the whole request, as one observation set. Only what this organization may see
    // (the access rule, in memory) is kept, so nothing it may not see is held for it
    // or uses its state's room.
    let scope = &who.scope;
    let may_see = |meta: &super::index::Meta| {
        scope.allows(&Item {
            owner_org: &meta.owner_org,
            tlp: meta.tlp,
            audience: &meta.audience,
        })
    };
    let mut found: BTreeMap<String, Hit> = BTreeMap::new();
    let mut arrivals = Vec::with_capacity(set.len());
    let mut metas = HashMap::new();
    s.indicators.flush();
    {
        let inner = s.indicators.read();
        let (mut scratch, mut single) = (Scratch::new(), Vec::new());
        let mut several_in_request = Vec::new();
        for i in 0..set.len() {
            single.clear();
            inner
                .matcher
                .match_observation_stream(&set, i, &mut scratch, &mut single);
            let mut visible = |id: &str| match inner.meta.get(id) {
                Some(meta) if may_see(meta) => {
                    metas.entry(id.to_string()).or_insert_with(|| meta.clone());
                    true
                }
                _ => false,
            };
            let single: Vec<String> = single
                .iter()
                .filter(|h| h.result.is_ok() && visible(h.indicator))
                .map(|h| h.indicator.to_string())
                .collect();
            let several: Vec<(Candidate, String)> = scratch
                .several()
                .iter()
                .filter_map(|&c| {
                    let id = inner.matcher.candidate_id(c)?;
                    visible(id).then(|| (c, id.to_string()))
                })
                .collect();
            several_in_request.extend(several.iter().map(|(c, _)| *c));
            arrivals.push(Arrival { single, several });
        }
        for hit in inner.matcher.match_candidates(&several_in_request, &set) {
            let bound = hit.observations.iter().filter_map(|&i| set.get(i));
            bind(
                &mut found,
                &hit.indicator,
                bound.map(|o| Bound::of(o, requested)),
            );
        }
    }
    // 2. The one read: indicators in collections it may read (export view).
    let ids: Vec<String> = metas.keys().cloned().collect();
    let readable = super::objects::visible_ids(&s.store, who, &ids)?;

    // 3. In order, each observation with this organization's earlier ones. Its state is
    // locked before the index is read, so its requests queue without holding the index.
    let mut notes = Vec::new();
    let mut alone = [0usize; 3]; // dated ahead, too many objects, over the budget
    let config = &s.config.matching;
    let stream = s.streams.of(&p.org.id, config);
    {
        let mut state = lock(&stream, config);
        let before = state.stats();
        let inner = s.indicators.read();
        let ahead = s.config.clock.now().micros() as i128 * 1000 + MAX_AHEAD.as_nanos() as i128;
        let mut carried = 4 * objects.len() + MAX_CARRIED;
        let mut several = Vec::new();
        for (i, (o, arrival)) in set.iter().zip(&arrivals).enumerate() {
            for id in arrival.single.iter().filter(|id| readable.contains(*id)) {
                bind(&mut found, id, [Bound::of(o, requested)]);
            }
            if o.first_observed().as_nanos() > ahead {
                alone[0] += 1;
                continue;
            }
            let candidates: Vec<Candidate> = arrival
                .several
                .iter()
                .filter(|(c, id)| {
                    readable.contains(id) && inner.matcher.candidate_id(*c) == Some(id.as_str())
                })
                .map(|(c, _)| *c)
                .collect();
            if candidates.is_empty() {
                state.note(1, o.first_observed());
                continue;
            }
            if state.stats().evaluated - before.evaluated > config.max_evaluated_per_request {
                alone[2] += 1;
                state.note(1, o.first_observed());
                continue;
            }
            // Held on its own (the observed-data, marked with the TLP it was posted
            // under, and what it references), so the state keeps nothing else of the
            // request.
            let record = set.detached(i, carried.min(MAX_CARRIED)).map(|mut r| {
                r[0]["object_marking_refs"] = json!([requested.marking_id()]);
                let n = r.as_array().map_or(0, Vec::len);
                carried = carried.saturating_sub(n);
                Arc::new(r)
            });
            let Some(record) = record else {
                alone[1] += 1;
                state.note(1, o.first_observed());
                continue;
            };
            let Ok(detached) = Observations::from_value(&record) else {
                state.note(1, o.first_observed());
                continue;
            };
            several.clear();
            state.advance(
                &inner.matcher,
                &record,
                &detached,
                0,
                &candidates,
                &mut several,
            );
            for hit in several.drain(..) {
                match hit.result {
                    Ok(earlier) => {
                        let bound = std::iter::once(Bound::of(o, requested))
                            .chain(earlier.iter().map(|h| Bound::held(h)));
                        bind(&mut found, hit.indicator, bound);
                    }
                    Err(EvalError::StateFull(n)) => notes.push(format!("{}: more than {n} of your observations were waiting for the rest of this pattern; the oldest were dropped, and matches with them will not be found", hit.indicator)),
                    Err(_) => {}
                }
            }
        }
        let evicted = state.stats().evicted - before.evicted;
        if evicted > 0 && notes.is_empty() {
            notes.push(format!("{evicted} of your held observations were dropped for lack of room (matching.max_per_pattern, max_held_per_org, max_held_mib_per_org); matches with them will not be found"));
        }
    }
    for (n, why) in alone.iter().zip([
        "are dated more than a day ahead of the hub's clock",
        "reference more than 1000 objects",
        "came after this request's correlation budget was spent (split large requests)",
    ]) {
        if *n > 0 {
            notes.push(format!("{n} observed-data {why}: matched within this request only, not with your earlier or later observations"));
        }
    }
    let mut hits: Vec<(String, Vec<Bound>, super::index::Meta)> = found
        .into_iter()
        .filter(|(id, _)| readable.contains(id))
        .filter_map(|(id, hit)| {
            let meta = metas.get(&id)?.clone();
            Some((id, hit.bound, meta))
        })
        .collect();
    hits.sort_by(|a, b| a.0.cmp(&b.0));

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
    let owners: Vec<String> = hits.iter().map(|(_, _, m)| m.owner_org.clone()).collect();
    let mut owner_identities = HashMap::new();
    for o in owners {
        if let std::collections::hash_map::Entry::Vacant(e) = owner_identities.entry(o.clone()) {
            let org = st.organization(&o)?;
            // A peer hub's indicator: the sighting is a member's own observation and
            // stays here (its owner and the coordinator); whether it goes back to the
            // peer is the coordinator's decision.
            e.insert(if org.kind == OrgKind::PeerHub {
                String::new()
            } else {
                org.identity_id
            });
        }
    }

    let now = Timestamp::now().to_string();
    let mut sightings = Vec::new();
    let mut new_objects = Vec::new();
    for (indicator, bound, meta) in &hits {
        let mut refs: Vec<&str> = bound.iter().filter_map(|o| o.id.as_deref()).collect();
        refs.sort_unstable();
        refs.dedup();
        let first = bound.iter().map(|o| o.first).min();
        let last = bound.iter().map(|o| o.last).max();
        let count: u64 = bound.iter().map(|o| o.count).sum();
        // Never less restricted than the indicator or any observation bound.
        let tlp = bound
            .iter()
            .map(|b| b.tlp)
            .fold(requested.max(meta.tlp), Tlp::max);
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
            "sighting_of_ref": indicator,
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
    let mut answer = json!({
        "observations": set.len(),
        "indicators_indexed": s.indicators.len(),
        "sightings": sightings,
    });
    if !notes.is_empty() {
        answer["warnings"] = json!(notes);
    }
    Ok(answer)
}
