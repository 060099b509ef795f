//! Matching many indicators against observations at once.
//!
//! Each indicator's pattern is reduced to *anchors*: facts of which at least one must
//! hold of some SCO for the pattern to match (every binding contains at least one
//! `[…]` that matched an SCO). Anchors are indexed per object path:
//!
//! - equality (`=`, `IN`): a hash map keyed by the normalized value (strings are probed
//!   without copying them), behind a Bloom filter;
//! - `ISSUBSET`: the networks as elementary intervals of the address space, each
//!   listing the networks (with their indicator ids) that contain it, rebuilt lazily
//!   after changes;
//! - `MATCHES` / `LIKE` with a literal prefix: a table by the hash of the prefix, probed
//!   once per prefix length present, the tests inline (rebuilt lazily); the others in
//!   [`regex::RegexSet`] chunks, rebuilt lazily after changes, run once per string
//!   value (a cheap `is_match` first);
//! - numeric order (`<`, `<=`, `>`, `>=` with a number): sorted thresholds, one binary
//!   search per numeric value; a one-`[…]` pattern found by its range has a
//!   range plan that decides a hit exactly (the comparison inline, the other
//!   conjuncts shared and evaluated once per SCO);
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

use std::sync::{Arc, OnceLock};

use regex::RegexSet;
use serde_json::Value;

use crate::ast::{
    CompareOp, ComparisonExpr, Glob, Literal, ObjectPath, ObservationExpr, PathStep, Test,
};
use crate::error::EvalError;
use crate::eval::{
    compare_number, eval_expr, evaluate_one, holds, last_key, may_fail, nfc, short_eq,
    single_bracket, visit, Ctx, EvalOptions,
};
use crate::fxhash::FxMap;
use crate::net::Cidr;
use crate::observation::{recast, type_code, Observations, SCO_TYPES};
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
    /// `value >= threshold` (from `>`/`>=`) or, with `false`, `value <= threshold`;
    /// with a plan when a hit can be decided without the evaluator.
    Range(ObjectPath, bool, f64, Option<RangePlan>),
    /// The regex text (the key of the anchor), the literal prefix of every match
    /// (may be empty) and the test itself.
    Regex(ObjectPath, String, String, TextTest),
    Exists(ObjectPath),
    Type(String),
    /// For a pattern found only by presence or type: a conjunct that must hold of an SCO
    /// of this type (by its text), evaluated once per SCO for all the indicators that
    /// share it.
    Guard(String, String, ComparisonExpr),
}

impl Anchor {
    fn rank(&self) -> u8 {
        match self {
            Anchor::Eq(..) => 0,
            Anchor::Cidr(..) => 1,
            Anchor::Range(..) => 2,
            Anchor::Regex(..) => 3,
            Anchor::Exists(..) | Anchor::Guard(..) => 4,
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
                Test::Like(l) => vec![match &l.glob {
                    Some(g) => Anchor::Regex(
                        p(),
                        l.text.as_str().into(),
                        g.prefix().into(),
                        TextTest::Glob(g.clone()),
                    ),
                    None => Anchor::Regex(
                        p(),
                        l.text.as_str().into(),
                        literal_prefix(l.text.as_str()),
                        TextTest::Regex(l.text.clone()),
                    ),
                }],
                Test::Matches(m) => vec![Anchor::Regex(
                    p(),
                    m.text.as_str().into(),
                    literal_prefix(m.text.as_str()),
                    TextTest::Regex(m.text.clone()),
                )],
                _ => vec![Anchor::Exists(p())],
            })
        }
    }
}

fn range(path: ObjectPath, op: CompareOp, threshold: f64) -> Anchor {
    // Inclusive bounds: a candidate filter must not lose a match to rounding.
    Anchor::Range(
        path,
        matches!(op, CompareOp::Gt | CompareOp::Ge),
        threshold,
        None,
    )
}

/// How to decide a hit of a range anchor of a one-`[…]` pattern `[p op n AND rest]`
/// (or `[p op n]`) without walking the pattern: the comparison itself, on the value
/// that hit, and `rest` on the same SCO, shared by every pattern with the same `rest`
/// (by its text) and evaluated once per SCO.
#[derive(Debug, Clone)]
struct RangePlan {
    op: CompareOp,
    /// `Literal::Int` or `Literal::Float`.
    literal: Literal,
    /// The other conjuncts, by canonical text.
    rest: Option<(String, ComparisonExpr)>,
}

/// The plan of a one-`[…]` pattern `e` found only by the anchor `Range(path, lower,
/// threshold)`, when there is one: `e` cannot fail and one of its conjuncts is the
/// comparison that gave the anchor.
fn range_plan(
    e: &ComparisonExpr,
    path: &ObjectPath,
    lower: bool,
    threshold: f64,
) -> Option<RangePlan> {
    if may_fail(e) {
        return None;
    }
    let mut e = e;
    while let ComparisonExpr::Group(inner) = e {
        e = inner;
    }
    let items = match e {
        ComparisonExpr::And(items) => items.as_slice(),
        ComparisonExpr::Test(_) => std::slice::from_ref(e),
        _ => return None,
    };
    for (i, item) in items.iter().enumerate() {
        let mut it = item;
        while let ComparisonExpr::Group(inner) = it {
            it = inner;
        }
        let ComparisonExpr::Test(c) = it else {
            continue;
        };
        if c.negated || is_binary_path(&c.path) || c.path != *path {
            continue;
        }
        let Test::Compare(op, literal) = &c.test else {
            continue;
        };
        let x = match literal {
            Literal::Int(i) => *i as f64,
            Literal::Float(f) => *f,
            _ => continue,
        };
        if matches!(op, CompareOp::Eq | CompareOp::Ne)
            || matches!(op, CompareOp::Gt | CompareOp::Ge) != lower
            || x.to_bits() != threshold.to_bits()
        {
            continue;
        }
        let others: Vec<ComparisonExpr> = items
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, x)| x.clone())
            .collect();
        let rest = match others.len() {
            0 => None,
            1 => others.into_iter().next(),
            _ => Some(ComparisonExpr::And(others)),
        };
        return Some(RangePlan {
            op: *op,
            literal: literal.clone(),
            rest: rest.map(|r| (r.to_string(), r)),
        });
    }
    None
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

/// The guard of a pattern that is one `[…]` that cannot fail: its first conjunct (or
/// the whole test), when it tests one object type.
fn guard_of(root: &ObservationExpr) -> Option<Anchor> {
    let mut e = single_bracket(root)?;
    if may_fail(e) {
        return None;
    }
    while let ComparisonExpr::Group(inner) = e {
        e = inner;
    }
    if let ComparisonExpr::And(items) = e {
        e = &items[0];
    }
    let mut types = Vec::new();
    cmp_types(e, &mut types);
    match types.as_slice() {
        [t] => Some(Anchor::Guard(t.clone(), e.to_string(), e.clone())),
        _ => None,
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

/// Set in the slots stored in the indexes of an exact indicator, so that a hit is sorted
/// without reading a per-slot table (slots stay below 2³¹).
const EXACT: Slot = 1 << 31;

const REGEX_CHUNK: usize = 256;

#[derive(Default)]
struct RegexChunk {
    members: Vec<(Slot, String)>,
    /// `None` inside: the set would not compile; every member is then a candidate.
    set: OnceLock<Option<RegexSet>>,
}

/// A range anchor in its index: threshold, slot, and the decision of a hit when the
/// pattern has a [`RangePlan`].
#[derive(Debug, Clone)]
struct RangeEntry {
    threshold: f64,
    slot: Slot,
    check: Option<RangeCheck>,
}

/// A [`RangePlan`] in the index: the comparison inline (no pointer to chase), the rest
/// by id in [`BulkMatcher::rests`] (`NO_REST` when there is none).
#[derive(Debug, Clone)]
struct RangeCheck {
    op: CompareOp,
    literal: Literal,
    rest: u32,
}

const NO_REST: u32 = u32::MAX;

/// Range entries sorted by threshold, and the thresholds alone (the binary search
/// reads 8 bytes per entry, not the whole entries).
#[derive(Default)]
struct SortedRanges {
    thresholds: Vec<f64>,
    entries: Vec<RangeEntry>,
}

impl SortedRanges {
    fn of(list: &[RangeEntry]) -> SortedRanges {
        let mut entries = list.to_vec();
        entries.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
        SortedRanges {
            thresholds: entries.iter().map(|e| e.threshold).collect(),
            entries,
        }
    }
}

#[derive(Default)]
struct Ranges {
    /// `value >= threshold` anchors.
    lower: Vec<RangeEntry>,
    /// `value <= threshold` anchors.
    upper: Vec<RangeEntry>,
    /// Both lists sorted by threshold, rebuilt lazily after a change.
    sorted: OnceLock<(SortedRanges, SortedRanges)>,
}

/// Intervals per [`StabBlock`].
const STAB_BLOCK: usize = 7;

/// Entries of [`Stab::top`] per entry of [`Stab::top2`].
const STAB_TOP: usize = 16;

/// [`STAB_BLOCK`] consecutive intervals: their starts and where their lists end in
/// [`Stab::items`], side by side in one cache line (for IPv4), so that a search reads
/// the small [`Stab::top`] and then this one line before the list itself.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct StabBlock<K> {
    /// Start of each interval, ascending (unused entries past the last interval).
    starts: [K; STAB_BLOCK],
    /// `items[ends[j - 1]..ends[j]]` lists interval `j` (`items[first..ends[0]]` the
    /// first).
    ends: [u32; STAB_BLOCK],
    first: u32,
}

/// A network of a [`Stab`] list: its prefix, its slot and, for the exact hit it
/// usually is, the indicator id (so that a hit reads no per-slot table).
struct StabItem {
    prefix: u8,
    slot: Slot,
    name: Arc<str>,
}

/// The `ISSUBSET` networks of one family as disjoint elementary intervals of the
/// address space, each listing the networks that contain it: one binary search finds
/// every network containing an address (networks nest or are disjoint, so an interval
/// lists at most 33 — or 129 — distinct networks).
///
/// `K` is `u32` for IPv4 (a quarter of the memory the binary search reads) and `u128`
/// for IPv6.
#[derive(Default)]
struct Stab<K> {
    /// Every [`STAB_TOP`]-th entry of `top`: a search reads this small array (1 KB
    /// for 14,000 networks, stays in cache), then [`STAB_TOP`] entries of `top` (a
    /// cache line for IPv4), then one block.
    top2: Vec<K>,
    /// The first start of each block.
    top: Vec<K>,
    blocks: Vec<StabBlock<K>>,
    /// Number of intervals; the first starts at 0, the last runs to the end of the
    /// address space.
    len: usize,
    /// The networks containing each interval, interval after interval.
    items: Vec<StabItem>,
}

impl<K: Copy + Ord + Default + TryFrom<u128>> Stab<K> {
    /// `nets`: (first address, last address, prefix, slots), addresses of the family;
    /// `names`: the id of each slot (by slot without the [`EXACT`] bit).
    fn build(nets: &[(u128, u128, u8, &[Slot])], names: &[Arc<str>]) -> Stab<K> {
        let mut starts: Vec<u128> = vec![0];
        for &(lo, hi, ..) in nets {
            starts.push(lo);
            if let Some(next) = hi.checked_add(1) {
                starts.push(next);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut lists: Vec<Vec<(u8, Slot)>> = vec![Vec::new(); starts.len()];
        for &(lo, hi, prefix, slots) in nets {
            let a = starts.partition_point(|&s| s < lo);
            let b = starts.partition_point(|&s| s <= hi);
            for list in &mut lists[a..b] {
                list.extend(slots.iter().map(|&s| (prefix, s)));
            }
        }
        // Addresses of the family fit in `K`; only a start one past the end of the
        // IPv4 space (2³², the last, with an empty list) does not, and no address
        // reaches it.
        let keep = starts
            .iter()
            .take_while(|&&s| K::try_from(s).is_ok())
            .count();
        let mut items = Vec::new();
        let mut blocks = Vec::with_capacity(keep.div_ceil(STAB_BLOCK));
        for (chunk, lists) in starts[..keep]
            .chunks(STAB_BLOCK)
            .zip(lists.chunks(STAB_BLOCK))
        {
            let mut block = StabBlock {
                starts: [K::default(); STAB_BLOCK],
                ends: [0; STAB_BLOCK],
                first: items.len() as u32,
            };
            for (j, (&start, list)) in chunk.iter().zip(lists).enumerate() {
                block.starts[j] = K::try_from(start).ok().expect("checked above");
                items.extend(list.iter().map(|&(prefix, slot)| {
                    StabItem {
                        prefix,
                        slot,
                        name: names
                            .get((slot & !EXACT) as usize)
                            .cloned()
                            .unwrap_or_else(|| Arc::from("")),
                    }
                }));
                block.ends[j] = items.len() as u32;
            }
            blocks.push(block);
        }
        let top: Vec<K> = blocks.iter().map(|b| b.starts[0]).collect();
        Stab {
            top2: top.iter().step_by(STAB_TOP).copied().collect(),
            top,
            blocks,
            len: keep,
            items,
        }
    }

    /// The networks containing `addr`.
    #[cfg(test)]
    fn stab(&self, addr: K) -> &[StabItem] {
        match self.block_of(addr) {
            Some(j) => self.in_block(j, addr),
            None => &[],
        }
    }

    /// The block of the interval containing `addr` (reads the small arrays only).
    fn block_of(&self, addr: K) -> Option<usize> {
        // The last block starting at or before addr.
        let k = self.top2.partition_point(|&s| s <= addr);
        if k == 0 {
            return None;
        }
        let from = (k - 1) * STAB_TOP;
        let segment = &self.top[from..self.top.len().min(from + STAB_TOP)];
        // At least 1: the segment's first start is at or before addr.
        // Sorted: the count of starts at or before addr is the partition point (a
        // branchless count over a cache line instead of a binary search).
        Some(from + segment.iter().filter(|&&s| s <= addr).count() - 1)
    }

    /// The networks containing `addr`, in block `j` from [`Stab::block_of`].
    fn in_block(&self, j: usize, addr: K) -> &[StabItem] {
        let b = &self.blocks[j];
        let n = (self.len - j * STAB_BLOCK).min(STAB_BLOCK);
        // At least 1: the block's first start is at or before addr.
        let i = b.starts[..n].iter().filter(|&&s| s <= addr).count();
        let from = if i <= 1 { b.first } else { b.ends[i - 2] };
        &self.items[from as usize..b.ends[i - 1] as usize]
    }
}

/// Both families' [`Stab`]s.
#[derive(Default)]
struct CidrIndex {
    v4: Stab<u32>,
    v6: Stab<u128>,
}

impl CidrIndex {
    fn build(nets: &FxMap<(bool, u8, u128), Vec<Slot>>, names: &[Arc<str>]) -> CidrIndex {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (&(is_v6, prefix, lo), slots) in nets {
            if is_v6 {
                let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                v6.push((lo, lo | host, prefix, slots.as_slice()));
            } else {
                let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                v4.push((lo, lo | u128::from(host), prefix, slots.as_slice()));
            }
        }
        CidrIndex {
            v4: Stab::build(&v4, names),
            v6: Stab::build(&v6, names),
        }
    }
}

/// A `LIKE` or `MATCHES` test on NFC text.
#[derive(Debug, Clone)]
enum TextTest {
    Glob(Glob),
    Regex(regex::Regex),
}

impl TextTest {
    fn is_match(&self, s: &str) -> bool {
        match self {
            TextTest::Glob(g) => g.is_match(s),
            TextTest::Regex(r) => r.is_match(s),
        }
    }
}

/// The literal text every match of an anchored regex starts with (`^abc[0-9]` → `abc`),
/// or `""` when there is none or it cannot be told safely. Conservative: any `|`, a flag
/// group other than a leading `(?s)`, or an unknown construct ends the prefix.
fn literal_prefix(re: &str) -> String {
    let body = re.strip_prefix("(?s)").unwrap_or(re);
    let Some(body) = body.strip_prefix('^') else {
        return String::new();
    };
    if re.contains('|') {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = if c == '\\' {
            match chars.next() {
                Some(n) if crate::ast::escaped_literal(n) => n,
                _ => break,
            }
        } else if c.is_alphanumeric()
            || (c.is_ascii() && " !\"#%&',-/:;<=>@_`~".contains(c))
            || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
        {
            c
        } else {
            break;
        };
        // A quantifier makes the last literal optional or repeatable.
        if matches!(chars.peek(), Some('*' | '?' | '+' | '{')) {
            break;
        }
        out.push(lit);
    }
    out
}

/// A Bloom filter of string keys (two bits per key, from one hash), grown with the
/// keys; removed keys are not cleared (they only cost a probe of the map). Most values
/// of an observation match nothing: this answers them from one small bit array instead
/// of a probe of a large hash table.
const BLOOM_MIN: usize = 8;

#[derive(Default)]
struct Bloom {
    bits: Vec<u64>,
    keys: usize,
}

impl Bloom {
    #[inline]
    fn hash(s: &str) -> u64 {
        crate::fxhash::hash_bytes(s.as_bytes())
    }

    /// The word and the two bits in it of hash `h`: both bits in one word, so that a
    /// probe is one memory read (one cache miss at most) instead of two.
    fn positions(&self, h: u64) -> (usize, u64) {
        let mask = self.bits.len() - 1;
        let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let bits =
            (1u64 << ((h >> 58) & 63)) | (1u64 << ((h >> 52) & 63)) | (1u64 << ((h >> 46) & 63));
        ((h >> 20) as usize & mask, bits)
    }

    fn set(&mut self, h: u64) {
        let (w, bits) = self.positions(h);
        self.bits[w] |= bits;
    }

    /// Add a key; `all` yields every key when the filter grows.
    fn insert<'k>(&mut self, key: &str, all: impl Iterator<Item = &'k str>) {
        self.keys += 1;
        if self.bits.len() * 64 < self.keys * BLOOM_MIN {
            let words = (self.keys * BLOOM_MIN * 2).next_power_of_two() / 64;
            self.bits = vec![0; words.max(16)];
            for k in all {
                self.set(Self::hash(k));
            }
        }
        self.set(Self::hash(key));
    }

    #[cfg(test)]
    fn may_contain(&self, s: &str) -> bool {
        self.may_contain_hash(Self::hash(s))
    }

    /// Whether a key of hash `h` ([`Bloom::hash`]) may be in.
    fn may_contain_hash(&self, h: u64) -> bool {
        if self.bits.is_empty() {
            return false;
        }
        let (w, bits) = self.positions(h);
        self.bits[w] & bits == bits
    }

    /// A filter of the keys of these hashes.
    fn of_hashes(hashes: &[u64]) -> Bloom {
        if hashes.is_empty() {
            return Bloom::default();
        }
        let words = (hashes.len() * BLOOM_MIN * 2).next_power_of_two() / 64;
        let mut b = Bloom {
            bits: vec![0; words.max(16)],
            keys: hashes.len(),
        };
        for &h in hashes {
            b.set(h);
        }
        b
    }
}

/// A `LIKE`/`MATCHES` anchor with a literal prefix: slot, regex text (its key for
/// removal) and test.
type PrefixAnchor = (Slot, String, TextTest);

/// The `LIKE`/`MATCHES` anchors of a path with a literal prefix, as probed: by the
/// hash of the prefix, the tests inline with the indicator ids. A hit reads the
/// Bloom filter, one table entry and the entries of the prefix, not a chain of boxed
/// keys, lists, tests and ids.
#[derive(Default)]
struct PrefixProbe {
    /// The byte lengths of the prefixes, ascending.
    lens: Vec<usize>,
    bloom: Bloom,
    /// By [`Bloom::hash`] of a prefix, its range of `entries`. Two prefixes with the
    /// same hash share a range: the tests check the whole text, prefix included, so
    /// a collision costs a test, never a wrong hit.
    table: FxMap<u64, (u32, u32)>,
    entries: Vec<PrefixEntry>,
}

struct PrefixEntry {
    slot: Slot,
    test: HeadTest,
    name: Arc<str>,
}

/// The test of a [`PrefixEntry`].
enum HeadTest {
    /// `LIKE 'p%s'` (one `%`, no `_`): at least `p.len() + s.len()` bytes, starting
    /// with `p` and ending with `s`; `p` then `s` in `text`.
    Affix {
        text: [u8; AFFIX_INLINE],
        prefix: u8,
        suffix: u8,
    },
    Other(TextTest),
}

/// Bytes of a `LIKE` prefix and suffix stored inline.
const AFFIX_INLINE: usize = 22;

impl HeadTest {
    fn new(test: &TextTest) -> HeadTest {
        if let TextTest::Glob(g) = test {
            if let [p, s] = g.parts() {
                if p.len() + s.len() <= AFFIX_INLINE {
                    let mut text = [0; AFFIX_INLINE];
                    text[..p.len()].copy_from_slice(p.as_bytes());
                    text[p.len()..p.len() + s.len()].copy_from_slice(s.as_bytes());
                    return HeadTest::Affix {
                        text,
                        prefix: p.len() as u8,
                        suffix: s.len() as u8,
                    };
                }
            }
        }
        HeadTest::Other(test.clone())
    }

    #[inline]
    fn is_match(&self, s: &str) -> bool {
        match self {
            HeadTest::Affix {
                text,
                prefix,
                suffix,
            } => {
                let (p, q, s) = (usize::from(*prefix), usize::from(*suffix), s.as_bytes());
                s.len() >= p + q && s[..p] == text[..p] && s[s.len() - q..] == text[p..p + q]
            }
            HeadTest::Other(t) => t.is_match(s),
        }
    }
}

impl PrefixProbe {
    fn build(prefixes: &FxMap<Box<str>, Vec<PrefixAnchor>>, names: &[Arc<str>]) -> PrefixProbe {
        let mut keyed: Vec<(u64, &str, &[PrefixAnchor])> = prefixes
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(k, list)| (Bloom::hash(k), &**k, list.as_slice()))
            .collect();
        keyed.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut lens: Vec<usize> = keyed.iter().map(|k| k.1.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        let mut hashes: Vec<u64> = keyed.iter().map(|k| k.0).collect();
        hashes.dedup();
        let mut table = FxMap::default();
        let mut entries = Vec::new();
        for &(h, _, list) in &keyed {
            let start = table
                .get(&h)
                .map_or(entries.len() as u32, |r: &(u32, u32)| r.0);
            entries.extend(list.iter().map(|(slot, _, test)| {
                PrefixEntry {
                    slot: *slot,
                    test: HeadTest::new(test),
                    name: names
                        .get((slot & !EXACT) as usize)
                        .cloned()
                        .unwrap_or_else(|| Arc::from("")),
                }
            }));
            table.insert(h, (start, entries.len() as u32));
        }
        PrefixProbe {
            lens,
            bloom: Bloom::of_hashes(&hashes),
            table,
            entries,
        }
    }
}

struct PathIndex {
    path: ObjectPath,
    users: usize,
    eq_str: FxMap<Box<str>, Vec<Slot>>,
    eq_bloom: Bloom,
    eq_other: FxMap<ValueKey, Vec<Slot>>,
    /// How many `eq_other` keys are timestamps (strings are parsed only if some are).
    eq_ts: usize,
    cidr: FxMap<(bool, u8, u128), Vec<Slot>>,
    /// `cidr` as intervals, rebuilt lazily after a change.
    cidr_index: OnceLock<CidrIndex>,
    ranges: Ranges,
    /// Regexes with a literal prefix, by prefix: probed with each prefix length present
    /// and then run one by one.
    re_prefix: FxMap<Box<str>, Vec<PrefixAnchor>>,
    /// `re_prefix` as probed, rebuilt lazily after a change.
    re_probe: OnceLock<PrefixProbe>,
    /// Regexes without a literal prefix, in sets.
    regex: Vec<RegexChunk>,
    exists: Vec<Slot>,
}

/// The indexes of one object type.
#[derive(Default)]
struct TypeIndex {
    /// Indicators found only by the type.
    slots: Vec<Slot>,
    /// Paths of this type in `BulkMatcher::paths` that start with a property name,
    /// grouped by it: an SCO's properties are read in one pass and each value goes to
    /// the paths under its name (no per-path search of the SCO's map).
    by_key: Vec<(Box<str>, Vec<usize>)>,
    /// The other paths (`[*]` or an index first; never in practice).
    other_paths: Vec<usize>,
    /// Indicators behind a shared guard, and the guards by text.
    guards: Vec<GuardGroup>,
    guard_ids: FxMap<String, usize>,
}

struct GuardGroup {
    expr: ComparisonExpr,
    slots: Vec<Slot>,
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
    /// A binding may hold several observations ([`crate::eval::needs_several`]).
    several: bool,
}

/// An indicator whose pattern may bind several observations, selected by the indexes
/// for an observation: what [`crate::stream::StreamState::advance`] verifies against
/// the earlier observations it holds. Valid for the matcher that selected it while
/// that matcher is not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate(Slot);

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
    /// A bit per slot (12.5 KB for 100,000 indicators: stays in L1), set for the slots
    /// in `exact` and `verify` and cleared through them.
    seen: Vec<u64>,
    exact: Vec<Slot>,
    /// Exact hits already in the caller's outcomes.
    found: Vec<Slot>,
    verify: Vec<Slot>,
    /// `(rest, root, holds)` of the plan rests evaluated for this observation.
    rests: Vec<(u32, u32, bool)>,
    /// The values to probe (empty between observations).
    probes: Vec<Probe<'static, 'static>>,
    /// Set by [`BulkMatcher::match_observation_stream`]: patterns that may bind several
    /// observations are left in `several`, not evaluated on the observation alone.
    stream: bool,
    several: Vec<Candidate>,
}

impl Scratch {
    /// Empty working memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, slots: usize) {
        for &s in self.exact.iter().chain(&self.found).chain(&self.verify) {
            if let Some(w) = self.seen.get_mut(s as usize / 64) {
                *w = 0;
            }
        }
        let words = slots.div_ceil(64);
        if self.seen.len() < words {
            self.seen.resize(words, 0);
        }
        self.exact.clear();
        self.found.clear();
        self.verify.clear();
        self.rests.clear();
        self.several.clear();
    }

    /// After [`BulkMatcher::match_observation_stream`]: the indicators whose pattern
    /// may bind several observations that the observation may take part in.
    pub fn several(&self) -> &[Candidate] {
        &self.several
    }
}

/// The hits of one observation as the indexes find them, each indicator once.
struct Hits<'s, 'm> {
    seen: &'s mut [u64],
    exact: &'s mut Vec<Slot>,
    found: &'s mut Vec<Slot>,
    verify: &'s mut Vec<Slot>,
    out: &'s mut Vec<BulkOutcome<'m>>,
}

impl<'m> Hits<'_, 'm> {
    /// Whether slot `s` (without the [`EXACT`] bit) is new; marks it found.
    #[inline]
    fn first(&mut self, s: Slot) -> bool {
        let (word, bit) = (&mut self.seen[s as usize / 64], 1u64 << (s % 64));
        let new = *word & bit == 0;
        *word |= bit;
        new
    }

    /// Index hits: exact ones are reported by [`BulkMatcher::outcomes`], the others
    /// verified.
    #[inline]
    fn add(&mut self, hits: &[Slot]) {
        for &t in hits {
            let s = t & !EXACT;
            if self.first(s) {
                if t & EXACT != 0 {
                    self.exact.push(s);
                } else {
                    self.verify.push(s);
                }
            }
        }
    }

    /// An index hit whose indicator id the index holds: reported at once when exact
    /// (no read of [`BulkMatcher::names`]).
    #[inline]
    fn add_named(&mut self, t: Slot, name: &'m str) {
        let s = t & !EXACT;
        if self.first(s) {
            if t & EXACT != 0 {
                self.found.push(s);
                self.out.push(BulkOutcome {
                    indicator: name,
                    result: Ok(()),
                });
            } else {
                self.verify.push(s);
            }
        }
    }
}

/// Many compiled indicators, indexed for matching; add and remove at any time.
#[derive(Default)]
pub struct BulkMatcher {
    slots: Vec<Option<Entry>>,
    free: Vec<Slot>,
    ids: FxMap<String, Slot>,
    /// The id of each slot: read on every exact hit, so kept dense and apart from the
    /// patterns.
    names: Vec<Arc<str>>,
    paths: Vec<PathIndex>,
    path_ids: FxMap<ObjectPath, usize>,
    /// The indexes of each object type, found through `type_ids` or, when there are
    /// few types, by scanning this contiguous list.
    types: Vec<(Box<str>, TypeIndex)>,
    type_ids: FxMap<Box<str>, usize>,
    /// `types` index of each STIX SCO type by its code (`observation::type_code`), so
    /// that an observation's SCOs find their indexes without reading the type string.
    type_by_code: [Option<u32>; 1 + SCO_TYPES.len()],
    /// The rests of range plans, with how many anchors use each, and their ids by text.
    rests: Vec<(ComparisonExpr, usize)>,
    rest_ids: FxMap<String, u32>,
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
        if anchors.iter().all(|a| a.rank() >= 4) {
            if let Some(g) = guard_of(pattern.root()) {
                anchors = vec![g];
            }
        }
        let mut exact = single_bracket(pattern.root()).is_some_and(exact_cmp);
        if let (Some(e), [Anchor::Range(path, lower, t, plan)]) =
            (single_bracket(pattern.root()), anchors.as_mut_slice())
        {
            *plan = range_plan(e, path, *lower, *t);
            exact |= plan.is_some();
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as Slot
            }
        };
        assert!(slot < EXACT, "too many indicators");
        let tagged = if exact { slot | EXACT } else { slot };
        for a in &anchors {
            self.index(tagged, a);
        }
        if self.names.len() <= slot as usize {
            self.names.resize(slot as usize + 1, Arc::from(""));
        }
        self.names[slot as usize] = id.as_str().into();
        self.ids.insert(id.clone(), slot);
        let several = crate::eval::needs_several(pattern.root());
        self.slots[slot as usize] = Some(Entry {
            id,
            pattern,
            anchors,
            exact,
            several,
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
        let tagged = if entry.exact { slot | EXACT } else { slot };
        for a in &entry.anchors {
            self.unindex(tagged, a);
        }
        self.names[slot as usize] = Arc::from("");
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
            eq_str: FxMap::default(),
            eq_bloom: Bloom::default(),
            eq_other: FxMap::default(),
            eq_ts: 0,
            cidr: FxMap::default(),
            cidr_index: OnceLock::new(),
            ranges: Ranges::default(),
            re_prefix: FxMap::default(),
            re_probe: OnceLock::new(),
            regex: Vec::new(),
            exists: Vec::new(),
        });
        let i = self.paths.len() - 1;
        self.path_ids.insert(path.clone(), i);
        let ti = self.type_mut(&path.object_type);
        match path.steps.first() {
            Some(PathStep::Key(k)) => match ti.by_key.iter_mut().find(|(x, _)| **x == **k) {
                Some((_, v)) => v.push(i),
                None => ti.by_key.push((k.as_str().into(), vec![i])),
            },
            _ => ti.other_paths.push(i),
        }
        i
    }

    /// The indexes of type `t`, created empty if need be.
    fn type_mut(&mut self, t: &str) -> &mut TypeIndex {
        let i = match self.type_ids.get(t) {
            Some(&i) => i,
            None => {
                let i = self.types.len();
                self.types.push((t.into(), TypeIndex::default()));
                self.type_ids.insert(t.into(), i);
                let code = type_code(t);
                if code != 0 {
                    self.type_by_code[code as usize] = Some(i as u32);
                }
                i
            }
        };
        &mut self.types[i].1
    }

    fn type_get_mut(&mut self, t: &str) -> Option<&mut TypeIndex> {
        let i = *self.type_ids.get(t)?;
        Some(&mut self.types[i].1)
    }

    fn index(&mut self, slot: Slot, a: &Anchor) {
        let path = match a {
            Anchor::Type(t) => {
                self.type_mut(t).slots.push(slot);
                return;
            }
            Anchor::Guard(t, key, expr) => {
                let ti = self.type_mut(t);
                let i = *ti.guard_ids.entry(key.clone()).or_insert_with(|| {
                    ti.guards.push(GuardGroup {
                        expr: expr.clone(),
                        slots: Vec::new(),
                    });
                    ti.guards.len() - 1
                });
                ti.guards[i].slots.push(slot);
                return;
            }
            Anchor::Eq(p, _)
            | Anchor::Cidr(p, _)
            | Anchor::Range(p, ..)
            | Anchor::Regex(p, ..)
            | Anchor::Exists(p) => p,
        };
        let i = self.path_index(path);
        let pi = &mut self.paths[i];
        pi.users += 1;
        match a {
            Anchor::Eq(_, Ok(s)) => {
                let list = pi.eq_str.entry(s.as_str().into()).or_default();
                list.push(slot);
                if list.len() == 1 {
                    pi.eq_bloom.insert(s, pi.eq_str.keys().map(|k| &**k));
                }
            }
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
                pi.cidr_index = OnceLock::new();
            }
            Anchor::Range(_, lower, t, plan) => {
                let check = plan.as_ref().map(|p| RangeCheck {
                    op: p.op,
                    literal: p.literal.clone(),
                    rest: match &p.rest {
                        None => NO_REST,
                        Some((key, expr)) => {
                            let rests = &mut self.rests;
                            let id = *self.rest_ids.entry(key.clone()).or_insert_with(|| {
                                rests.push((expr.clone(), 0));
                                (rests.len() - 1) as u32
                            });
                            rests[id as usize].1 += 1;
                            id
                        }
                    },
                });
                let list = if *lower {
                    &mut pi.ranges.lower
                } else {
                    &mut pi.ranges.upper
                };
                list.push(RangeEntry {
                    threshold: *t,
                    slot,
                    check,
                });
                pi.ranges.sorted = OnceLock::new();
            }
            Anchor::Regex(_, re, prefix, test) => {
                if !prefix.is_empty() {
                    let list = pi.re_prefix.entry(prefix.as_str().into()).or_default();
                    list.push((slot, re.clone(), test.clone()));
                    pi.re_probe = OnceLock::new();
                    return;
                }
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
            Anchor::Type(_) | Anchor::Guard(..) => {}
        }
    }

    fn unindex(&mut self, slot: Slot, a: &Anchor) {
        let path = match a {
            Anchor::Type(t) => {
                if let Some(v) = self.type_get_mut(t) {
                    remove_slot(&mut v.slots, slot);
                }
                return;
            }
            Anchor::Guard(t, key, _) => {
                if let Some(ti) = self.type_get_mut(t) {
                    if let Some(&i) = ti.guard_ids.get(key) {
                        remove_slot(&mut ti.guards[i].slots, slot);
                    }
                }
                return;
            }
            Anchor::Eq(p, _)
            | Anchor::Cidr(p, _)
            | Anchor::Range(p, ..)
            | Anchor::Regex(p, ..)
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
                pi.cidr_index = OnceLock::new();
            }
            Anchor::Range(_, lower, t, _) => {
                let list = if *lower {
                    &mut pi.ranges.lower
                } else {
                    &mut pi.ranges.upper
                };
                if let Some(j) = list
                    .iter()
                    .position(|e| e.slot == slot && e.threshold == *t)
                {
                    let e = list.swap_remove(j);
                    if let Some(c) = e.check.filter(|c| c.rest != NO_REST) {
                        // Kept (with its id) when unused: a later pattern may share it.
                        self.rests[c.rest as usize].1 -= 1;
                    }
                }
                pi.ranges.sorted = OnceLock::new();
            }
            Anchor::Regex(_, re, prefix, _) => {
                if !prefix.is_empty() {
                    if let Some(list) = pi.re_prefix.get_mut(prefix.as_str()) {
                        if let Some(j) = list.iter().position(|(s, r, _)| *s == slot && r == re) {
                            list.swap_remove(j);
                        }
                        if list.is_empty() {
                            pi.re_prefix.remove(prefix.as_str());
                        }
                    }
                    pi.re_probe = OnceLock::new();
                    return;
                }
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
            Anchor::Type(_) | Anchor::Guard(..) => {}
        }
    }

    fn type_index(&self, t: &str) -> Option<&TypeIndex> {
        if self.types.len() <= 8 {
            // A few short names: comparing beats hashing.
            self.types
                .iter()
                .find(|(k, _)| crate::eval::short_eq(k, t))
                .map(|(_, v)| v)
        } else {
            self.type_ids.get(t).map(|&i| &self.types[i].1)
        }
    }

    /// Collect the indicators that might match observation `index`: exact ones
    /// (already matches) into `scratch` or, with their ids, straight into `out`, and
    /// ones to verify into `scratch`.
    fn candidates<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
    ) {
        let obs = &set.items[index];
        let ctx = Ctx { set, index, obs };
        let mut probes: Vec<Probe<'_, 'm>> = recast(std::mem::take(&mut scratch.probes));
        let Scratch {
            seen,
            exact,
            found,
            verify,
            rests,
            probes: _,
            stream: _,
            several: _,
        } = scratch;
        let mut add = Hits {
            seen,
            exact,
            found,
            verify,
            out,
        };
        // First pass: the hits by type and guard, and every value an indexed path
        // selects (each SCO's properties read once, each value to the paths under
        // its name).
        for (ri, (root, &(t, code))) in obs.roots.iter().zip(&obs.root_types).enumerate() {
            let ti = match code {
                0 => self.type_index(t),
                c => self.type_by_code[c as usize].map(|i| &self.types[i as usize].1),
            };
            let Some(ti) = ti else {
                continue;
            };
            add.add(&ti.slots);
            for g in &ti.guards {
                // An error cannot happen (guards of patterns that may fail are not
                // made); were it to, verifying is the safe side.
                if !g.slots.is_empty() && eval_expr(&ctx, &g.expr, root, t).unwrap_or(true) {
                    add.add(&g.slots);
                }
            }
            let mut push = |pid: usize, value| {
                if self.paths[pid].users > 0 {
                    probes.push(Probe {
                        root: ri as u32,
                        path: pid as u32,
                        value,
                        hash: None,
                        eq: false,
                        addr: None,
                        prefix: 0,
                        nets: &[],
                    });
                }
            };
            if let Value::Object(m) = root {
                for (k, v) in m {
                    let Some((_, pids)) = ti.by_key.iter().find(|(x, _)| short_eq(x, k)) else {
                        continue;
                    };
                    for &pid in pids {
                        let steps = &self.paths[pid].path.steps[1..];
                        if steps.is_empty() {
                            push(pid, v);
                        } else {
                            let deref = k.ends_with("_ref") || k.ends_with("_refs");
                            let _ = visit::<(), _>(&ctx, v, steps, deref, &mut |x| {
                                push(pid, x);
                                // Presence is enough for these; they are added once.
                                Ok(false)
                            });
                        }
                    }
                }
            }
            for &pid in &ti.other_paths {
                let _ = visit::<(), _>(&ctx, root, &self.paths[pid].path.steps, false, &mut |v| {
                    push(pid, v);
                    Ok(false)
                });
            }
        }
        // Second pass: what the reads of the large indexes need, from the values and
        // small arrays only (hashes, addresses, blocks of intervals).
        for p in &mut probes {
            prepare(&self.paths[p.path as usize], &self.names, p);
        }
        // Third pass: those reads (Bloom filters, blocks of network intervals), one
        // after the other for all the values, so that their cache misses overlap
        // instead of each waiting for the work on the previous value. The lists of
        // networks are read last; their first reads start here.
        for p in &mut probes {
            fetch(&self.paths[p.path as usize], p);
        }
        let mut touch = 0;
        for p in &probes {
            touch ^= p.nets.first().map_or(0, |i| i.slot);
        }
        std::hint::black_box(touch);
        // Fourth pass: the rest of each probe.
        for p in &probes {
            let ri = p.root as usize;
            let (root, t) = (obs.roots[ri], obs.root_types[ri].0);
            // A plan's rest on this SCO, evaluated once for all the patterns sharing it.
            let mut rest_holds = |r: u32| {
                if let Some(&(_, _, h)) = rests.iter().find(|x| x.0 == r && x.1 == ri as u32) {
                    return h;
                }
                // Rests of plans cannot fail (plans are made only for such patterns).
                let h = eval_expr(&ctx, &self.rests[r as usize].0, root, t).unwrap_or(false);
                rests.push((r, ri as u32, h));
                h
            };
            probe(
                &self.paths[p.path as usize],
                &self.names,
                p,
                &mut add,
                &mut rest_holds,
            );
        }
        // Last, the networks containing the addresses: a network value is inside the
        // networks of no longer prefix that contain its first address.
        for p in &probes {
            for item in p.nets {
                if item.prefix <= p.prefix {
                    add.add_named(item.slot, &item.name);
                }
            }
        }
        scratch.probes = recast(probes);
    }

    fn outcomes<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
    ) {
        // Exact hits are of live slots (removal unindexes).
        for &s in &scratch.exact {
            out.push(BulkOutcome {
                indicator: &self.names[s as usize],
                result: Ok(()),
            });
        }
        for &s in &scratch.verify {
            let Some(e) = &self.slots[s as usize] else {
                continue;
            };
            if scratch.stream && e.several {
                scratch.several.push(Candidate(s));
                continue;
            }
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
        self.match_one(set, index, scratch, out, false);
    }

    fn match_one<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
        stream: bool,
    ) {
        scratch.start(self.slots.len());
        scratch.stream = stream;
        self.candidates(set, index, scratch, out);
        self.outcomes(set, index, scratch, out);
    }

    /// [`BulkMatcher::match_observation_with`] for a stream: the indicators whose
    /// pattern may bind several observations are not evaluated on observation `index`
    /// alone but left in [`Scratch::several`], for a
    /// [`crate::stream::StreamState`] that holds the earlier observations.
    pub fn match_observation_stream<'m>(
        &'m self,
        set: &Observations<'_>,
        index: usize,
        scratch: &mut Scratch,
        out: &mut Vec<BulkOutcome<'m>>,
    ) {
        self.match_one(set, index, scratch, out, true);
    }

    /// The id, the pattern and its name as shared by the matcher, of a candidate.
    pub(crate) fn candidate(&self, c: Candidate) -> Option<(&Arc<str>, &Pattern)> {
        let e = self.slots.get(c.0 as usize)?.as_ref()?;
        Some((&self.names[c.0 as usize], &e.pattern))
    }

    /// The indicator id of a candidate, while the matcher is unchanged since it was
    /// found (a slot removed since answers `None`).
    pub fn candidate_id(&self, c: Candidate) -> Option<&str> {
        self.candidate(c).map(|(name, _)| &**name)
    }

    /// The candidates' patterns evaluated over the whole `set` (as [`BulkMatcher::match_all`]
    /// for those indicators only), sorted by id; evaluation errors count as no match.
    pub fn match_candidates(
        &self,
        candidates: &[Candidate],
        set: &Observations<'_>,
    ) -> Vec<BulkHit> {
        let mut slots: Vec<Slot> = candidates.iter().map(|c| c.0).collect();
        slots.sort_unstable();
        slots.dedup();
        slots.retain(|&s| self.slots.get(s as usize).is_some_and(Option::is_some));
        self.verify_all(slots, set)
    }

    /// The evaluation limits.
    pub(crate) fn options(&self) -> &EvalOptions {
        &self.options
    }

    /// How many indicators the indexes select for verification against observation
    /// `index` (exact hits not counted).
    pub fn count_candidates(&self, set: &Observations<'_>, index: usize) -> usize {
        let mut scratch = Scratch::new();
        scratch.start(self.slots.len());
        self.candidates(set, index, &mut scratch, &mut Vec::new());
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
        let mut out = Vec::new();
        for i in 0..set.items.len() {
            scratch.start(self.slots.len());
            out.clear();
            self.candidates(set, i, &mut scratch, &mut out);
            slots.extend_from_slice(&scratch.exact);
            slots.extend_from_slice(&scratch.found);
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

/// A value selected by an indexed path, with what [`locate`] found of it.
struct Probe<'v, 'm> {
    /// Index of the SCO in the observation's roots.
    root: u32,
    /// Index of the path in [`BulkMatcher::paths`].
    path: u32,
    value: &'v Value,
    /// The hash of a string, when the path has equality keys.
    hash: Option<u64>,
    /// A string the equality Bloom filter may hold.
    eq: bool,
    /// A string that is an address or a network: its first address (family, bits),
    /// the block of its interval, and its prefix length.
    addr: Option<(bool, u128, usize)>,
    prefix: u8,
    /// The `ISSUBSET` networks containing the address.
    nets: &'m [StabItem],
}

/// What the reads of the large indexes need, from the value and the small indexes
/// only: the hash of a string, the address and the block of its interval.
fn prepare(pi: &PathIndex, names: &[Arc<str>], p: &mut Probe<'_, '_>) {
    let Value::String(s) = p.value else {
        return;
    };
    if !pi.eq_bloom.bits.is_empty() {
        p.hash = Some(Bloom::hash(s));
    }
    if !pi.cidr.is_empty() {
        if let Some(net) = Cidr::parse(s) {
            let index = pi
                .cidr_index
                .get_or_init(|| CidrIndex::build(&pi.cidr, names));
            let block = if net.is_v6() {
                index.v6.block_of(net.bits())
            } else {
                index.v4.block_of(net.bits() as u32)
            };
            if let Some(j) = block {
                p.addr = Some((net.is_v6(), net.bits(), j));
                p.prefix = net.prefix();
            }
        }
    }
}

/// The first reads of the large indexes (the equality Bloom filter, the block of
/// network intervals): a few instructions per value, so that the cache misses of all
/// the values of an observation overlap.
fn fetch<'m>(pi: &'m PathIndex, p: &mut Probe<'_, 'm>) {
    if let Some(h) = p.hash {
        p.eq = pi.eq_bloom.may_contain_hash(h);
    }
    if let (Some((v6, bits, j)), Some(index)) = (p.addr, pi.cidr_index.get()) {
        p.nets = if v6 {
            index.v6.in_block(j, bits)
        } else {
            index.v4.in_block(j, bits as u32)
        };
    }
}

/// All the indexes of one path against one selected value, after [`fetch`].
fn probe<'m>(
    pi: &'m PathIndex,
    names: &[Arc<str>],
    p: &Probe<'_, 'm>,
    add: &mut Hits<'_, 'm>,
    rest_holds: &mut impl FnMut(u32) -> bool,
) {
    let v = p.value;
    add.add(&pi.exists);
    match v {
        Value::String(s) => {
            if p.eq {
                if let Some(hit) = pi.eq_str.get(s.as_str()) {
                    add.add(hit);
                }
            }
            if pi.eq_ts > 0 {
                if let Some(hit) =
                    Timestamp::parse(s).and_then(|t| pi.eq_other.get(&ValueKey::Ts(t)))
                {
                    add.add(hit);
                }
            }
            if !pi.regex.is_empty() || !pi.re_prefix.is_empty() {
                let text = nfc(s);
                if !pi.re_prefix.is_empty() {
                    let pp = pi
                        .re_probe
                        .get_or_init(|| PrefixProbe::build(&pi.re_prefix, names));
                    for &len in &pp.lens {
                        let Some(head) = text.get(..len) else {
                            if len > text.len() {
                                break;
                            }
                            continue;
                        };
                        let h = Bloom::hash(head);
                        if !pp.bloom.may_contain_hash(h) {
                            continue;
                        }
                        if let Some(&(a, b)) = pp.table.get(&h) {
                            for e in &pp.entries[a as usize..b as usize] {
                                if e.test.is_match(&text) {
                                    add.add_named(e.slot, &e.name);
                                }
                            }
                        }
                    }
                }
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
                                    add.add(&[c.members[i].0]);
                                }
                            }
                        }
                        None => {
                            for (s, _) in &c.members {
                                add.add(&[*s]);
                            }
                        }
                    }
                }
            }
        }
        Value::Number(_) => {
            if let Some(k) = number_of(v) {
                if let Some(hit) = pi.eq_other.get(&k) {
                    add.add(hit);
                }
            }
            let r = &pi.ranges;
            if !r.lower.is_empty() || !r.upper.is_empty() {
                if let Some(x) = v.as_f64() {
                    let (lower, upper) = r
                        .sorted
                        .get_or_init(|| (SortedRanges::of(&r.lower), SortedRanges::of(&r.upper)));
                    let mut hit = |e: &RangeEntry| match &e.check {
                        None => add.add(&[e.slot]),
                        Some(c) => {
                            // Exactly the evaluator's test of this value, then the rest
                            // on the same SCO.
                            if holds(c.op, compare_number(&c.literal, v))
                                && (c.rest == NO_REST || rest_holds(c.rest))
                            {
                                add.add(&[e.slot]);
                            }
                        }
                    };
                    // value >= threshold: thresholds up to x; value <= threshold: from x.
                    let n = lower.thresholds.partition_point(|&t| t <= x);
                    lower.entries[..n].iter().for_each(&mut hit);
                    let n = upper.thresholds.partition_point(|&t| t < x);
                    upper.entries[n..].iter().for_each(&mut hit);
                }
            }
        }
        Value::Bool(b) => {
            if let Some(hit) = pi.eq_other.get(&ValueKey::Bool(*b)) {
                add.add(hit);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes_are_safe() {
        for (re, prefix) in [
            ("^host12[0-9]\\.", "host12"),
            ("(?s)^f12.*\\.exe$", "f12"),
            ("^ab*c", "a"),
            ("^ab+c", "a"),
            ("^ab?c", "a"),
            ("^ab{2}", "a"),
            ("^a\\.b", "a.b"),
            ("^\\d", ""),
            ("^ab|cd", ""),
            ("(?i)^host", ""),
            ("host", ""),
            ("^fé", "fé"),
            ("^a.b", "a"),
            ("^$", ""),
        ] {
            assert_eq!(literal_prefix(re), prefix, "{re}");
        }
    }

    fn test_names(n: usize) -> Vec<Arc<str>> {
        (0..n)
            .map(|i| Arc::from(format!("indicator--{i}")))
            .collect()
    }

    #[test]
    fn stab_finds_nested_networks() {
        let a: &[Slot] = &[1];
        let b: &[Slot] = &[2];
        let c: &[Slot] = &[3];
        let names = test_names(4);
        let s = Stab::<u128>::build(
            &[(0, u128::MAX, 0, a), (10, 19, 5, b), (12, 12, 9, c)],
            &names,
        );
        let slots = |x| s.stab(x).iter().map(|p| p.slot).collect::<Vec<_>>();
        assert_eq!(slots(0), [1]);
        assert_eq!(slots(9), [1]);
        assert_eq!(slots(10), [1, 2]);
        assert_eq!(slots(12), [1, 2, 3]);
        assert_eq!(slots(13), [1, 2]);
        assert_eq!(slots(19), [1, 2]);
        assert_eq!(slots(20), [1]);
        assert_eq!(slots(u128::MAX), [1]);
    }

    #[test]
    fn stab_v4_covers_the_whole_space() {
        let a: &[Slot] = &[1];
        let b: &[Slot] = &[2];
        let top = u128::from(u32::MAX);
        let s = Stab::<u32>::build(&[(0, top, 0, a), (top - 255, top, 24, b)], &test_names(3));
        let slots = |x| s.stab(x).iter().map(|p| p.slot).collect::<Vec<_>>();
        assert_eq!(slots(0), [1]);
        assert_eq!(slots(u32::MAX - 256), [1]);
        assert_eq!(slots(u32::MAX - 255), [1, 2]);
        assert_eq!(slots(u32::MAX), [1, 2]);
    }

    #[test]
    fn blocked_stab_equals_a_scan_of_the_networks() {
        // Enough networks for many blocks of `top`, nested and disjoint, probed at
        // every edge and at pseudo-random addresses.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let slots: Vec<Slot> = (0..600).collect();
        let mut nets = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            let prefix = if i % 50 == 0 {
                8
            } else {
                16 + (next() % 17) as u8
            };
            let size = 1u128 << (32 - prefix);
            let lo = u128::from(next() as u32) / size * size;
            nets.push((lo, lo + size - 1, prefix, std::slice::from_ref(slot)));
        }
        let names = test_names(600);
        let s = Stab::<u32>::build(&nets, &names);
        assert!(s.top.len() > 4 * STAB_TOP);
        let mut probes: Vec<u32> = (0..5000).map(|_| next() as u32).collect();
        for &(lo, hi, ..) in &nets {
            for a in [lo.wrapping_sub(1), lo, hi, hi + 1] {
                if let Ok(a) = u32::try_from(a) {
                    probes.push(a);
                }
            }
        }
        probes.extend([0, u32::MAX]);
        for a in probes {
            let mut got: Vec<Slot> = s.stab(a).iter().map(|p| p.slot).collect();
            assert!(s.stab(a).iter().all(|p| *p.name == *names[p.slot as usize]));
            got.sort_unstable();
            let want: Vec<Slot> = nets
                .iter()
                .filter(|n| n.0 <= u128::from(a) && u128::from(a) <= n.1)
                .map(|n| n.3[0])
                .collect();
            assert_eq!(got, want, "address {a:#x}");
        }
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let keys: Vec<String> = (0..20_000)
            .map(|i| format!("host{i}.example.com"))
            .collect();
        let mut b = Bloom::default();
        for (i, k) in keys.iter().enumerate() {
            b.insert(k, keys[..i].iter().map(String::as_str));
        }
        assert!(keys.iter().all(|k| b.may_contain(k)));
        let fp = (0..20_000)
            .filter(|i| b.may_contain(&format!("other{i}.example.org")))
            .count();
        assert!(fp < 20_000 / 50, "{fp} false positives");
    }

    #[test]
    fn scratch_bits_are_cleared_between_observations() {
        let mut s = Scratch::new();
        s.start(200);
        s.exact.push(3);
        s.verify.push(130);
        s.seen[0] |= 1 << 3;
        s.seen[2] |= 1 << 2;
        s.start(200);
        assert!(s.seen.iter().all(|w| *w == 0));
        assert!(s.exact.is_empty() && s.verify.is_empty());
    }
}
