//! Matching many indicators against observations at once.
//!
//! Each indicator's pattern is reduced to *anchors*: facts of which at least one must
//! hold of some SCO for the pattern to match (every binding contains at least one
//! `[…]` that matched an SCO). Anchors are indexed per object path:
//!
//! - equality (`=`, `IN`): a hash map keyed by the normalized value (strings are probed
//!   without copying them);
//! - `ISSUBSET`: one hash map per (family, prefix length), probed once per prefix length
//!   present;
//! - `MATCHES` / `LIKE`: [`regex::RegexSet`] chunks, rebuilt lazily after changes, run
//!   once per string value (a cheap `is_match` first);
//! - numeric order (`<`, `<=`, `>`, `>=` with a number): sorted thresholds, one binary
//!   search per numeric value;
//! - any other test that needs the property (`!=`, `NOT …`, string or timestamp order,
//!   `ISSUPERSET`, `EXISTS`, binary properties, and comparisons with `t'…'`, which are
//!   errors for values that are not timestamps): the path being present;
//! - `NOT EXISTS` alone: the object type.
//!
//! Of an `AND` the most selective conjunct is indexed; an `OR` is indexed by all of its
//! parts. A pattern that is one `[…]` of equality, `IN`, `ISSUBSET`, `LIKE` or
//! `MATCHES` tests (joined by `OR`) is *exact*: an index hit is a match and it is not
//! evaluated again. Other candidates are verified by the evaluator, so the result is
//! exactly that of evaluating every pattern.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use regex::RegexSet;
use serde_json::Value;

use crate::ast::{CompareOp, ComparisonExpr, Literal, ObjectPath, ObservationExpr, Test};
use crate::error::EvalError;
use crate::eval::{evaluate_one, last_key, may_fail, nfc, single_bracket, visit, Ctx, EvalOptions};
use crate::net::Cidr;
use crate::observation::Observations;
use crate::timestamp::Timestamp;
use crate::Pattern;

/// A normalized non-string scalar for the equality index; equal keys ⇔ `=` holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Int(i64),
    Float(u64),
    Bool(bool),
    Ts(Timestamp),
}

fn number_key(f: f64) -> ValueKey {
    if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        ValueKey::Int(f as i64)
    } else {
        ValueKey::Float(f.to_bits())
    }
}

/// The key of a literal: a string, or another scalar.
fn literal_key(lit: &Literal) -> Result<String, ValueKey> {
    match lit {
        Literal::Int(i) => Err(ValueKey::Int(*i)),
        Literal::Float(f) => Err(number_key(*f)),
        Literal::Str(s) => Ok(s.clone()),
        Literal::Bool(b) => Err(ValueKey::Bool(*b)),
        // Against a text property, bytes compare with the latin-1 reading of the text.
        Literal::Hex(b) | Literal::Binary(b) => Ok(b.iter().map(|&c| char::from(c)).collect()),
        Literal::Timestamp(t) => Err(ValueKey::Ts(*t)),
    }
}

fn number_of(v: &Value) -> Option<ValueKey> {
    let Value::Number(n) = v else { return None };
    match n.as_i64() {
        Some(i) => Some(ValueKey::Int(i)),
        None => n.as_f64().map(number_key),
    }
}

#[derive(Debug, Clone)]
enum Anchor {
    Eq(ObjectPath, Result<String, ValueKey>),
    Cidr(ObjectPath, Cidr),
    /// `value >= threshold` (from `>`/`>=`) or, with `false`, `value <= threshold`.
    Range(ObjectPath, bool, f64),
    Regex(ObjectPath, String),
    Exists(ObjectPath),
    Type(String),
}

impl Anchor {
    fn rank(&self) -> u8 {
        match self {
            Anchor::Eq(..) => 0,
            Anchor::Cidr(..) => 1,
            Anchor::Range(..) => 2,
            Anchor::Regex(..) => 3,
            Anchor::Exists(..) => 4,
            Anchor::Type(..) => 5,
        }
    }
}

fn is_binary_path(path: &ObjectPath) -> bool {
    let k = last_key(&path.steps);
    k.ends_with("_bin") || k.ends_with("_hex")
}

/// Anchors of a comparison expression, or `None` when only the type can find it.
fn cmp_anchors(e: &ComparisonExpr) -> Option<Vec<Anchor>> {
    match e {
        ComparisonExpr::Group(inner) => cmp_anchors(inner),
        ComparisonExpr::Or(items) => {
            let mut all = Vec::new();
            for i in items {
                all.extend(cmp_anchors(i)?);
            }
            Some(all)
        }
        // Evaluation can be an error only at a `t'…'` comparison, reached only when the
        // conjuncts before it hold: the first conjunct must then be the anchor, so that
        // every observation whose evaluation is an error is a candidate.
        ComparisonExpr::And(items) if items.iter().any(may_fail) => cmp_anchors(&items[0]),
        ComparisonExpr::And(items) => {
            // The most selective conjunct: by the worst kind of anchor, then fewest.
            let rank = |a: &[Anchor]| (a.iter().map(Anchor::rank).max().unwrap_or(0), a.len());
            items.iter().filter_map(cmp_anchors).min_by_key(|a| rank(a))
        }
        ComparisonExpr::Test(c) => {
            let p = || c.path.clone();
            if let Test::Exists = c.test {
                return (!c.negated).then(|| vec![Anchor::Exists(p())]);
            }
            // Every other test is false when the property is missing. A `t'…'` comparison
            // is an error for a value that is not a timestamp: found by presence too.
            if c.negated || is_binary_path(&c.path) || may_fail(e) {
                return Some(vec![Anchor::Exists(p())]);
            }
            Some(match &c.test {
                Test::Compare(CompareOp::Eq, lit) => vec![Anchor::Eq(p(), literal_key(lit))],
                Test::Compare(op, Literal::Int(i)) if *op != CompareOp::Ne => {
                    vec![range(p(), *op, *i as f64)]
                }
                Test::Compare(op, Literal::Float(f)) if *op != CompareOp::Ne => {
                    vec![range(p(), *op, *f)]
                }
                Test::In(set) => set
                    .iter()
                    .map(|l| Anchor::Eq(p(), literal_key(l)))
                    .collect(),
                Test::IsSubset(net) => vec![Anchor::Cidr(p(), *net)],
                Test::Like(l) => vec![Anchor::Regex(p(), l.text.as_str().to_string())],
                Test::Matches(m) => vec![Anchor::Regex(p(), m.text.as_str().to_string())],
                _ => vec![Anchor::Exists(p())],
            })
        }
    }
}

fn range(path: ObjectPath, op: CompareOp, threshold: f64) -> Anchor {
    // Inclusive bounds: a candidate filter must not lose a match to rounding.
    Anchor::Range(path, matches!(op, CompareOp::Gt | CompareOp::Ge), threshold)
}

fn cmp_types(e: &ComparisonExpr, out: &mut Vec<String>) {
    match e {
        ComparisonExpr::Group(inner) => cmp_types(inner, out),
        ComparisonExpr::And(v) | ComparisonExpr::Or(v) => v.iter().for_each(|i| cmp_types(i, out)),
        ComparisonExpr::Test(c) => {
            if !out.contains(&c.path.object_type) {
                out.push(c.path.object_type.clone())
            }
        }
    }
}

fn pattern_anchors(e: &ObservationExpr, out: &mut Vec<Anchor>) {
    match e {
        ObservationExpr::Observation(c) => match cmp_anchors(c) {
            Some(a) => out.extend(a),
            None => {
                let mut types = Vec::new();
                cmp_types(c, &mut types);
                out.extend(types.into_iter().map(Anchor::Type));
            }
        },
        ObservationExpr::And(v) | ObservationExpr::Or(v) | ObservationExpr::FollowedBy(v) => {
            v.iter().for_each(|i| pattern_anchors(i, out))
        }
        ObservationExpr::Group(i) | ObservationExpr::Qualified(i, _) => pattern_anchors(i, out),
    }
}

/// Whether an index hit on this comparison expression is already a match.
fn exact_cmp(e: &ComparisonExpr) -> bool {
    match e {
        ComparisonExpr::Group(inner) => exact_cmp(inner),
        ComparisonExpr::Or(items) => items.iter().all(exact_cmp),
        ComparisonExpr::And(_) => false,
        ComparisonExpr::Test(c) => {
            !c.negated
                && !is_binary_path(&c.path)
                && match &c.test {
                    // A `t'…'` literal makes a non-timestamp value an error, not a miss.
                    Test::Compare(CompareOp::Eq, lit) => !matches!(lit, Literal::Timestamp(_)),
                    Test::In(set) => !set.iter().any(|l| matches!(l, Literal::Timestamp(_))),
                    Test::IsSubset(_) | Test::Like(_) | Test::Matches(_) => true,
                    _ => false,
                }
        }
    }
}

type Slot = u32;

const REGEX_CHUNK: usize = 256;

#[derive(Default)]
struct RegexChunk {
    members: Vec<(Slot, String)>,
    /// `None` inside: the set would not compile; every member is then a candidate.
    set: OnceLock<Option<RegexSet>>,
}

/// `(threshold, slot)` pairs.
type Thresholds = Vec<(f64, Slot)>;

#[derive(Default)]
struct Ranges {
    /// `(threshold, slot)` of `value >= threshold` anchors.
    lower: Vec<(f64, Slot)>,
    /// `(threshold, slot)` of `value <= threshold` anchors.
    upper: Vec<(f64, Slot)>,
    /// Both lists sorted by threshold, rebuilt lazily after a change.
    sorted: OnceLock<(Thresholds, Thresholds)>,
}

struct PathIndex {
    path: ObjectPath,
    users: usize,
    eq_str: HashMap<Box<str>, Vec<Slot>>,
    eq_other: HashMap<ValueKey, Vec<Slot>>,
    /// How many `eq_other` keys are timestamps (strings are parsed only if some are).
    eq_ts: usize,
    cidr: HashMap<(bool, u8, u128), Vec<Slot>>,
    cidr_prefixes: BTreeMap<(bool, u8), usize>,
    ranges: Ranges,
    regex: Vec<RegexChunk>,
    exists: Vec<Slot>,
}

fn remove_slot(v: &mut Vec<Slot>, slot: Slot) {
    if let Some(i) = v.iter().position(|s| *s == slot) {
        v.swap_remove(i);
    }
}

struct Entry {
    id: String,
    pattern: Pattern,
    anchors: Vec<Anchor>,
    exact: bool,
}

/// A hit of [`BulkMatcher`]: which indicator, bound by which observations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BulkHit {
    /// The indicator id given to [`BulkMatcher::insert`].
    pub indicator: String,
    /// Indices of the observations that bound the match.
    pub observations: Vec<usize>,
}

/// What [`BulkMatcher::match_observation_with`] found for one indicator: a match, or
/// an evaluation that is an error by the specification.
#[derive(Debug)]
pub struct BulkOutcome<'m> {
    /// The indicator id given to [`BulkMatcher::insert`].
    pub indicator: &'m str,
    /// `Ok(())` for a match (bound by the observation itself).
    pub result: Result<(), EvalError>,
}

/// Reusable working memory of [`BulkMatcher::match_observation_with`], so that matching
/// a stream does not allocate per observation.
#[derive(Default)]
pub struct Scratch {
    seen: Vec<u32>,
    epoch: u32,
    exact: Vec<Slot>,
    verify: Vec<Slot>,
}

impl Scratch {
    /// Empty working memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, slots: usize) {
        if self.seen.len() < slots {
            self.seen.resize(slots, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.exact.clear();
        self.verify.clear();
    }
}

/// Many compiled indicators, indexed for matching; add and remove at any time.
#[derive(Default)]
pub struct BulkMatcher {
    slots: Vec<Option<Entry>>,
    free: Vec<Slot>,
    ids: HashMap<String, Slot>,
    paths: Vec<PathIndex>,
    path_ids: HashMap<ObjectPath, usize>,
    paths_by_type: HashMap<String, Vec<usize>>,
    by_type: HashMap<String, Vec<Slot>>,
    options: EvalOptions,
}

/// How many indicators of a [`BulkMatcher`] each kind of index finds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkStats {
    /// Indicators.
    pub indicators: usize,
    /// Indicators whose index hit is a match without evaluation.
    pub exact: usize,
    /// Indicators found only by a path being present or by object type (the fallback
    /// whose cost grows with the number of such indicators).
    pub fallback: usize,
}

impl BulkMatcher {
    /// An empty matcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Counts of exact and fallback indicators.
    pub fn stats(&self) -> BulkStats {
        let mut s = BulkStats::default();
        for e in self.slots.iter().flatten() {
            s.indicators += 1;
            s.exact += usize::from(e.exact);
            s.fallback += usize::from(e.anchors.iter().any(|a| a.rank() >= 4));
        }
        s
    }

    /// Add (or replace) indicator `id`.
    pub fn insert(&mut self, id: impl Into<String>, pattern: Pattern) {
        let id = id.into();
        self.remove(&id);
        let mut anchors = Vec::new();
        pattern_anchors(pattern.root(), &mut anchors);
        let exact = single_bracket(pattern.root()).is_some_and(exact_cmp);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as Slot
            }
        };
        for a in &anchors {
            self.index(slot, a);
        }
        self.ids.insert(id.clone(), slot);
        self.slots[slot as usize] = Some(Entry {
            id,
            pattern,
            anchors,
            exact,
        });
    }

    /// Remove indicator `id`; whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.ids.remove(id) else {
            return false;
        };
        let Some(entry) = self.slots[slot as usize].take() else {
            return false;
        };
        for a in &entry.anchors {
            self.unindex(slot, a);
        }
        self.free.push(slot);
        true
    }

    fn path_index(&mut self, path: &ObjectPath) -> usize {
        if let Some(&i) = self.path_ids.get(path) {
            return i;
        }
        self.paths.push(PathIndex {
            path: path.clone(),
            users: 0,
            eq_str: HashMap::new(),
            eq_other: HashMap::new(),
            eq_ts: 0,
            cidr: HashMap::new(),
            cidr_prefixes: BTreeMap::new(),
            ranges: Ranges::default(),
            regex: Vec::new(),
            exists: Vec::new(),
        });
        let i = self.paths.len() - 1;
        self.path_ids.insert(path.clone(), i);
        self.paths_by_type
            .entry(path.object_type.clone())
            .or_default()
            .push(i);
        i
    }

    fn index(&mut self, slot: Slot, a: &Anchor) {
        let path = match a {
            Anchor::Type(t) => {
                self.by_type.entry(t.clone()).or_default().push(slot);
                return;
            }
            Anchor::Eq(p, _)
            | Anchor::Cidr(p, _)
            | Anchor::Range(p, ..)
            | Anchor::Regex(p, _)
            | Anchor::Exists(p) => p,
        };
        let i = self.path_index(path);
        let pi = &mut self.paths[i];
        pi.users += 1;
        match a {
            Anchor::Eq(_, Ok(s)) => pi.eq_str.entry(s.as_str().into()).or_default().push(slot),
            Anchor::Eq(_, Err(k)) => {
                if matches!(k, ValueKey::Ts(_)) {
                    pi.eq_ts += 1;
                }
                pi.eq_other.entry(k.clone()).or_default().push(slot)
            }
            Anchor::Cidr(_, net) => {
                pi.cidr
                    .entry((net.is_v6(), net.prefix(), net.bits()))
                    .or_default()
                    .push(slot);
                *pi.cidr_prefixes
                    .entry((net.is_v6(), net.prefix()))
                    .or_default() += 1;
            }
            Anchor::Range(_, lower, t) => {
                let list = if *lower {
                    &mut pi.ranges.lower
                } else {
                    &mut pi.ranges.upper
                };
                list.push((*t, slot));
                pi.ranges.sorted = OnceLock::new();
            }
            Anchor::Regex(_, re) => {
                match pi.regex.iter_mut().find(|c| c.members.len() < REGEX_CHUNK) {
                    Some(c) => {
                        c.members.push((slot, re.clone()));
                        c.set = OnceLock::new();
                    }
                    None => pi.regex.push(RegexChunk {
                        members: vec![(slot, re.clone())],
                        set: OnceLock::new(),
                    }),
                }
            }
            Anchor::Exists(_) => pi.exists.push(slot),
            Anchor::Type(_) => {}
        }
    }

    fn unindex(&mut self, slot: Slot, a: &Anchor) {
        let path = match a {
            Anchor::Type(t) => {
                if let Some(v) = self.by_type.get_mut(t) {
                    remove_slot(v, slot);
                }
                return;
            }
            Anchor::Eq(p, _)
            | Anchor::Cidr(p, _)
            | Anchor::Range(p, ..)
            | Anchor::Regex(p, _)
            | Anchor::Exists(p) => p,
        };
        let Some(&i) = self.path_ids.get(path) else {
            return;
        };
        let pi = &mut self.paths[i];
        pi.users -= 1;
        match a {
            Anchor::Eq(_, Ok(s)) => {
                if let Some(v) = pi.eq_str.get_mut(s.as_str()) {
                    remove_slot(v, slot);
                    if v.is_empty() {
                        pi.eq_str.remove(s.as_str());
                    }
                }
            }
            Anchor::Eq(_, Err(k)) => {
                if let Some(v) = pi.eq_other.get_mut(k) {
                    remove_slot(v, slot);
                    if matches!(k, ValueKey::Ts(_)) {
                        pi.eq_ts -= 1;
                    }
                    if v.is_empty() {
                        pi.eq_other.remove(k);
                    }
                }
            }
            Anchor::Cidr(_, net) => {
                let key = (net.is_v6(), net.prefix(), net.bits());
                if let Some(v) = pi.cidr.get_mut(&key) {
                    remove_slot(v, slot);
                    if v.is_empty() {
                        pi.cidr.remove(&key);
                    }
                }
                let pk = (net.is_v6(), net.prefix());
                if let Some(n) = pi.cidr_prefixes.get_mut(&pk) {
                    *n -= 1;
                    if *n == 0 {
                        pi.cidr_prefixes.remove(&pk);
                    }
                }
            }
            Anchor::Range(_, lower, t) => {
                let list = if *lower {
                    &mut pi.ranges.lower
                } else {
                    &mut pi.ranges.upper
                };
                if let Some(j) = list.iter().position(|(x, s)| *s == slot && x == t) {
                    list.swap_remove(j);
                }
                pi.ranges.sorted = OnceLock::new();
            }
            Anchor::Regex(_, re) => {
                for c in &mut pi.regex {
                    if let Some(j) = c.members.iter().position(|(s, r)| *s == slot && r == re) {
                        c.members.remove(j);
                        c.set = OnceLock::new();
                        break;
                    }
                }
                pi.regex.retain(|c| !c.members.is_empty());
            }
            Anchor::Exists(_) => remove_slot(&mut pi.exists, slot),
            Anchor::Type(_) => {}
        }
    }

    /// Collect the indicators that might match observation `index` into `scratch`:
    /// exact ones (already matches) and ones to verify.
    fn candidates(&self, set: &Observations<'_>, index: usize, scratch: &mut Scratch) {
        let obs = &set.items[index];
        let ctx = Ctx { set, index, obs };
        let slots = &self.slots;
        let Scratch {
            seen,
            epoch,
            exact,
            verify,
        } = scratch;
        let epoch = *epoch;
        let mut add = |hits: &[Slot]| {
            for &s in hits {
                let seen = &mut seen[s as usize];
                if *seen != epoch {
                    *seen = epoch;
                    match &slots[s as usize] {
                        Some(e) if e.exact => exact.push(s),
                        Some(_) => verify.push(s),
                        None => {}
                    }
                }
            }
        };
        for root in &obs.roots {
            let Some(t) = root.get("type").and_then(Value::as_str) else {
                continue;
            };
            if let Some(v) = self.by_type.get(t) {
                add(v);
            }
            for &pid in self.paths_by_type.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                let pi = &self.paths[pid];
                if pi.users == 0 {
                    continue;
                }
                let _ = visit::<()>(&ctx, root, &pi.path.steps, false, &mut |v| {
                    probe(pi, v, &mut add);
                    // Presence is enough for these; they are added once.
                    Ok(false)
                });
            }
        }
    }

    fn outcomes<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
    ) {
        for &s in &scratch.exact {
            if let Some(e) = &self.slots[s as usize] {
                out.push(BulkOutcome {
                    indicator: &e.id,
                    result: Ok(()),
                });
            }
        }
        for &s in &scratch.verify {
            let Some(e) = &self.slots[s as usize] else {
                continue;
            };
            match evaluate_one(e.pattern.root(), set, index, &self.options) {
                Ok(Some(_)) => out.push(BulkOutcome {
                    indicator: &e.id,
                    result: Ok(()),
                }),
                Ok(None) => {}
                Err(err) => out.push(BulkOutcome {
                    indicator: &e.id,
                    result: Err(err),
                }),
            }
        }
    }

    /// Indicators whose pattern matches observation `index` on its own, and those whose
    /// evaluation is an error, appended to `out` in no particular order. Allocates
    /// nothing per observation once `scratch` and `out` have grown.
    pub fn match_observation_with<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
    ) {
        scratch.start(self.slots.len());
        self.candidates(set, index, scratch);
        self.outcomes(set, index, scratch, out);
    }

    /// How many indicators the indexes select for verification against observation
    /// `index` (exact hits not counted).
    pub fn count_candidates(&self, set: &Observations<'_>, index: usize) -> usize {
        let mut scratch = Scratch::new();
        scratch.start(self.slots.len());
        self.candidates(set, index, &mut scratch);
        scratch.verify.len()
    }

    /// Indicators whose pattern matches observation `index` on its own, sorted by id;
    /// evaluation errors count as no match.
    pub fn match_observation(&self, set: &Observations<'_>, index: usize) -> Vec<BulkHit> {
        let mut scratch = Scratch::new();
        let mut out = Vec::new();
        self.match_observation_with(set, index, &mut scratch, &mut out);
        let mut hits: Vec<BulkHit> = out
            .into_iter()
            .filter(|o| o.result.is_ok())
            .map(|o| BulkHit {
                indicator: o.indicator.to_string(),
                observations: vec![index],
            })
            .collect();
        hits.sort();
        hits
    }

    fn verify_all(&self, slots: Vec<Slot>, set: &Observations<'_>) -> Vec<BulkHit> {
        let mut hits: Vec<BulkHit> = slots
            .into_iter()
            .filter_map(|s| {
                let e = self.slots[s as usize].as_ref()?;
                let m = e.pattern.evaluate_with(set, &self.options).ok()??;
                Some(BulkHit {
                    indicator: e.id.clone(),
                    observations: m.observations().to_vec(),
                })
            })
            .collect();
        hits.sort();
        hits
    }

    /// Indicators whose pattern matches the whole set (temporal operators across
    /// observations included), sorted by id; evaluation errors count as no match.
    pub fn match_all(&self, set: &Observations<'_>) -> Vec<BulkHit> {
        let mut scratch = Scratch::new();
        let mut slots = Vec::new();
        for i in 0..set.items.len() {
            scratch.start(self.slots.len());
            self.candidates(set, i, &mut scratch);
            slots.extend_from_slice(&scratch.exact);
            slots.extend_from_slice(&scratch.verify);
        }
        slots.sort_unstable();
        slots.dedup();
        self.verify_all(slots, set)
    }

    fn all_slots(&self) -> Vec<Slot> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .map(|i| i as Slot)
            .collect()
    }

    /// [`BulkMatcher::match_observation`] without the indexes: the reference they must equal.
    pub fn match_observation_naive(&self, set: &Observations<'_>, index: usize) -> Vec<BulkHit> {
        let one = set.single(index);
        let mut hits = self.verify_all(self.all_slots(), &one);
        for h in &mut hits {
            h.observations = vec![index];
        }
        hits
    }

    /// [`BulkMatcher::match_all`] without the indexes: the reference they must equal.
    pub fn match_all_naive(&self, set: &Observations<'_>) -> Vec<BulkHit> {
        self.verify_all(self.all_slots(), set)
    }
}

/// All the indexes of one path against one selected value.
fn probe(pi: &PathIndex, v: &Value, add: &mut impl FnMut(&[Slot])) {
    add(&pi.exists);
    match v {
        Value::String(s) => {
            if let Some(hit) = pi.eq_str.get(s.as_str()) {
                add(hit);
            }
            if pi.eq_ts > 0 {
                if let Some(hit) =
                    Timestamp::parse(s).and_then(|t| pi.eq_other.get(&ValueKey::Ts(t)))
                {
                    add(hit);
                }
            }
            if !pi.cidr_prefixes.is_empty() {
                if let Some(net) = Cidr::parse(s) {
                    for &(v6, p) in pi.cidr_prefixes.keys() {
                        if v6 == net.is_v6() && p <= net.prefix() {
                            let probe = net.truncate(p);
                            if let Some(hit) = pi.cidr.get(&(v6, p, probe.bits())) {
                                add(hit);
                            }
                        }
                    }
                }
            }
            if !pi.regex.is_empty() {
                let text = nfc(s);
                for c in &pi.regex {
                    let compiled = c.set.get_or_init(|| {
                        regex::RegexSetBuilder::new(c.members.iter().map(|(_, r)| r.as_str()))
                            .size_limit(1 << 24)
                            .build()
                            .ok()
                    });
                    match compiled {
                        Some(rs) => {
                            if rs.is_match(&text) {
                                for i in rs.matches(&text).iter() {
                                    add(&[c.members[i].0]);
                                }
                            }
                        }
                        None => {
                            for (s, _) in &c.members {
                                add(&[*s]);
                            }
                        }
                    }
                }
            }
        }
        Value::Number(_) => {
            if let Some(k) = number_of(v) {
                if let Some(hit) = pi.eq_other.get(&k) {
                    add(hit);
                }
            }
            let r = &pi.ranges;
            if !r.lower.is_empty() || !r.upper.is_empty() {
                if let Some(x) = v.as_f64() {
                    let (lower, upper) = r.sorted.get_or_init(|| {
                        let mut l = r.lower.clone();
                        let mut u = r.upper.clone();
                        l.sort_by(|a, b| a.0.total_cmp(&b.0));
                        u.sort_by(|a, b| a.0.total_cmp(&b.0));
                        (l, u)
                    });
                    // value >= threshold: thresholds up to x; value <= threshold: from x.
                    let n = lower.partition_point(|(t, _)| *t <= x);
                    for (_, s) in &lower[..n] {
                        add(&[*s]);
                    }
                    let n = upper.partition_point(|(t, _)| *t < x);
                    for (_, s) in &upper[n..] {
                        add(&[*s]);
                    }
                }
            }
        }
        Value::Bool(b) => {
            if let Some(hit) = pi.eq_other.get(&ValueKey::Bool(*b)) {
                add(hit);
            }
        }
        _ => {}
    }
}
