//! Matching a stream of observed-data with patterns that bind several observations
//! (`[a] AND [b]`, `FOLLOWEDBY`, `REPEATS`, across records).
//!
//! A [`StreamState`] holds, per such pattern, the earlier observations that satisfied
//! one of its `[…]`s: its partial matches. Each new observation the indexes select for
//! the pattern ([`BulkMatcher::match_observation_stream`]) is evaluated together with
//! them, and a binding that holds the new observation is a match completed by it (so a
//! match is reported once, when its last observation arrives). Because the operators
//! are monotone (more observations never undo a binding), the stream reports a match
//! exactly when the observations so far, taken as one set, first satisfy the pattern,
//! as long as the held observations are within the window.
//!
//! The state is bounded:
//! - time: an observation is dropped for a pattern once the stream's newest
//!   `first_observed` is more than the pattern's window past its `last_observed`. The
//!   window is the pattern's top-level `WITHIN`, or [`StreamOptions::default_window`].
//!   Observations outside a top-level `START`/`STOP` are never held;
//! - memory: at most [`StreamOptions::max_per_pattern`] observations per pattern,
//!   [`StreamOptions::max_held`] overall, and records of [`StreamOptions::max_bytes`]
//!   (estimated by [`weight`], each record once). Past any, the oldest are dropped,
//!   counted in [`StreamStats::evicted`]; a pattern's first drop past its own limit is
//!   reported as [`EvalError::StateFull`].
//! - repetition: the same observed-data (id, times and count) arriving again is not
//!   held again nor bound with its held copy.
//!
//! Memory does not grow with the input: held observations share the record they came
//! from (one reference count each), and a record is freed when no pattern holds it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::bulk::{BulkMatcher, BulkOutcome, Candidate, Scratch};
use crate::error::EvalError;
use crate::eval::{evaluate_anchored, top_limits, Anchored};
use crate::fxhash::FxMap;
use crate::observation::Observations;
use crate::timestamp::Timestamp;

/// Limits of a [`StreamState`].
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// How long an observation is held for a pattern without a top-level `WITHIN`.
    pub default_window: Duration,
    /// Most earlier observations held for one pattern.
    pub max_per_pattern: usize,
    /// Most held observations overall (one observation held for two patterns counts
    /// twice).
    pub max_held: usize,
    /// Most memory the records of the held observations take, as [`weight`] estimates
    /// it (each record once, however many of its observations are held, for however
    /// many patterns).
    pub max_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            default_window: Duration::from_secs(3600),
            max_per_pattern: 1000,
            max_held: 200_000,
            max_bytes: 256 << 20,
        }
    }
}

/// An earlier observation held by a [`StreamState`].
#[derive(Debug)]
pub struct Held {
    record: Arc<Value>,
    index: usize,
    id: Option<String>,
    first: Timestamp,
    last: Timestamp,
    count: u64,
    seq: u64,
}

impl Held {
    /// The record (bundle, observed-data, or array of them) it came from.
    pub fn record(&self) -> &Arc<Value> {
        &self.record
    }

    /// Its position among the observations of [`Held::record`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// The observed-data id, when it has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// `first_observed`.
    pub fn first_observed(&self) -> Timestamp {
        self.first
    }

    /// `last_observed`.
    pub fn last_observed(&self) -> Timestamp {
        self.last
    }

    /// `number_observed`.
    pub fn number_observed(&self) -> u64 {
        self.count
    }

    /// Its arrival number in the stream (from 1).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// A pattern that binds several observations, matched (or in error) on the arrival of
/// an observation.
#[derive(Debug)]
pub struct StreamHit<'m> {
    /// The indicator id given to [`BulkMatcher::insert`].
    pub indicator: &'m str,
    /// The earlier observations bound with the new one (in arrival order; empty when
    /// the new one binds alone, e.g. by its `number_observed`), or the error.
    pub result: Result<Vec<Arc<Held>>, EvalError>,
}

/// What [`StreamState::match_observation`] found for one observation.
#[derive(Debug, Default)]
pub struct Found<'m> {
    /// Indicators matched by the observation alone (or in error on it).
    pub single: Vec<BulkOutcome<'m>>,
    /// Indicators matched by it with earlier observations (or in error).
    pub several: Vec<StreamHit<'m>>,
}

/// Counters of a [`StreamState`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Observations seen.
    pub observations: u64,
    /// Observations held now (per pattern).
    pub held: usize,
    /// The memory their records take, as [`weight`] estimates it (each record once).
    pub bytes: usize,
    /// Held observations evaluated with arriving ones (the work done, for budgets).
    pub evaluated: u64,
    /// Patterns holding at least one observation.
    pub patterns: usize,
    /// Held observations dropped because they left their pattern's window.
    pub expired: u64,
    /// Held observations dropped because a limit of memory was reached.
    pub evicted: u64,
}

#[derive(Default)]
struct PatternState {
    held: VecDeque<Arc<Held>>,
    window: i128,
    /// Whether its first drop for lack of room was reported.
    full_reported: bool,
}

/// Partial matches of the patterns that bind several observations, for one stream
/// (in the hub: one organization's observations; states never mix).
pub struct StreamState {
    options: StreamOptions,
    patterns: FxMap<Arc<str>, PatternState>,
    /// Arrival order of the held observations (pattern, seq), for the overall limit;
    /// entries whose observation already left are skipped.
    order: VecDeque<(Arc<str>, u64)>,
    held: usize,
    records: Records,
    watermark: i128,
    stats: StreamStats,
}

/// Every this many observations, every pattern's expired observations are dropped
/// (patterns not selected again would otherwise keep theirs until the overall limit).
const SWEEP_EVERY: u64 = 1 << 14;

impl StreamState {
    /// An empty state.
    pub fn new(options: StreamOptions) -> Self {
        StreamState {
            options,
            patterns: FxMap::default(),
            order: VecDeque::new(),
            held: 0,
            records: Records::default(),
            watermark: i128::MIN,
            stats: StreamStats::default(),
        }
    }

    /// The limits.
    pub fn options(&self) -> &StreamOptions {
        &self.options
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            held: self.held,
            bytes: self.records.bytes,
            patterns: self.patterns.len(),
            ..self.stats
        }
    }

    /// Match observation `index` of `set` (built from `record`) against every
    /// indicator: those that bind one observation into `found.single` (as
    /// [`BulkMatcher::match_observation_with`]), those that bind several into
    /// `found.several`.
    pub fn match_observation<'m>(
        &mut self,
        matcher: &'m BulkMatcher,
        record: &Arc<Value>,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        found: &mut Found<'m>,
    ) {
        matcher.match_observation_stream(set, index, scratch, &mut found.single);
        self.advance(
            matcher,
            record,
            set,
            index,
            scratch.several(),
            &mut found.several,
        );
    }

    /// The second half of [`StreamState::match_observation`], which may run on another
    /// thread than the first (in arrival order): verify the `candidates` that
    /// [`BulkMatcher::match_observation_stream`] left for observation `index` of `set`
    /// (built from `record`) against the held observations, report the matches it
    /// completes into `hits`, and hold it for the patterns it may take part in. Call it
    /// for every observation of the stream, with or without candidates (it moves the
    /// stream's time).
    pub fn advance<'m>(
        &mut self,
        matcher: &'m BulkMatcher,
        record: &Arc<Value>,
        set: &Observations<'_>,
        index: usize,
        candidates: &[Candidate],
        hits: &mut Vec<StreamHit<'m>>,
    ) {
        let Some(o) = set.get(index) else { return };
        let (first, last) = (o.first.as_nanos(), o.last.as_nanos());
        self.note(1, o.first);
        let default_window =
            i128::try_from(self.options.default_window.as_nanos()).unwrap_or(i128::MAX);
        let mut me: Option<Arc<Held>> = None;
        for &c in candidates {
            let Some((name, pattern)) = matcher.candidate(c) else {
                continue;
            };
            let (within, window) = top_limits(pattern.root());
            if window.is_some_and(|(lo, hi)| first < lo || last >= hi) {
                continue;
            }
            let state = self.patterns.entry(name.clone()).or_default();
            state.window = within.unwrap_or(default_window);
            self.held -= expire(
                state,
                self.watermark,
                &mut self.stats.expired,
                &mut self.records,
            );
            // The same observed-data sent again is not another observation: its held
            // copy is neither bound with it nor held twice.
            let same = |h: &Held| {
                h.id.is_some()
                    && h.id.as_deref() == o.id
                    && (h.first, h.last, h.count) == (o.first, o.last, o.count)
            };
            let resent = state.held.iter().any(|h| same(h));
            self.stats.evaluated += state.held.len() as u64;
            let outcome = {
                let sets: Vec<Option<Observations<'_>>> = state
                    .held
                    .iter()
                    .map(|h| {
                        if same(h) {
                            None
                        } else {
                            Observations::from_value(&h.record).ok()
                        }
                    })
                    .collect();
                let mut parts = Vec::with_capacity(sets.len() + 1);
                parts.push((set, index));
                // Left out: copies of the arriving observation, and held observations
                // whose record no longer converts (they converted when they arrived, so
                // this does not happen).
                let mut slots = Vec::with_capacity(sets.len());
                for (i, (s, h)) in sets.iter().zip(&state.held).enumerate() {
                    if let Some(s) = s {
                        parts.push((s, h.index));
                        slots.push(i);
                    }
                }
                let gathered = Observations::gather(&parts);
                evaluate_anchored(pattern.root(), &gathered, 0, matcher.options()).map(|a| {
                    if let Anchored::Match(m) = &a {
                        let earlier: Vec<Arc<Held>> = m
                            .observations()
                            .iter()
                            .filter(|&&i| i > 0)
                            .filter_map(|&i| state.held.get(slots[i - 1]).cloned())
                            .collect();
                        (a, earlier)
                    } else {
                        (a, Vec::new())
                    }
                })
            };
            match outcome {
                Ok((Anchored::Outside, _)) => continue,
                Ok((Anchored::NoMatch, _)) => {}
                Ok((Anchored::Match(_), earlier)) => hits.push(StreamHit {
                    indicator: name,
                    result: Ok(earlier),
                }),
                Err(e) => {
                    hits.push(StreamHit {
                        indicator: name,
                        result: Err(e),
                    });
                    continue;
                }
            }
            if resent {
                // Already held for this pattern (the same observed-data sent again).
                continue;
            }
            let seq = self.stats.observations;
            let h = me
                .get_or_insert_with(|| {
                    Arc::new(Held {
                        record: record.clone(),
                        index,
                        id: o.id.map(str::to_string),
                        first: o.first,
                        last: o.last,
                        count: o.count,
                        seq,
                    })
                })
                .clone();
            self.records.hold(&h.record);
            state.held.push_back(h);
            self.held += 1;
            self.order.push_back((name.clone(), seq));
            if state.held.len() > self.options.max_per_pattern {
                if let Some(old) = state.held.pop_front() {
                    self.records.release(&old.record);
                }
                self.held -= 1;
                self.stats.evicted += 1;
                if !state.full_reported {
                    state.full_reported = true;
                    hits.push(StreamHit {
                        indicator: name,
                        result: Err(EvalError::StateFull(self.options.max_per_pattern)),
                    });
                }
            }
        }
        while self.held > self.options.max_held || self.records.bytes > self.options.max_bytes {
            let Some((name, seq)) = self.order.pop_front() else {
                break;
            };
            let Some(state) = self.patterns.get_mut(&name) else {
                continue;
            };
            if state.held.front().is_some_and(|h| h.seq <= seq) {
                if let Some(old) = state.held.pop_front() {
                    self.records.release(&old.record);
                }
                self.held -= 1;
                self.stats.evicted += 1;
                if state.held.is_empty() {
                    self.patterns.remove(&name);
                }
            }
        }
        if self.order.len() > 2 * self.held + 1024 {
            self.compact_order();
        }
    }

    /// Count `observations` observations, none with candidates, the latest
    /// `first_observed` among them `newest` (what [`StreamState::advance`] does for
    /// each observation, for those a caller does not pass to it).
    pub fn note(&mut self, observations: u64, newest: Timestamp) {
        if observations == 0 {
            return;
        }
        self.watermark = self.watermark.max(newest.as_nanos());
        let before = self.stats.observations;
        self.stats.observations += observations;
        if before / SWEEP_EVERY != self.stats.observations / SWEEP_EVERY {
            self.sweep();
        }
    }

    /// Drop every pattern's expired observations.
    fn sweep(&mut self) {
        let (watermark, expired, records) =
            (self.watermark, &mut self.stats.expired, &mut self.records);
        let mut dropped = 0;
        self.patterns.retain(|_, s| {
            dropped += expire(s, watermark, expired, records);
            !s.held.is_empty()
        });
        self.held -= dropped;
        self.compact_order();
    }

    /// Rebuild the arrival order from what is held.
    fn compact_order(&mut self) {
        let mut order: Vec<(Arc<str>, u64)> = self
            .patterns
            .iter()
            .flat_map(|(name, s)| s.held.iter().map(move |h| (name.clone(), h.seq)))
            .collect();
        order.sort_by_key(|(_, seq)| *seq);
        self.order = order.into();
    }
}

/// Drop the observations of `state` out of its window; how many.
fn expire(
    state: &mut PatternState,
    watermark: i128,
    expired: &mut u64,
    records: &mut Records,
) -> usize {
    let mut n = 0;
    while state
        .held
        .front()
        .is_some_and(|h| watermark.saturating_sub(h.last.as_nanos()) > state.window)
    {
        if let Some(old) = state.held.pop_front() {
            records.release(&old.record);
        }
        n += 1;
    }
    *expired += n as u64;
    n
}

/// The records of held observations, each with how many holdings refer to it and its
/// weight, counted once in `bytes` while held.
#[derive(Default)]
struct Records {
    by_address: FxMap<usize, (u32, usize)>,
    bytes: usize,
}

impl Records {
    /// A held observation keeps its record (and so the record's address) alive, so
    /// the address names the record for as long as it is in the map.
    fn key(record: &Arc<Value>) -> usize {
        Arc::as_ptr(record) as usize
    }

    fn hold(&mut self, record: &Arc<Value>) {
        match self.by_address.entry(Self::key(record)) {
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().0 += 1,
            std::collections::hash_map::Entry::Vacant(e) => {
                let w = weight(record);
                self.bytes += w;
                e.insert((1, w));
            }
        }
    }

    fn release(&mut self, record: &Arc<Value>) {
        if let std::collections::hash_map::Entry::Occupied(mut e) =
            self.by_address.entry(Self::key(record))
        {
            e.get_mut().0 -= 1;
            if e.get().0 == 0 {
                self.bytes -= e.get().1;
                e.remove();
            }
        }
    }
}

/// An estimate of the memory a JSON value takes: a fixed cost per value and per
/// member, plus the text of its strings and keys.
pub fn weight(v: &Value) -> usize {
    const NODE: usize = 32;
    NODE + match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(weight).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| NODE + k.len() + weight(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;
    use serde_json::json;

    fn od(i: u64, secs: u64, objects: Value) -> Arc<Value> {
        Arc::new(json!({
            "type": "observed-data", "id": format!("observed-data--{i}"),
            "first_observed": format!("2024-01-01T00:{:02}:{:02}Z", secs / 60, secs % 60),
            "last_observed": format!("2024-01-01T00:{:02}:{:02}Z", secs / 60, secs % 60),
            "number_observed": 1, "objects": objects
        }))
    }

    fn ip(a: &str) -> Value {
        json!({"0": {"type": "ipv4-addr", "value": a}})
    }

    fn dn(d: &str) -> Value {
        json!({"0": {"type": "domain-name", "value": d}})
    }

    /// Feed records; per record, the indicators matched with the ids of the earlier
    /// observations bound.
    fn run(
        matcher: &BulkMatcher,
        state: &mut StreamState,
        records: &[Arc<Value>],
    ) -> Vec<Vec<(String, Vec<String>)>> {
        let mut scratch = Scratch::new();
        let mut result = Vec::new();
        for r in records {
            let set = Observations::from_value(r).unwrap();
            let mut row = Vec::new();
            for i in 0..set.len() {
                let mut found = Found::default();
                state.match_observation(matcher, r, &set, i, &mut scratch, &mut found);
                let Found {
                    single: out,
                    several: hits,
                } = found;
                for o in out {
                    if o.result.is_ok() {
                        row.push((o.indicator.to_string(), Vec::new()));
                    }
                }
                for h in hits {
                    match h.result {
                        Ok(earlier) => row.push((
                            h.indicator.to_string(),
                            earlier
                                .iter()
                                .filter_map(|e| e.id().map(String::from))
                                .collect(),
                        )),
                        Err(e) => row.push((h.indicator.to_string(), vec![format!("error: {e}")])),
                    }
                }
            }
            row.sort();
            result.push(row);
        }
        result
    }

    fn matcher(patterns: &[(&str, &str)]) -> BulkMatcher {
        let mut m = BulkMatcher::new();
        for (id, p) in patterns {
            m.insert(*id, Pattern::parse(p).unwrap());
        }
        m
    }

    #[test]
    fn and_followedby_and_repeats_match_across_records() {
        let m = matcher(&[
            (
                "and",
                "[ipv4-addr:value = '10.0.0.1'] AND [domain-name:value = 'a.example']",
            ),
            (
                "seq",
                "[domain-name:value = 'a.example'] FOLLOWEDBY [ipv4-addr:value = '10.0.0.2']",
            ),
            ("rep", "[ipv4-addr:value = '10.0.0.9'] REPEATS 3 TIMES"),
            ("one", "[ipv4-addr:value = '10.0.0.1']"),
        ]);
        let mut st = StreamState::new(StreamOptions::default());
        let got = run(
            &m,
            &mut st,
            &[
                od(1, 0, ip("10.0.0.2")),
                od(2, 1, ip("10.0.0.1")),
                od(3, 2, dn("a.example")),
                od(4, 3, ip("10.0.0.2")),
                od(5, 4, ip("10.0.0.9")),
                od(6, 5, ip("10.0.0.9")),
                od(7, 6, ip("10.0.0.9")),
            ],
        );
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(got[0], vec![]);
        assert_eq!(got[1], vec![("one".into(), vec![])]);
        // AND completed by 3 with 2; the FOLLOWEDBY waits: 1 came before the domain.
        assert_eq!(got[2], vec![("and".into(), s(&["observed-data--2"]))]);
        assert_eq!(got[3], vec![("seq".into(), s(&["observed-data--3"]))]);
        assert_eq!(got[4], vec![]);
        assert_eq!(got[5], vec![]);
        assert_eq!(
            got[6],
            vec![("rep".into(), s(&["observed-data--5", "observed-data--6"]))]
        );
    }

    #[test]
    fn windows_expire_and_start_stop_bounds_what_is_held() {
        let m = matcher(&[
            (
                "w",
                "([ipv4-addr:value = '10.0.0.1'] AND [domain-name:value = 'a.example']) WITHIN 10 SECONDS",
            ),
            (
                "d",
                "[ipv4-addr:value = '10.0.0.3'] AND [domain-name:value = 'c.example']",
            ),
            (
                "ss",
                "([ipv4-addr:value = '10.0.0.4'] AND [domain-name:value = 'd.example']) START t'2024-01-01T00:00:30Z' STOP t'2024-01-01T00:01:00Z'",
            ),
        ]);
        let mut st = StreamState::new(StreamOptions {
            default_window: Duration::from_secs(20),
            ..StreamOptions::default()
        });
        let got = run(
            &m,
            &mut st,
            &[
                od(1, 0, ip("10.0.0.1")),
                od(2, 0, ip("10.0.0.3")),
                od(3, 11, dn("a.example")), // 11 s after: out of WITHIN 10
                od(4, 25, dn("c.example")), // 25 s after: out of the default 20
                od(5, 20, ip("10.0.0.4")),  // before START: not held
                od(6, 35, dn("d.example")),
                od(7, 36, ip("10.0.0.1")), // 3 is 25 s older: out of WITHIN 10
                od(8, 40, dn("a.example")), // with 7
                od(9, 41, ip("10.0.0.4")), // with 6, not 5
            ],
        );
        assert!(got[..7].iter().all(Vec::is_empty), "{got:?}");
        assert_eq!(
            got[7],
            vec![("w".into(), vec!["observed-data--7".to_string()])]
        );
        assert_eq!(
            got[8],
            vec![("ss".into(), vec!["observed-data--6".to_string()])]
        );
        let stats = st.stats();
        assert!(stats.expired >= 2, "{stats:?}");
        assert_eq!(stats.observations, 9);
    }

    #[test]
    fn memory_is_capped_with_an_error_and_a_count() {
        let m = matcher(&[(
            "r",
            "[ipv4-addr:value = '10.0.0.1'] FOLLOWEDBY [domain-name:value = 'never.example']",
        )]);
        let mut st = StreamState::new(StreamOptions {
            max_per_pattern: 5,
            max_held: 100,
            ..StreamOptions::default()
        });
        let records: Vec<_> = (0..20).map(|i| od(i, i, ip("10.0.0.1"))).collect();
        let got = run(&m, &mut st, &records);
        let errors: Vec<_> = got.iter().flatten().collect();
        assert_eq!(errors.len(), 1, "reported once: {errors:?}");
        assert!(
            errors[0].1[0].contains("partial-match state full"),
            "{errors:?}"
        );
        let s = st.stats();
        assert_eq!((s.held, s.evicted, s.patterns), (5, 15, 1));

        // The overall limit across patterns.
        let m = matcher(&[
            (
                "a",
                "[ipv4-addr:value = '10.0.0.1'] AND [domain-name:value = 'x']",
            ),
            (
                "b",
                "[ipv4-addr:value = '10.0.0.1'] AND [domain-name:value = 'y']",
            ),
        ]);
        let mut st = StreamState::new(StreamOptions {
            max_per_pattern: 1000,
            max_held: 8,
            ..StreamOptions::default()
        });
        run(&m, &mut st, &records);
        let s = st.stats();
        assert_eq!(s.held, 8, "{s:?}");
        assert_eq!(s.evicted, 32);

        // The memory limit: room for three records, each held for two patterns and
        // counted once.
        let each = weight(&records[19]); // the last three held are as heavy
        let mut st = StreamState::new(StreamOptions {
            max_bytes: 3 * each + each / 2,
            ..StreamOptions::default()
        });
        run(&m, &mut st, &records);
        let s = st.stats();
        assert_eq!((s.held, s.bytes), (6, 3 * each), "{s:?}");
        assert_eq!(s.evicted, 34);
        // A record of many observations counts once, whichever of them are held.
        let bundle = Arc::new(json!([
            {"type": "observed-data", "id": "observed-data--b1", "first_observed": "2024-01-01T00:00:00Z",
             "last_observed": "2024-01-01T00:00:00Z", "objects": ip("10.0.0.1")},
            {"type": "observed-data", "id": "observed-data--b2", "first_observed": "2024-01-01T00:00:01Z",
             "last_observed": "2024-01-01T00:00:01Z", "objects": ip("10.0.0.1")}
        ]));
        let mut st = StreamState::new(StreamOptions::default());
        run(&m, &mut st, std::slice::from_ref(&bundle));
        let s = st.stats();
        assert_eq!((s.held, s.bytes), (4, weight(&bundle)), "{s:?}");
    }

    #[test]
    fn the_same_observed_data_sent_again_is_not_another_observation() {
        let m = matcher(&[("r", "[ipv4-addr:value = '10.0.0.1'] REPEATS 2 TIMES")]);
        let mut st = StreamState::new(StreamOptions::default());
        let once = od(1, 0, ip("10.0.0.1"));
        let got = run(&m, &mut st, &[once.clone(), once.clone(), once]);
        assert!(got.iter().all(Vec::is_empty), "{got:?}");
        assert_eq!(st.stats().held, 1);
        let got = run(&m, &mut st, &[od(2, 1, ip("10.0.0.1"))]);
        assert_eq!(
            got[0],
            vec![("r".into(), vec!["observed-data--1".to_string()])]
        );
    }

    #[test]
    fn one_record_with_several_observations_and_refs() {
        let m = matcher(&[(
            "x",
            "[network-traffic:dst_ref.value = '10.0.0.7'] AND [file:name = 'a.exe']",
        )]);
        let mut st = StreamState::new(StreamOptions::default());
        let bundle = Arc::new(json!({"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "10.0.0.7"},
            {"type": "network-traffic", "id": "network-traffic--1", "dst_ref": "ipv4-addr--1"},
            {"type": "observed-data", "id": "observed-data--a", "first_observed": "2024-01-01T00:00:00Z",
             "last_observed": "2024-01-01T00:00:00Z", "number_observed": 1, "object_refs": ["network-traffic--1"]}
        ]}));
        let later = od(9, 30, json!({"0": {"type": "file", "name": "a.exe"}}));
        let got = run(&m, &mut st, &[bundle, later]);
        assert_eq!(
            got[1],
            vec![("x".into(), vec!["observed-data--a".to_string()])]
        );
    }
}
