//! Matching many indicators against observations at once.
//!
//! Each indicator's pattern is reduced to *anchors*: facts of which at least one must
//! hold of some SCO for the pattern to match (every binding contains at least one
//! `[…]` that matched an SCO). Anchors are indexed:
//!
//! - equality (`=`, `IN`) in a hash map keyed by object path and normalized value;
//! - `ISSUBSET` in a per-path prefix table probed once per prefix length present;
//! - `MATCHES` / `LIKE` in per-path [`regex::RegexSet`] chunks, rebuilt lazily after changes;
//! - anything else (`!=`, `<`, `NOT …`, `EXISTS`, binary properties) by object type.
//!
//! Candidates found through the indexes are then verified by the evaluator, so the
//! result is exactly that of evaluating every pattern (errors count as no match).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use regex::RegexSet;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::ast::{CompareOp, ComparisonExpr, Literal, ObjectPath, ObservationExpr, PathStep, Test};
use crate::eval::{select, Ctx};
use crate::net::Cidr;
use crate::observation::Observations;
use crate::timestamp::Timestamp;
use crate::Pattern;

/// A normalized scalar for the equality index; equal keys ⇔ `=` holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
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

fn literal_key(lit: &Literal) -> ValueKey {
    match lit {
        Literal::Int(i) => ValueKey::Int(*i),
        Literal::Float(f) => number_key(*f),
        Literal::Str(s) => ValueKey::Str(s.clone()),
        Literal::Bool(b) => ValueKey::Bool(*b),
        // Against a text property, bytes compare with the latin-1 reading of the text.
        Literal::Hex(b) | Literal::Binary(b) => {
            ValueKey::Str(b.iter().map(|&c| char::from(c)).collect())
        }
        Literal::Timestamp(t) => ValueKey::Ts(*t),
    }
}

fn value_keys(v: &Value, out: &mut Vec<ValueKey>) {
    match v {
        Value::String(s) => {
            out.push(ValueKey::Str(s.clone()));
            if let Some(t) = Timestamp::parse(s) {
                out.push(ValueKey::Ts(t));
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push(ValueKey::Int(i)),
            None => {
                if let Some(f) = n.as_f64() {
                    out.push(number_key(f));
                }
            }
        },
        Value::Bool(b) => out.push(ValueKey::Bool(*b)),
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Anchor {
    Eq(ObjectPath, ValueKey),
    Cidr(ObjectPath, Cidr),
    Regex(ObjectPath, String),
    Type(String),
}

fn is_binary_path(path: &ObjectPath) -> bool {
    path.steps.iter().rev().find_map(|s| match s {
        PathStep::Key(k) => Some(k.ends_with("_bin") || k.ends_with("_hex")),
        _ => None,
    }) == Some(true)
}

/// Anchors of a comparison expression, or `None` when no value index can find it.
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
        ComparisonExpr::And(items) => {
            // The most selective conjunct: equality before CIDR before regex, fewest anchors.
            let rank = |a: &[Anchor]| {
                let worst = a
                    .iter()
                    .map(|x| match x {
                        Anchor::Eq(..) => 0,
                        Anchor::Cidr(..) => 1,
                        _ => 2,
                    })
                    .max()
                    .unwrap_or(0);
                (worst, a.len())
            };
            items.iter().filter_map(cmp_anchors).min_by_key(|a| rank(a))
        }
        ComparisonExpr::Test(c) => {
            if c.negated || is_binary_path(&c.path) {
                return None;
            }
            let p = || c.path.clone();
            match &c.test {
                Test::Compare(CompareOp::Eq, lit) => Some(vec![Anchor::Eq(p(), literal_key(lit))]),
                Test::In(set) => Some(
                    set.iter()
                        .map(|l| Anchor::Eq(p(), literal_key(l)))
                        .collect(),
                ),
                Test::IsSubset(net) => Some(vec![Anchor::Cidr(p(), *net)]),
                Test::Like(l) => Some(vec![Anchor::Regex(p(), l.text.as_str().to_string())]),
                Test::Matches(m) => Some(vec![Anchor::Regex(p(), m.text.as_str().to_string())]),
                _ => None,
            }
        }
    }
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

type Slot = u32;

const REGEX_CHUNK: usize = 256;

#[derive(Default)]
struct RegexChunk {
    members: Vec<(Slot, String)>,
    /// `None` inside: the set would not compile; every member is then a candidate.
    set: OnceLock<Option<RegexSet>>,
}

struct PathIndex {
    path: ObjectPath,
    users: usize,
    eq: HashMap<ValueKey, Vec<Slot>>,
    cidr: HashMap<(bool, u8, u128), Vec<Slot>>,
    cidr_prefixes: BTreeMap<(bool, u8), usize>,
    regex: Vec<RegexChunk>,
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
}

/// A hit of [`BulkMatcher`]: which indicator, bound by which observations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BulkHit {
    /// The indicator id given to [`BulkMatcher::insert`].
    pub indicator: String,
    /// Indices of the observations that bound the match.
    pub observations: Vec<usize>,
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

    /// Add (or replace) indicator `id`.
    pub fn insert(&mut self, id: impl Into<String>, pattern: Pattern) {
        let id = id.into();
        self.remove(&id);
        let mut anchors = Vec::new();
        pattern_anchors(pattern.root(), &mut anchors);
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
            eq: HashMap::new(),
            cidr: HashMap::new(),
            cidr_prefixes: BTreeMap::new(),
            regex: Vec::new(),
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
        match a {
            Anchor::Type(t) => self.by_type.entry(t.clone()).or_default().push(slot),
            Anchor::Eq(p, k) => {
                let i = self.path_index(p);
                self.paths[i].users += 1;
                self.paths[i].eq.entry(k.clone()).or_default().push(slot);
            }
            Anchor::Cidr(p, net) => {
                let i = self.path_index(p);
                let pi = &mut self.paths[i];
                pi.users += 1;
                pi.cidr
                    .entry((net.is_v6(), net.prefix(), net.bits()))
                    .or_default()
                    .push(slot);
                *pi.cidr_prefixes
                    .entry((net.is_v6(), net.prefix()))
                    .or_default() += 1;
            }
            Anchor::Regex(p, re) => {
                let i = self.path_index(p);
                let pi = &mut self.paths[i];
                pi.users += 1;
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
            Anchor::Eq(p, _) | Anchor::Cidr(p, _) | Anchor::Regex(p, _) => p,
        };
        let Some(&i) = self.path_ids.get(path) else {
            return;
        };
        let pi = &mut self.paths[i];
        pi.users -= 1;
        match a {
            Anchor::Eq(_, k) => {
                if let Some(v) = pi.eq.get_mut(k) {
                    remove_slot(v, slot);
                    if v.is_empty() {
                        pi.eq.remove(k);
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
            Anchor::Type(_) => {}
        }
    }

    /// Indicators that might match observation `index` (a superset of the matches).
    fn candidates_into(&self, set: &Observations<'_>, index: usize, out: &mut HashSet<Slot>) {
        let obs = &set.items[index];
        let ctx = Ctx { set, index, obs };
        let mut keys = Vec::new();
        for root in &obs.roots {
            let Some(t) = root.get("type").and_then(Value::as_str) else {
                continue;
            };
            if let Some(v) = self.by_type.get(t) {
                out.extend(v.iter().copied());
            }
            for &pid in self.paths_by_type.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                let pi = &self.paths[pid];
                if pi.users == 0 {
                    continue;
                }
                let (values, _) = select(&ctx, root, &pi.path.steps);
                for v in values {
                    if !pi.eq.is_empty() {
                        keys.clear();
                        value_keys(v, &mut keys);
                        for k in &keys {
                            if let Some(s) = pi.eq.get(k) {
                                out.extend(s.iter().copied());
                            }
                        }
                    }
                    let Value::String(s) = v else { continue };
                    if !pi.cidr_prefixes.is_empty() {
                        if let Some(net) = Cidr::parse(s) {
                            for &(v6, p) in pi.cidr_prefixes.keys() {
                                if v6 == net.is_v6() && p <= net.prefix() {
                                    let probe = net.truncate(p);
                                    if let Some(hit) = pi.cidr.get(&(v6, p, probe.bits())) {
                                        out.extend(hit.iter().copied());
                                    }
                                }
                            }
                        }
                    }
                    if !pi.regex.is_empty() {
                        let text: String = s.nfc().collect();
                        for c in &pi.regex {
                            let compiled = c.set.get_or_init(|| {
                                regex::RegexSetBuilder::new(
                                    c.members.iter().map(|(_, r)| r.as_str()),
                                )
                                .size_limit(1 << 24)
                                .build()
                                .ok()
                            });
                            match compiled {
                                Some(rs) => {
                                    out.extend(rs.matches(&text).iter().map(|i| c.members[i].0))
                                }
                                None => out.extend(c.members.iter().map(|(s, _)| *s)),
                            }
                        }
                    }
                }
            }
        }
    }

    fn verify(
        &self,
        slots: HashSet<Slot>,
        set: &Observations<'_>,
        offset: &[usize],
    ) -> Vec<BulkHit> {
        let mut hits: Vec<BulkHit> = slots
            .into_iter()
            .filter_map(|s| {
                let e = self.slots[s as usize].as_ref()?;
                let m = e.pattern.evaluate(set).ok()??;
                let observations = m.observations().iter().map(|&i| offset[i]).collect();
                Some(BulkHit {
                    indicator: e.id.clone(),
                    observations,
                })
            })
            .collect();
        hits.sort();
        hits
    }

    /// How many indicators the indexes select for verification against observation `index`.
    pub fn count_candidates(&self, set: &Observations<'_>, index: usize) -> usize {
        let mut slots = HashSet::new();
        self.candidates_into(set, index, &mut slots);
        slots.len()
    }

    /// Indicators whose pattern matches observation `index` on its own, sorted by id.
    pub fn match_observation(&self, set: &Observations<'_>, index: usize) -> Vec<BulkHit> {
        let mut slots = HashSet::new();
        self.candidates_into(set, index, &mut slots);
        self.verify(slots, &set.single(index), &[index])
    }

    /// Indicators whose pattern matches the whole set (temporal operators across
    /// observations included), sorted by id.
    pub fn match_all(&self, set: &Observations<'_>) -> Vec<BulkHit> {
        let mut slots = HashSet::new();
        for i in 0..set.items.len() {
            self.candidates_into(set, i, &mut slots);
        }
        let identity: Vec<usize> = (0..set.items.len()).collect();
        self.verify(slots, set, &identity)
    }

    /// [`BulkMatcher::match_observation`] without the indexes: the reference they must equal.
    pub fn match_observation_naive(&self, set: &Observations<'_>, index: usize) -> Vec<BulkHit> {
        let all = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| i as Slot)
            .collect();
        self.verify(all, &set.single(index), &[index])
    }

    /// [`BulkMatcher::match_all`] without the indexes: the reference they must equal.
    pub fn match_all_naive(&self, set: &Observations<'_>) -> Vec<BulkHit> {
        let all = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| i as Slot)
            .collect();
        let identity: Vec<usize> = (0..set.items.len()).collect();
        self.verify(all, set, &identity)
    }
}
