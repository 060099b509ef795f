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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};

use hinomi_access::{check_write, Item, OrgKind};
use hinomi_pattern::bulk::Scratch;
use hinomi_pattern::stream::{StreamOptions, StreamState, StreamStats};
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
}

impl Default for MatchingConfig {
    fn default() -> Self {
        MatchingConfig {
            window: Duration::from_secs(3600),
            max_per_pattern: 1000,
            max_held_per_org: 20_000,
            max_bytes_per_org: 32 << 20,
        }
    }
}

/// Each organization's matching state, created at its first observation.
#[derive(Default)]
pub struct Streams {
    by_org: Mutex<HashMap<String, Arc<Mutex<StreamState>>>>,
}

impl Streams {
    fn of(&self, org: &str, config: &MatchingConfig) -> Arc<Mutex<StreamState>> {
        let mut map = self.by_org.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(org.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(StreamState::new(StreamOptions {
                    default_window: config.window,
                    max_per_pattern: config.max_per_pattern,
                    max_held: config.max_held_per_org,
                    max_bytes: config.max_bytes_per_org,
                })))
            })
            .clone()
    }

    /// The counters of every organization's state, summed, and how many there are.
    pub fn stats(&self) -> (usize, StreamStats) {
        let states: Vec<_> = self
            .by_org
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut sum = StreamStats::default();
        for st in &states {
            let s = st.lock().unwrap_or_else(PoisonError::into_inner).stats();
            sum.observations += s.observations;
            sum.held += s.held;
            sum.bytes += s.bytes;
            sum.patterns += s.patterns;
            sum.expired += s.expired;
            sum.evicted += s.evicted;
        }
        (states.len(), sum)
    }
}

/// An observation bound in a hit: from this request, or held from an earlier one.
#[derive(Clone)]
struct Bound {
    id: Option<String>,
    first: hinomi_pattern::Timestamp,
    last: hinomi_pattern::Timestamp,
    count: u64,
}

impl Bound {
    fn of(o: &hinomi_pattern::Observation<'_>) -> Bound {
        Bound {
            id: o.id().map(str::to_string),
            first: o.first_observed(),
            last: o.last_observed(),
            count: o.number_observed(),
        }
    }
}

/// Adds `bound` to the hit of `indicator` (each observation once).
fn bind(hits: &mut BTreeMap<String, Vec<Bound>>, indicator: &str, bound: Vec<Bound>) {
    let at = hits.entry(indicator.to_string()).or_default();
    for b in bound {
        let dup = b.id.is_some()
            && at
                .iter()
                .any(|x| x.id == b.id && x.first == b.first && x.last == b.last);
        if !dup {
            at.push(b);
        }
    }
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

    // Match each observation in order, with this organization's earlier ones for the
    // patterns that bind several; then keep only what it may see: the access rule first
    // (in memory), then the one read (collections it may read, export view).
    let scope = &who.scope;
    let mut found: BTreeMap<String, Vec<Bound>> = BTreeMap::new();
    let mut notes = Vec::new();
    s.indicators.flush();
    let mut hits = Vec::new();
    {
        let inner = s.indicators.read();
        let stream = s.streams.of(&p.org.id, &s.config.matching);
        let mut state = stream.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut scratch, mut single, mut several) = (Scratch::new(), Vec::new(), Vec::new());
        for (i, o) in set.iter().enumerate() {
            single.clear();
            inner
                .matcher
                .match_observation_stream(&set, i, &mut scratch, &mut single);
            for hit in single.iter().filter(|h| h.result.is_ok()) {
                bind(&mut found, hit.indicator, vec![Bound::of(o)]);
            }
            if scratch.several().is_empty() {
                state.note(1, o.first_observed());
                continue;
            }
            // Held on its own (the observed-data and what it references), so the state
            // keeps nothing else of the request.
            let Some(record) = set.detached(i).map(Arc::new) else {
                continue;
            };
            let Ok(alone) = Observations::from_value(&record) else {
                continue;
            };
            several.clear();
            state.advance(
                &inner.matcher,
                &record,
                &alone,
                0,
                scratch.several(),
                &mut several,
            );
            for hit in several.drain(..) {
                match hit.result {
                    Ok(earlier) => {
                        let mut bound = vec![Bound::of(o)];
                        bound.extend(earlier.iter().map(|h| Bound {
                            id: h.id().map(str::to_string),
                            first: h.first_observed(),
                            last: h.last_observed(),
                            count: h.number_observed(),
                        }));
                        bind(&mut found, hit.indicator, bound);
                    }
                    Err(EvalError::StateFull(n)) => notes.push((hit.indicator.to_string(), n)),
                    Err(_) => {}
                }
            }
        }
        for (indicator, bound) in found {
            let Some(meta) = inner.meta.get(&indicator) else {
                continue;
            };
            let item = Item {
                owner_org: &meta.owner_org,
                tlp: meta.tlp,
                audience: &meta.audience,
            };
            if scope.allows(&item) {
                hits.push((indicator, bound, meta.clone()));
            }
        }
        notes.retain(|(i, _)| {
            inner.meta.get(i).is_some_and(|meta| {
                scope.allows(&Item {
                    owner_org: &meta.owner_org,
                    tlp: meta.tlp,
                    audience: &meta.audience,
                })
            })
        });
    }
    let candidates: Vec<String> = hits
        .iter()
        .map(|(h, _, _)| h.clone())
        .chain(notes.iter().map(|(i, _)| i.clone()))
        .collect();
    let readable = super::objects::visible_ids(&s.store, who, &candidates)?;
    hits.retain(|(h, _, _)| readable.contains(h));

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
            e.insert(st.organization(&o)?.identity_id);
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
    // Only for indicators it may see: a full state names the indicator.
    let notes: Vec<String> = notes
        .into_iter()
        .filter(|(i, _)| readable.contains(i))
        .map(|(i, n)| {
            format!("{i}: more than {n} of your observations were waiting for the rest of this pattern; the oldest were dropped, and matches with them will not be found")
        })
        .collect();
    if !notes.is_empty() {
        answer["warnings"] = json!(notes);
    }
    Ok(answer)
}
