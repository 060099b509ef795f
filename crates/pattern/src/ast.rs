//! The syntax tree of a checked pattern.
//!
//! Chains of the same operator are n-ary (`a AND b AND c` is one node with three
//! children), so long chains do not make deep trees; parentheses keep their own node.

use std::fmt;

use crate::net::Cidr;
use crate::timestamp::Timestamp;

/// An observation expression: what must be observed, and when.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpr {
    /// `[ comparison ]`: one observed-data with a matching SCO.
    Observation(ComparisonExpr),
    /// `a AND b AND …`: all, on distinct observations.
    And(Vec<ObservationExpr>),
    /// `a OR b OR …`: any.
    Or(Vec<ObservationExpr>),
    /// `a FOLLOWEDBY b FOLLOWEDBY …`: all, each after the ones before it.
    FollowedBy(Vec<ObservationExpr>),
    /// `( … )`: kept so the tree prints as it was written.
    Group(Box<ObservationExpr>),
    /// An expression with one qualifier; several qualifiers nest, innermost first.
    Qualified(Box<ObservationExpr>, Qualifier),
}

/// A qualifier of an observation expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS` (n > 0).
    Within(f64),
    /// `REPEATS n TIMES` (n ≥ 1).
    Repeats(u64),
    /// `START t1 STOP t2`: observed at or after `t1` and before `t2`.
    StartStop(Timestamp, Timestamp),
}

/// A comparison expression, evaluated against one SCO.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpr {
    /// All must hold.
    And(Vec<ComparisonExpr>),
    /// Any must hold.
    Or(Vec<ComparisonExpr>),
    /// `( … )`.
    Group(Box<ComparisonExpr>),
    /// A single test of a property.
    Test(Comparison),
}

/// `path [NOT] operator value`, or `[NOT] EXISTS path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The property tested.
    pub path: ObjectPath,
    /// Whether `NOT` precedes the operator.
    pub negated: bool,
    /// The operator and its operand.
    pub test: Test,
}

/// Comparison operators with their operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare(CompareOp, Literal),
    /// `IN ( … )`; the set is homogeneous (numbers may mix integers and floats).
    In(Vec<Literal>),
    /// `LIKE 'sql%pattern_'`.
    Like(Like),
    /// `MATCHES 'regex'`.
    Matches(Matches),
    /// `ISSUBSET 'cidr'`.
    IsSubset(Cidr),
    /// `ISSUPERSET 'cidr'`.
    IsSuperset(Cidr),
    /// `EXISTS`.
    Exists,
}

/// Equality and order operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=` (also written `==`).
    Eq,
    /// `!=` (also written `<>`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A string (escapes resolved).
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `h'…'`, decoded.
    Hex(Vec<u8>),
    /// `b'…'` (base64), decoded.
    Binary(Vec<u8>),
    /// `t'…'`.
    Timestamp(Timestamp),
}

impl Literal {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Literal::Int(_) | Literal::Float(_) => "number",
            Literal::Str(_) => "string",
            Literal::Bool(_) => "boolean",
            Literal::Hex(_) | Literal::Binary(_) => "binary",
            Literal::Timestamp(_) => "timestamp",
        }
    }
}

/// An object path: `type:property.sub[0].list[*].'quoted key'`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    /// The SCO type, e.g. `file`.
    pub object_type: String,
    /// The steps from the object to the property; never empty.
    pub steps: Vec<PathStep>,
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// A property or dictionary key.
    Key(String),
    /// A list index; negative counts from the end.
    Index(i64),
    /// `[*]`: any element.
    Any,
}

/// A compiled `LIKE` pattern.
#[derive(Debug, Clone)]
pub struct Like {
    pub(crate) source: String,
    pub(crate) text: regex::Regex,
    pub(crate) bytes: Option<regex::bytes::Regex>,
    /// The same test without the regex engine, when the pattern has no `_`.
    pub(crate) glob: Option<Glob>,
}

/// A `LIKE` pattern with `%` wildcards only, NFC-normalized: literal parts that must
/// appear in order, the first at the start and the last at the end.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    parts: Vec<String>,
}

impl Glob {
    /// From the NFC-normalized `LIKE` text; `None` when it has `_`.
    pub(crate) fn new(like: &str) -> Option<Glob> {
        if like.contains('_') {
            return None;
        }
        Some(Glob {
            parts: like.split('%').map(str::to_string).collect(),
        })
    }

    /// The literal parts, between the `%`s.
    pub(crate) fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The literal text every match starts with.
    pub(crate) fn prefix(&self) -> &str {
        &self.parts[0]
    }

    /// Whether the NFC text `s` matches (what `(?s)^…$` with `.*` for `%` does).
    pub(crate) fn is_match(&self, s: &str) -> bool {
        let [first, middle @ .., last] = self.parts.as_slice() else {
            return s == self.parts[0];
        };
        if s.len() < first.len() + last.len()
            || !s.starts_with(first.as_str())
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for m in middle {
            match rest.find(m.as_str()) {
                Some(i) => rest = &rest[i + m.len()..],
                None => return false,
            }
        }
        true
    }
}

impl Like {
    /// The pattern as written (escapes resolved).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Like {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A compiled `MATCHES` regular expression.
#[derive(Debug, Clone)]
pub struct Matches {
    pub(crate) source: String,
    pub(crate) text: regex::Regex,
    pub(crate) bytes: Option<regex::bytes::Regex>,
    /// The same test on text without the regex engine, when the regex is a literal
    /// (optionally anchored with `^` and/or `$`).
    pub(crate) literal: Option<LiteralRegex>,
}

/// Whether `\c` is the literal `c` in a regex of the regex crate: the escapes of its
/// meta characters. (Not every escaped punctuation is: `\<` and `\>` are word
/// boundaries.)
pub(crate) fn escaped_literal(c: char) -> bool {
    "\\.+*?()|[]{}^$#&-~".contains(c)
}

/// A regular expression that is a literal string, optionally anchored: `^lit`,
/// `lit$`, `^lit$` or `lit` (with `$` only at the very end of the text, as the regex
/// crate's `$` without the `m` flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiteralRegex {
    lit: String,
    start: bool,
    end: bool,
}

impl LiteralRegex {
    /// The literal form of `re` (as the regex crate reads it, default flags), when it
    /// is one. Conservative: any construct other than plain characters and escaped
    /// ASCII punctuation gives `None`.
    pub(crate) fn new(re: &str) -> Option<LiteralRegex> {
        let (start, body) = match re.strip_prefix('^') {
            Some(b) => (true, b),
            None => (false, re),
        };
        let mut lit = String::new();
        let mut end = false;
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) if escaped_literal(n) => lit.push(n),
                    _ => return None,
                },
                '$' if chars.as_str().is_empty() => end = true,
                c if c.is_ascii_alphanumeric()
                    || " !\"#%&',-/:;<=>@_`~".contains(c)
                    || (!c.is_ascii() && !c.is_whitespace() && !c.is_control()) =>
                {
                    lit.push(c)
                }
                _ => return None,
            }
        }
        Some(LiteralRegex { lit, start, end })
    }

    /// Whether the (NFC) text matches.
    pub(crate) fn is_match(&self, s: &str) -> bool {
        match (self.start, self.end) {
            (true, true) => s == self.lit,
            (true, false) => s.starts_with(self.lit.as_str()),
            (false, true) => s.ends_with(self.lit.as_str()),
            (false, false) => s.contains(self.lit.as_str()),
        }
    }
}

impl Matches {
    /// The regular expression as written (escapes resolved).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Matches {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

// ---------------------------------------------------------------------------
// Printing: the canonical text re-parses to an equal tree.

pub(crate) fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

fn write_float(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    let s = v.to_string();
    if s.contains('.') {
        f.write_str(&s)
    } else {
        write!(f, "{s}.0")
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(v) => write_float(f, *v),
            Literal::Str(s) => write_string(f, s),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Hex(h) => {
                f.write_str("h'")?;
                for b in h {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
            Literal::Binary(b) => write!(f, "b'{}'", base64_encode(b)),
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
        }
    }
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !crate::parser::is_reserved_word(s)
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_plain_identifier(k) {
                        f.write_str(k)?;
                    } else {
                        write_string(f, k)?;
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::Any => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = if self.negated { "NOT " } else { "" };
        match &self.test {
            Test::Exists => return write!(f, "{not}EXISTS {}", self.path),
            _ => write!(f, "{} {not}", self.path)?,
        }
        match &self.test {
            Test::Compare(op, lit) => write!(f, "{op} {lit}"),
            Test::In(set) => {
                f.write_str("IN (")?;
                for (i, l) in set.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{l}")?;
                }
                f.write_str(")")
            }
            Test::Like(l) => {
                f.write_str("LIKE ")?;
                write_string(f, &l.source)
            }
            Test::Matches(m) => {
                f.write_str("MATCHES ")?;
                write_string(f, &m.source)
            }
            Test::IsSubset(c) => write!(f, "ISSUBSET '{c}'"),
            Test::IsSuperset(c) => write!(f, "ISSUPERSET '{c}'"),
            Test::Exists => Ok(()),
        }
    }
}

fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    sep: &str,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for ComparisonExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComparisonExpr::And(v) => write_joined(f, v, " AND "),
            ComparisonExpr::Or(v) => write_joined(f, v, " OR "),
            ComparisonExpr::Group(e) => write!(f, "({e})"),
            ComparisonExpr::Test(c) => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An integral value beyond `i64` would read back as an integer out of
            // range: print it as a float literal.
            Qualifier::Within(s) if s.fract() == 0.0 && s.abs() >= 9.0e18 => {
                write!(f, "WITHIN {s}.0 SECONDS")
            }
            Qualifier::Within(s) => write!(f, "WITHIN {s} SECONDS"),
            Qualifier::Repeats(n) => write!(f, "REPEATS {n} TIMES"),
            Qualifier::StartStop(a, b) => write!(f, "START t'{a}' STOP t'{b}'"),
        }
    }
}

impl fmt::Display for ObservationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObservationExpr::Observation(c) => write!(f, "[{c}]"),
            ObservationExpr::And(v) => write_joined(f, v, " AND "),
            ObservationExpr::Or(v) => write_joined(f, v, " OR "),
            ObservationExpr::FollowedBy(v) => write_joined(f, v, " FOLLOWEDBY "),
            ObservationExpr::Group(e) => write!(f, "({e})"),
            ObservationExpr::Qualified(e, q) => write!(f, "{e} {q}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_regexes_agree_with_the_regex_engine() {
        let texts = [
            "",
            "a",
            "abc",
            "xabc",
            "abcx",
            "host1.example.com",
            "host1.example.com\n",
            "example.com",
            "x.example.comm",
            "a.b",
            "a-b",
            "a<b",
            "fé",
            "Fé",
            "a#b c",
            "$",
            "^",
        ];
        for re in [
            "",
            "^",
            "$",
            "^$",
            "abc",
            "^abc",
            "abc$",
            "^abc$",
            "\\.example\\.com$",
            "^host1\\.",
            "a\\.b",
            "a\\-b",
            "a-b",
            "a#b c",
            "fé",
            "^fé$",
            "\\$",
            "\\^",
            "a\\<b",
            "a<b",
            "a.b",
            "a|b",
            "(?i)abc",
            "ab*",
            "a\\db",
            "a$b",
        ] {
            let engine = regex::Regex::new(re).unwrap();
            match LiteralRegex::new(re) {
                Some(l) => {
                    for t in texts {
                        assert_eq!(l.is_match(t), engine.is_match(t), "{re:?} on {t:?}");
                    }
                }
                None => assert!(
                    ["a\\<b", "a.b", "a|b", "(?i)abc", "ab*", "a\\db", "a$b"].contains(&re),
                    "{re:?} should be literal"
                ),
            }
        }
    }
}
