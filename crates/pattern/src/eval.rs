//! Evaluation: which observations satisfy each `[…]`, then a backtracking search for
//! one binding of observations that satisfies the whole observation expression.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::ast::{
    CompareOp, Comparison, ComparisonExpr, Literal, ObservationExpr, PathStep, Qualifier, Test,
};
use crate::error::EvalError;
use crate::lexer::{decode_base64_lenient, decode_hex};
use crate::net::Cidr;
use crate::observation::{type_code, Observation, Observations};
use crate::timestamp::Timestamp;

/// Limits of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Observations tried during the search before giving up with an error.
    pub max_steps: u64,
    /// Largest number of observation instances one binding may hold
    /// (`REPEATS 5000 TIMES` needs 5000).
    pub max_instances: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            max_steps: 2_000_000,
            max_instances: 512,
        }
    }
}

/// One way the observations satisfy a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    observations: Bound,
}

/// One observation inline (the common case, no allocation), or several.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    One([usize; 1]),
    Many(Vec<usize>),
}

impl Match {
    fn one(i: usize) -> Match {
        Match {
            observations: Bound::One([i]),
        }
    }

    fn many(v: Vec<usize>) -> Match {
        match v.as_slice() {
            [i] => Match::one(*i),
            _ => Match {
                observations: Bound::Many(v),
            },
        }
    }

    /// Indices (into the [`Observations`]) of the observed-data that bound the match,
    /// ascending and distinct.
    pub fn observations(&self) -> &[usize] {
        match &self.observations {
            Bound::One(a) => a,
            Bound::Many(v) => v,
        }
    }
}

// ---------------------------------------------------------------------------
// Comparison expressions against one SCO.

pub(crate) struct Ctx<'o, 'a> {
    pub(crate) set: &'o Observations<'a>,
    pub(crate) index: usize,
    pub(crate) obs: &'o Observation<'a>,
}

fn is_binary_property(name: &str) -> bool {
    name.ends_with("_bin") || name.ends_with("_hex")
}

/// The last property name of a path (decides how `_hex`/`_bin` values are read).
pub(crate) fn last_key(steps: &[PathStep]) -> &str {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            PathStep::Key(k) => Some(k.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// `m[k]`: small objects (most SCOs) are scanned, which beats the ordered search's
/// string comparisons.
#[inline]
pub(crate) fn property<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a Value> {
    if m.len() <= 8 {
        m.iter().find(|(key, _)| short_eq(key, k)).map(|(_, v)| v)
    } else {
        m.get(k)
    }
}

/// Call `f` on each value the path `steps` selects from `v`, in document order, until
/// it returns `true`; whether it did. No allocation. `deref`: the previous property
/// ended in `_ref`/`_refs`, so a string here is an id to follow.
pub(crate) fn visit<'a, E, F>(
    ctx: &Ctx<'_, 'a>,
    v: &'a Value,
    steps: &[PathStep],
    deref: bool,
    f: &mut F,
) -> Result<bool, E>
where
    F: FnMut(&'a Value) -> Result<bool, E> + ?Sized,
{
    let Some((step, rest)) = steps.split_first() else {
        return f(v);
    };
    match step {
        PathStep::Key(k) => {
            let target = match v {
                Value::String(id) if deref => match ctx.set.resolve(ctx.obs, id) {
                    Some(t) => t,
                    None => return Ok(false),
                },
                v => v,
            };
            match target.as_object().and_then(|m| property(m, k)) {
                Some(x) => visit(ctx, x, rest, k.ends_with("_ref") || k.ends_with("_refs"), f),
                None => Ok(false),
            }
        }
        PathStep::Index(i) => {
            if let Value::Array(a) = v {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(x) = usize::try_from(idx).ok().and_then(|idx| a.get(idx)) {
                    return visit(ctx, x, rest, deref, f);
                }
            }
            Ok(false)
        }
        PathStep::Any => {
            match v {
                Value::Array(a) => {
                    for x in a {
                        if visit(ctx, x, rest, deref, f)? {
                            return Ok(true);
                        }
                    }
                }
                Value::Object(m) => {
                    for x in m.values() {
                        if visit(ctx, x, rest, deref, f)? {
                            return Ok(true);
                        }
                    }
                }
                _ => {}
            }
            Ok(false)
        }
    }
}

fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn value_bytes(s: &str, prop: &str) -> Option<Vec<u8>> {
    if prop.ends_with("_hex") {
        decode_hex(s)
    } else if prop.ends_with("_bin") {
        decode_base64_lenient(s)
    } else {
        latin1(s)
    }
}

pub(crate) fn nfc(s: &str) -> Cow<'_, str> {
    // ASCII text is in NFC; checking that is a word-at-a-time scan, not a lookup per
    // character.
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => Cow::Borrowed(s),
        _ => Cow::Owned(s.nfc().collect()),
    }
}

/// `value <=> literal`, or `None` when they are not comparable.
fn compare(
    ctx: &Ctx<'_, '_>,
    c: &Comparison,
    v: &Value,
    lit: &Literal,
    prop: &str,
) -> Result<Option<Ordering>, EvalError> {
    Ok(match (lit, v) {
        (Literal::Int(_) | Literal::Float(_), _) => compare_number(lit, v),
        (Literal::Bool(b), Value::Bool(x)) => Some(x.cmp(b)),
        (Literal::Str(s), Value::String(x)) => {
            if is_binary_property(prop) {
                match (value_bytes(x, prop), latin1(s)) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => None,
                }
            } else {
                Some(x.as_str().cmp(s.as_str()))
            }
        }
        (Literal::Hex(b) | Literal::Binary(b), Value::String(x)) => {
            value_bytes(x, prop).map(|a| a.as_slice().cmp(b.as_slice()))
        }
        (Literal::Timestamp(t), Value::String(x)) => match Timestamp::parse(x) {
            Some(ts) => Some(ts.cmp(t)),
            None => {
                return Err(EvalError::InvalidTimestampValue {
                    observation: ctx.index,
                    path: c.path.to_string(),
                    value: x.clone(),
                })
            }
        },
        _ => None,
    })
}

/// `value <=> literal` for a numeric literal (`None` for any other literal, or a value
/// that is not a number): the evaluator's comparison, shared with the bulk matcher.
pub(crate) fn compare_number(lit: &Literal, v: &Value) -> Option<Ordering> {
    match (lit, v) {
        (Literal::Int(i), Value::Number(n)) => match n.as_i64() {
            Some(x) => Some(x.cmp(i)),
            None => n.as_f64().and_then(|x| x.partial_cmp(&(*i as f64))),
        },
        (Literal::Float(f), Value::Number(n)) => n.as_f64().and_then(|x| x.partial_cmp(f)),
        _ => None,
    }
}

pub(crate) fn holds(op: CompareOp, ord: Option<Ordering>) -> bool {
    match op {
        CompareOp::Eq => ord == Some(Ordering::Equal),
        CompareOp::Ne => ord != Some(Ordering::Equal),
        CompareOp::Lt => ord == Some(Ordering::Less),
        CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ord == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn regex_hit(
    text: &regex::Regex,
    bytes: Option<&regex::bytes::Regex>,
    v: &Value,
    prop: &str,
) -> bool {
    let Value::String(s) = v else { return false };
    if is_binary_property(prop) {
        match (bytes, value_bytes(s, prop)) {
            (Some(re), Some(b)) => re.is_match(&b),
            _ => false,
        }
    } else {
        text.is_match(&nfc(s))
    }
}

fn test_value(ctx: &Ctx<'_, '_>, c: &Comparison, v: &Value, prop: &str) -> Result<bool, EvalError> {
    Ok(match &c.test {
        // String equality without the order (`memcmp` of the common prefix): what
        // `compare` gives for `=` / `!=` (a value that is not a string is
        // incomparable: not equal).
        Test::Compare(op @ (CompareOp::Eq | CompareOp::Ne), Literal::Str(s))
            if !is_binary_property(prop) =>
        {
            let eq = matches!(v, Value::String(x) if x == s);
            eq == (*op == CompareOp::Eq)
        }
        Test::Compare(op, lit) => holds(*op, compare(ctx, c, v, lit, prop)?),
        Test::In(set)
            if !is_binary_property(prop) && matches!(set.first(), Some(Literal::Str(_))) =>
        {
            // A homogeneous set of strings: equality only.
            let Value::String(x) = v else {
                return Ok(false);
            };
            set.iter().any(|l| matches!(l, Literal::Str(s) if s == x))
        }
        Test::In(set) => {
            for lit in set {
                if compare(ctx, c, v, lit, prop)? == Some(Ordering::Equal) {
                    return Ok(true);
                }
            }
            false
        }
        Test::Like(l) => match (&l.glob, v) {
            (Some(g), Value::String(s)) if !is_binary_property(prop) => g.is_match(&nfc(s)),
            _ => regex_hit(&l.text, l.bytes.as_ref(), v, prop),
        },
        Test::Matches(m) => match (&m.literal, v) {
            (Some(l), Value::String(s)) if !is_binary_property(prop) => l.is_match(&nfc(s)),
            _ => regex_hit(&m.text, m.bytes.as_ref(), v, prop),
        },
        Test::IsSubset(net) => v.as_str().is_some_and(|s| net.contains_text(s)),
        Test::IsSuperset(net) => v
            .as_str()
            .and_then(Cidr::parse)
            .is_some_and(|x| net.is_subset_of(&x)),
        Test::Exists => true,
    })
}

pub(crate) fn eval_comparison(
    ctx: &Ctx<'_, '_>,
    c: &Comparison,
    root: &Value,
    ty: &str,
) -> Result<bool, EvalError> {
    if !short_eq(ty, &c.path.object_type) {
        return Ok(false);
    }
    let prop = last_key(&c.path.steps);
    if let Test::Exists = c.test {
        let found = visit::<EvalError, _>(ctx, root, &c.path.steps, false, &mut |_| Ok(true))?;
        return Ok(found != c.negated);
    }
    visit(ctx, root, &c.path.steps, false, &mut |v| {
        Ok(test_value(ctx, c, v, prop)? != c.negated)
    })
}

/// `a == b`, without a call to `memcmp` for the short names of object types.
#[inline]
pub(crate) fn short_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    match a.len() {
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => {
            let end = a.len() - 8;
            word(a, 0) == word(b, 0) && word(a, end) == word(b, end)
        }
        _ => a == b,
    }
}

pub(crate) fn eval_expr(
    ctx: &Ctx<'_, '_>,
    e: &ComparisonExpr,
    root: &Value,
    ty: &str,
) -> Result<bool, EvalError> {
    match e {
        ComparisonExpr::And(items) => {
            for i in items {
                if !eval_expr(ctx, i, root, ty)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        ComparisonExpr::Or(items) => {
            for i in items {
                if eval_expr(ctx, i, root, ty)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        ComparisonExpr::Group(inner) => eval_expr(ctx, inner, root, ty),
        ComparisonExpr::Test(c) => eval_comparison(ctx, c, root, ty),
    }
}

/// Whether some SCO of observation `index` satisfies `e`.
pub(crate) fn observation_matches(
    set: &Observations<'_>,
    index: usize,
    e: &ComparisonExpr,
) -> Result<bool, EvalError> {
    observation_matches_typed(set, index, e, Types::ALL)
}

/// [`observation_matches`], skipping the SCOs whose type `types` does not admit (for
/// them every comparison of `e` is false, so `e` is).
pub(crate) fn observation_matches_typed(
    set: &Observations<'_>,
    index: usize,
    e: &ComparisonExpr,
    types: Types,
) -> Result<bool, EvalError> {
    let obs = &set.items[index];
    let ctx = Ctx { set, index, obs };
    for (root, &(ty, code)) in obs.roots.iter().zip(&obs.root_types) {
        if types.admits(code) && eval_expr(&ctx, e, root, ty)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The SCO types the comparisons of a comparison expression name, as a set of
/// [`type_code`]s plus "some other type". A comparison is false on an SCO of another
/// type (whatever its operator or `NOT`), and a comparison expression is only `AND`s
/// and `OR`s of comparisons, so it is false on an SCO whose type is not in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Types {
    /// Bit `c` for type code `c` ≥ 1.
    known: u32,
    /// Whether a type outside [`crate::observation::SCO_TYPES`] (code 0) is named.
    other: bool,
}

impl Types {
    /// Admits every SCO.
    pub(crate) const ALL: Types = Types {
        known: u32::MAX,
        other: true,
    };

    pub(crate) fn of(e: &ComparisonExpr) -> Types {
        let mut t = Types {
            known: 0,
            other: false,
        };
        t.add(e);
        t
    }

    fn add(&mut self, e: &ComparisonExpr) {
        match e {
            ComparisonExpr::And(v) | ComparisonExpr::Or(v) => v.iter().for_each(|x| self.add(x)),
            ComparisonExpr::Group(inner) => self.add(inner),
            ComparisonExpr::Test(c) => match type_code(&c.path.object_type) {
                0 => self.other = true,
                code => self.known |= 1 << code,
            },
        }
    }

    /// Whether an SCO with type code `code` may satisfy the expression.
    #[inline]
    pub(crate) fn admits(self, code: u8) -> bool {
        if code == 0 {
            self.other
        } else {
            self.known >> code & 1 != 0
        }
    }
}

/// How a pattern is evaluated, decided when it is parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// One `[…]` without qualifiers: the first observation with a matching SCO, no
    /// search. `fail`: whether evaluating it can be an error ([`may_fail`]).
    Single { fail: bool, types: Types },
    /// `[…] OR […] OR …` (each operand one `[…]`, maybe in parentheses, without
    /// qualifiers): the first operand that some observation satisfies, bound to the
    /// first such observation, what the search finds (`OR` prefers its left operand).
    AnyOf { fail: bool, types: Vec<Types> },
    /// The general search.
    Search,
}

impl Plan {
    pub(crate) fn of(root: &ObservationExpr) -> Plan {
        if let Some(e) = single_bracket(root) {
            return Plan::Single {
                fail: may_fail(e),
                types: Types::of(e),
            };
        }
        if let Some(items) = any_of(root) {
            let leaves: Vec<&ComparisonExpr> = items.iter().filter_map(single_bracket).collect();
            if leaves.len() == items.len() {
                return Plan::AnyOf {
                    fail: leaves.iter().any(|e| may_fail(e)),
                    types: leaves.iter().map(|e| Types::of(e)).collect(),
                };
            }
        }
        Plan::Search
    }
}

/// The operands of a top-level observation `OR` (through parentheses).
fn any_of(root: &ObservationExpr) -> Option<&[ObservationExpr]> {
    match root {
        ObservationExpr::Or(items) => Some(items),
        ObservationExpr::Group(inner) => any_of(inner),
        _ => None,
    }
}

/// Evaluate `root` by its `plan` ([`Plan::of`] of `root`).
pub(crate) fn evaluate_planned(
    root: &ObservationExpr,
    plan: &Plan,
    set: &Observations<'_>,
    opts: &EvalOptions,
) -> Result<Option<Match>, EvalError> {
    match plan {
        Plan::Single { fail, types } => match single_bracket(root) {
            Some(e) => evaluate_single(e, *fail, *types, set),
            None => evaluate_search(root, set, opts),
        },
        // The search would fail on a binding of one instance with these limits.
        Plan::AnyOf { fail, types } if opts.max_steps >= 1 && opts.max_instances >= 1 => {
            match any_of(root) {
                Some(items) => evaluate_any_of(items, *fail, types, set),
                None => evaluate_search(root, set, opts),
            }
        }
        _ => evaluate_search(root, set, opts),
    }
}

/// [`Plan::AnyOf`]: as the search, which first evaluates every operand on every
/// observation (so an error anywhere is an error), then binds the first observation
/// of the first operand with one.
fn evaluate_any_of(
    items: &[ObservationExpr],
    fail: bool,
    types: &[Types],
    set: &Observations<'_>,
) -> Result<Option<Match>, EvalError> {
    let mut first = None;
    for (item, &t) in items.iter().zip(types) {
        let Some(e) = single_bracket(item) else {
            continue;
        };
        for i in 0..set.items.len() {
            if observation_matches_typed(set, i, e, t)? && first.is_none() {
                first = Some(i);
                if !fail {
                    return Ok(first.map(Match::one));
                }
            }
        }
    }
    Ok(first.map(Match::one))
}

// ---------------------------------------------------------------------------
// Observation expressions: search for a binding.

enum Node {
    Leaf(usize),
    And(Vec<Node>),
    Or(Vec<Node>),
    FollowedBy(Vec<Node>),
    Within(Box<Node>, i128),
    Repeats(Box<Node>, u64),
    Window(Box<Node>, i128, i128),
}

fn build<'p>(e: &'p ObservationExpr, leaves: &mut Vec<&'p ComparisonExpr>) -> Node {
    match e {
        ObservationExpr::Observation(c) => {
            leaves.push(c);
            Node::Leaf(leaves.len() - 1)
        }
        ObservationExpr::And(v) => Node::And(v.iter().map(|x| build(x, leaves)).collect()),
        ObservationExpr::Or(v) => Node::Or(v.iter().map(|x| build(x, leaves)).collect()),
        ObservationExpr::FollowedBy(v) => {
            Node::FollowedBy(v.iter().map(|x| build(x, leaves)).collect())
        }
        ObservationExpr::Group(inner) => build(inner, leaves),
        ObservationExpr::Qualified(inner, q) => {
            let child = Box::new(build(inner, leaves));
            match q {
                Qualifier::Within(s) => Node::Within(child, (s * 1e9).round() as i128),
                Qualifier::Repeats(n) => Node::Repeats(child, *n),
                Qualifier::StartStop(a, b) => Node::Window(child, a.as_nanos(), b.as_nanos()),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Cons {
    Within { start: usize, nanos: i128 },
    Window { lo: i128, hi: i128 },
    After { bound: i128 },
}

struct Search {
    leaves: Vec<Vec<usize>>,
    count: Vec<u64>,
    used: Vec<u64>,
    first: Vec<i128>,
    last: Vec<i128>,
    stack: Vec<usize>,
    cons: Vec<(Cons, bool)>,
    steps: u64,
    max_steps: u64,
    max_instances: usize,
    found: Option<Vec<usize>>,
}

type R = Result<bool, EvalError>;
type K<'k> = dyn FnMut(&mut Search) -> R + 'k;

impl Search {
    fn possible(&self, n: &Node) -> bool {
        match n {
            Node::Leaf(i) => !self.leaves[*i].is_empty(),
            Node::And(v) | Node::FollowedBy(v) => v.iter().all(|x| self.possible(x)),
            Node::Or(v) => v.iter().any(|x| self.possible(x)),
            Node::Within(c, _) | Node::Repeats(c, _) | Node::Window(c, _, _) => self.possible(c),
        }
    }

    fn push(&mut self, s: usize) -> R {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(EvalError::BudgetExceeded(self.max_steps));
        }
        if self.stack.len() >= self.max_instances {
            return Err(EvalError::TooManyInstances(self.max_instances));
        }
        for (c, active) in &self.cons {
            if !active {
                continue;
            }
            let ok = match *c {
                Cons::Within { start, nanos } => {
                    let mut max_first = self.first[s];
                    let mut min_last = self.last[s];
                    for &o in &self.stack[start..] {
                        max_first = max_first.max(self.first[o]);
                        min_last = min_last.min(self.last[o]);
                    }
                    max_first - min_last <= nanos
                }
                Cons::Window { lo, hi } => self.first[s] >= lo && self.last[s] < hi,
                Cons::After { bound } => self.last[s] >= bound,
            };
            if !ok {
                return Ok(false);
            }
        }
        self.used[s] += 1;
        self.stack.push(s);
        Ok(true)
    }

    fn pop(&mut self) {
        if let Some(s) = self.stack.pop() {
            self.used[s] -= 1;
        }
    }

    /// Run `child` under constraint `c`, lifting it while the continuation runs.
    fn constrained(&mut self, c: Cons, child: &Node, k: &mut K<'_>) -> R {
        self.cons.push((c, true));
        let ci = self.cons.len() - 1;
        let r = self.run(child, &mut |s: &mut Search| {
            s.cons[ci].1 = false;
            let r = k(s);
            s.cons[ci].1 = true;
            r
        });
        self.cons.pop();
        r
    }

    fn run(&mut self, node: &Node, k: &mut K<'_>) -> R {
        match node {
            Node::Leaf(id) => {
                for j in 0..self.leaves[*id].len() {
                    let s = self.leaves[*id][j];
                    if self.used[s] >= self.count[s] || !self.push(s)? {
                        continue;
                    }
                    let r = k(self);
                    self.pop();
                    if r? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::And(items) => self.seq(items, k),
            Node::Or(items) => {
                for it in items {
                    if self.possible(it) && self.run(it, k)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::FollowedBy(items) => {
                let start = self.stack.len();
                self.followed_by(items, 0, start, k)
            }
            Node::Within(child, nanos) => {
                let start = self.stack.len();
                self.constrained(
                    Cons::Within {
                        start,
                        nanos: *nanos,
                    },
                    child,
                    k,
                )
            }
            Node::Window(child, lo, hi) => {
                self.constrained(Cons::Window { lo: *lo, hi: *hi }, child, k)
            }
            Node::Repeats(child, n) => self.repeats(child, *n, 0, None, k),
        }
    }

    fn seq(&mut self, items: &[Node], k: &mut K<'_>) -> R {
        match items.split_first() {
            None => k(self),
            Some((head, rest)) => self.run(head, &mut |s: &mut Search| s.seq(rest, &mut *k)),
        }
    }

    fn followed_by(&mut self, items: &[Node], i: usize, start: usize, k: &mut K<'_>) -> R {
        if i == items.len() {
            return k(self);
        }
        if i == 0 {
            return self.run(&items[0], &mut |s: &mut Search| {
                s.followed_by(items, 1, start, &mut *k)
            });
        }
        let bound = self.stack[start..]
            .iter()
            .map(|&o| self.first[o])
            .max()
            .unwrap_or(i128::MIN);
        self.constrained(Cons::After { bound }, &items[i], &mut |s: &mut Search| {
            s.followed_by(items, i + 1, start, &mut *k)
        })
    }

    /// `n` disjoint bindings of `child`, each not less than the one before, so that
    /// the same set of bindings is not tried in every order.
    fn repeats(
        &mut self,
        child: &Node,
        n: u64,
        i: u64,
        prev: Option<(usize, usize)>,
        k: &mut K<'_>,
    ) -> R {
        if i == n {
            return k(self);
        }
        let start = self.stack.len();
        self.run(child, &mut |s: &mut Search| {
            let end = s.stack.len();
            if let Some((ps, pe)) = prev {
                if s.stack[start..end] < s.stack[ps..pe] {
                    return Ok(false);
                }
            }
            s.repeats(child, n, i + 1, Some((start, end)), &mut *k)
        })
    }
}

/// The least number of observation instances any binding of `n` needs.
fn min_instances(n: &Node) -> u128 {
    match n {
        Node::Leaf(_) => 1,
        Node::And(v) | Node::FollowedBy(v) => v.iter().map(min_instances).sum(),
        Node::Or(v) => v.iter().map(min_instances).min().unwrap_or(0),
        Node::Within(c, _) | Node::Window(c, _, _) => min_instances(c),
        Node::Repeats(c, k) => min_instances(c).saturating_mul(u128::from(*k)),
    }
}

pub(crate) fn evaluate(
    root: &ObservationExpr,
    set: &Observations<'_>,
    opts: &EvalOptions,
) -> Result<Option<Match>, EvalError> {
    evaluate_planned(root, &Plan::of(root), set, opts)
}

/// The general case: leaves, then a search for a binding.
pub(crate) fn evaluate_search(
    root: &ObservationExpr,
    set: &Observations<'_>,
    opts: &EvalOptions,
) -> Result<Option<Match>, EvalError> {
    match search(root, set, opts, None)? {
        Anchored::Match(m) => Ok(Some(m)),
        Anchored::Outside | Anchored::NoMatch => Ok(None),
    }
}

/// What [`evaluate_anchored`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anchored {
    /// The anchor satisfies no `[…]` of the pattern: it can take part in no binding.
    Outside,
    /// It satisfies some `[…]`, but no binding holds it.
    NoMatch,
    /// A binding that holds the anchor.
    Match(Match),
}

/// A binding of `root` that holds observation `anchor` (for a stream: the one just
/// arrived, the others held from before). An evaluation error on an observation
/// other than the anchor counts as "does not satisfy" (it was reported when that
/// observation arrived); on the anchor it is the error.
pub(crate) fn evaluate_anchored(
    root: &ObservationExpr,
    set: &Observations<'_>,
    anchor: usize,
    opts: &EvalOptions,
) -> Result<Anchored, EvalError> {
    search(root, set, opts, Some(anchor))
}

fn search(
    root: &ObservationExpr,
    set: &Observations<'_>,
    opts: &EvalOptions,
    anchor: Option<usize>,
) -> Result<Anchored, EvalError> {
    let mut leaf_exprs = Vec::new();
    let tree = build(root, &mut leaf_exprs);
    let mut leaves = Vec::with_capacity(leaf_exprs.len());
    let mut anchor_in = false;
    for e in &leaf_exprs {
        let mut hits = Vec::new();
        for i in 0..set.items.len() {
            let hit = match observation_matches(set, i, e) {
                Ok(h) => h,
                Err(_) if anchor.is_some_and(|a| a != i) => false,
                Err(err) => return Err(err),
            };
            if hit {
                anchor_in |= anchor == Some(i);
                hits.push(i);
            }
        }
        leaves.push(hits);
    }
    if anchor.is_some() && !anchor_in {
        return Ok(Anchored::Outside);
    }
    let n = set.items.len();
    let mut search = Search {
        leaves,
        count: set.items.iter().map(|o| o.count).collect(),
        used: vec![0; n],
        first: set.items.iter().map(|o| o.first.as_nanos()).collect(),
        last: set.items.iter().map(|o| o.last.as_nanos()).collect(),
        stack: Vec::new(),
        cons: Vec::new(),
        steps: 0,
        max_steps: opts.max_steps,
        max_instances: opts.max_instances,
        found: None,
    };
    if !search.possible(&tree) {
        return Ok(Anchored::NoMatch);
    }
    let available: u128 = search
        .leaves
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|&i| u128::from(search.count[i]))
        .sum();
    let needed = min_instances(&tree);
    if needed > available {
        return Ok(Anchored::NoMatch);
    }
    if needed > opts.max_instances as u128 {
        return Err(EvalError::TooManyInstances(opts.max_instances));
    }
    // First any binding (what the evaluator finds); usually the anchor is in it, as
    // the observations held match nothing without it.
    let mut hit = search.run(&tree, &mut |s: &mut Search| {
        s.found = Some(s.stack.clone());
        Ok(true)
    })?;
    if let Some(a) = anchor {
        if hit && !search.found.as_ref().is_some_and(|f| f.contains(&a)) {
            // The held observations match on their own (that match was reported when
            // its last observation arrived): look for another that holds the anchor,
            // within the budget left; past it, there is none to report.
            search.found = None;
            search.stack.clear();
            search.used.iter_mut().for_each(|u| *u = 0);
            hit = match search.run(&tree, &mut |s: &mut Search| {
                if !s.stack.contains(&a) {
                    return Ok(false);
                }
                s.found = Some(s.stack.clone());
                Ok(true)
            }) {
                Ok(h) => h,
                Err(EvalError::BudgetExceeded(_)) => false,
                Err(e) => return Err(e),
            };
        }
    }
    Ok(if hit {
        let mut obs = search.found.take().unwrap_or_default();
        obs.sort_unstable();
        obs.dedup();
        Anchored::Match(Match::many(obs))
    } else {
        Anchored::NoMatch
    })
}

/// Whether a binding of `root` may need more than one observation instance: an
/// observation `AND`, `FOLLOWEDBY` or `REPEATS` somewhere. (`OR`, `WITHIN` and
/// `START`/`STOP` over single `[…]`s bind one observation.)
pub(crate) fn needs_several(root: &ObservationExpr) -> bool {
    max_instances(&build(root, &mut Vec::new())) > 1
}

/// The most observation instances a binding of `n` can hold.
fn max_instances(n: &Node) -> u128 {
    match n {
        Node::Leaf(_) => 1,
        Node::And(v) | Node::FollowedBy(v) => v.iter().map(max_instances).sum(),
        Node::Or(v) => v.iter().map(max_instances).max().unwrap_or(0),
        Node::Within(c, _) | Node::Window(c, _, _) => max_instances(c),
        Node::Repeats(c, k) => max_instances(c).saturating_mul(u128::from(*k)),
    }
}

/// The time limits at the top of a pattern, through parentheses and chained
/// qualifiers: the narrowest `WITHIN` (nanoseconds) and the `START`/`STOP` window
/// (nanoseconds, STOP exclusive) every bound observation must lie in.
pub(crate) fn top_limits(root: &ObservationExpr) -> (Option<i128>, Option<(i128, i128)>) {
    let (mut within, mut window) = (None::<i128>, None::<(i128, i128)>);
    // Below a REPEATS, a WITHIN bounds each repetition, not the whole binding.
    let mut whole = true;
    let mut e = root;
    loop {
        match e {
            ObservationExpr::Group(inner) => e = inner,
            ObservationExpr::Qualified(inner, q) => {
                match q {
                    Qualifier::Within(s) if whole => {
                        let n = (s * 1e9).round() as i128;
                        within = Some(within.map_or(n, |w| w.min(n)));
                    }
                    Qualifier::StartStop(a, b) => {
                        let (lo, hi) = (a.as_nanos(), b.as_nanos());
                        window = Some(match window {
                            Some((l, h)) => (l.max(lo), h.min(hi)),
                            None => (lo, hi),
                        });
                    }
                    Qualifier::Within(_) => {}
                    Qualifier::Repeats(_) => whole = false,
                }
                e = inner;
            }
            _ => return (within, window),
        }
    }
}

/// The comparison expression of a pattern that is one `[…]` without qualifiers.
pub(crate) fn single_bracket(root: &ObservationExpr) -> Option<&ComparisonExpr> {
    match root {
        ObservationExpr::Observation(c) => Some(c),
        ObservationExpr::Group(inner) => single_bracket(inner),
        _ => None,
    }
}

/// Whether evaluating `e` can be an error (only comparisons with `t'…'` can).
pub(crate) fn may_fail(e: &ComparisonExpr) -> bool {
    match e {
        ComparisonExpr::And(v) | ComparisonExpr::Or(v) => v.iter().any(may_fail),
        ComparisonExpr::Group(inner) => may_fail(inner),
        ComparisonExpr::Test(c) => match &c.test {
            Test::Compare(_, Literal::Timestamp(_)) => true,
            Test::In(set) => set.iter().any(|l| matches!(l, Literal::Timestamp(_))),
            _ => false,
        },
    }
}

/// `[e]` alone: the first observation with a matching SCO, with no search and no
/// allocation besides the result. An error anywhere is an error, as in the general
/// case (which looks at every observation before searching).
pub(crate) fn evaluate_single(
    e: &ComparisonExpr,
    fail: bool,
    types: Types,
    set: &Observations<'_>,
) -> Result<Option<Match>, EvalError> {
    let mut first = None;
    for i in 0..set.items.len() {
        if observation_matches_typed(set, i, e, types)? && first.is_none() {
            first = Some(i);
            if !fail {
                break;
            }
        }
    }
    Ok(first.map(Match::one))
}

/// [`evaluate`] against observation `index` of `set` on its own.
pub(crate) fn evaluate_one(
    root: &ObservationExpr,
    set: &Observations<'_>,
    index: usize,
    opts: &EvalOptions,
) -> Result<Option<Match>, EvalError> {
    if let Some(e) = single_bracket(root) {
        return Ok(observation_matches(set, index, e)?.then(|| Match::one(index)));
    }
    let one = set.single(index);
    Ok(evaluate(root, &one, opts)?
        .map(|m| Match::many(m.observations().iter().map(|_| index).collect())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The plans decided at parse time give what the general search gives: the same
    /// match (bound observations), the same "no match", the same error.
    #[test]
    fn plans_agree_with_the_search() {
        let od = |t: &str, n: u64, objects: Value| {
            json!({"type": "observed-data", "first_observed": t, "last_observed": t,
                   "number_observed": n, "objects": objects})
        };
        let data = json!([
            od(
                "2024-01-01T00:00:00Z",
                1,
                json!({
                "0": {"type": "domain-name", "value": "b.com"},
                "1": {"type": "x-custom", "name": "q", "when": "2024-01-02T00:00:00Z"},
                "2": {"value": "no type"}})
            ),
            od(
                "2024-01-01T00:00:01Z",
                2,
                json!({
                "0": {"type": "ipv4-addr", "value": "10.0.0.1"},
                "1": {"type": "network-traffic", "dst_ref": "0", "dst_port": 443},
                "2": {"type": "domain-name", "value": "a.com"}})
            ),
            od(
                "2024-01-01T00:00:02Z",
                1,
                json!({
                "0": {"type": "x-custom", "name": "r", "when": "not a timestamp"},
                "1": {"type": "domain-name", "value": "a.com"},
                "2": {"type": "ipv4-addr", "value": "192.168.0.1"}})
            ),
        ]);
        let obs = Observations::from_value(&data).unwrap();
        let subsets: Vec<Observations<'_>> = (0..obs.len())
            .map(|i| obs.single(i))
            .chain([Observations::default()])
            .collect();
        let patterns = [
            ("[domain-name:value = 'a.com']", "single"),
            ("[domain-name:value != 'zz']", "single"),
            ("[x-custom:name = 'q']", "single"),
            ("[x-custom:when > t'2024-01-01T00:00:00Z']", "single"),
            ("[ipv4-addr:value NOT ISSUBSET '10.0.0.0/8']", "single"),
            ("[NOT EXISTS domain-name:nothing]", "single"),
            ("[domain-name:value = 'a.com' AND ipv4-addr:value = '10.0.0.1']", "single"),
            ("[domain-name:value = 'a.com' OR x-custom:name = 'q']", "single"),
            ("[ipv4-addr:value = '10.0.0.1'] OR [domain-name:value = 'a.com']", "any"),
            ("[domain-name:value = 'a.com'] OR [ipv4-addr:value = '10.0.0.1']", "any"),
            ("([domain-name:value = 'zz'] OR ([ipv4-addr:value = '192.168.0.1']))", "any"),
            ("[domain-name:value = 'zz'] OR [ipv4-addr:value = 'zz']", "any"),
            ("[x-custom:when > t'2024-01-01T00:00:00Z'] OR [ipv4-addr:value ISSUBSET '10.0.0.0/8']", "any"),
            ("[ipv4-addr:value ISSUBSET '0.0.0.0/0'] OR [x-custom:when = t'2024-01-02T00:00:00Z']", "any"),
            ("[domain-name:value = 'b.com' OR x-custom:name = 'r'] OR [network-traffic:dst_ref.value = '10.0.0.1'] OR [NOT EXISTS x-custom:name]", "any"),
            ("[domain-name:value = 'a.com'] OR [ipv4-addr:value = '10.0.0.1'] REPEATS 2 TIMES", "search"),
            ("[domain-name:value = 'a.com'] AND [ipv4-addr:value = '10.0.0.1']", "search"),
            ("([domain-name:value = 'a.com'] OR [ipv4-addr:value = '10.0.0.1']) OR [domain-name:value = 'b.com'] FOLLOWEDBY [x-custom:name = 'q']", "search"),
        ];
        let options = [
            EvalOptions::default(),
            EvalOptions {
                max_steps: 0,
                ..EvalOptions::default()
            },
            EvalOptions {
                max_instances: 0,
                ..EvalOptions::default()
            },
        ];
        let mut seen = (0, 0, false);
        for (text, kind) in patterns {
            let p = crate::Pattern::parse(text).unwrap();
            let plan = Plan::of(p.root());
            match (&plan, kind) {
                (Plan::Single { .. }, "single")
                | (Plan::AnyOf { .. }, "any")
                | (Plan::Search, "search") => {}
                _ => panic!("{text}: {plan:?}"),
            }
            for set in std::iter::once(&obs).chain(&subsets) {
                for o in &options {
                    let planned = evaluate_planned(p.root(), &plan, set, o);
                    // One `[…]` is not a search: the limits of the search do not
                    // apply to it (as before plans).
                    if kind != "single" || o.max_steps > 0 && o.max_instances > 0 {
                        assert_eq!(planned, evaluate_search(p.root(), set, o), "{text}");
                    }
                    assert_eq!(p.evaluate_with(set, o), planned, "{text}");
                    match &planned {
                        Ok(Some(_)) => seen.0 += 1,
                        Ok(None) => seen.1 += 1,
                        Err(_) => seen.2 = true,
                    }
                }
            }
        }
        assert!(seen.0 > 20 && seen.1 > 20 && seen.2, "{seen:?}");
    }
}
