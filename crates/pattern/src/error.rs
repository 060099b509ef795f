//! Errors of parsing and evaluating patterns.

/// A pattern that does not parse or fails a semantic check.
///
/// `offset` is the byte offset in the pattern text where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {kind}")]
pub struct PatternError {
    /// Byte offset into the pattern text.
    pub offset: usize,
    /// What was wrong.
    pub kind: ErrorKind,
}

impl PatternError {
    pub(crate) fn new(offset: usize, kind: ErrorKind) -> Self {
        PatternError { offset, kind }
    }
}

/// What was wrong with a pattern.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The grammar wanted something else here.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows at this point.
        expected: String,
        /// What the text has instead.
        found: String,
    },
    /// A `'` string without its closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A backslash followed by something other than `'` or `\`.
    #[error("invalid escape sequence {0:?} in string literal (only \\' and \\\\ are allowed)")]
    InvalidEscape(String),
    /// A malformed `t'…'`, `h'…'` or `b'…'` literal, or a number out of range.
    #[error("invalid {what} literal: {reason}")]
    InvalidLiteral {
        /// `timestamp`, `hex`, `binary`, `integer`, `float`.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Parentheses, brackets or qualifiers nested deeper than the configured limit.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// The right-hand side of `ISSUBSET` / `ISSUPERSET` is not an IP address or CIDR network.
    #[error("{0:?} is not an IPv4 or IPv6 address or CIDR network")]
    InvalidCidr(String),
    /// The right-hand side of `MATCHES` does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    InvalidRegex {
        /// The regular expression as written (after string unescaping).
        pattern: String,
        /// The compiler's message, flattened to one line.
        reason: String,
    },
    /// A PCRE construct the regex engine does not support (see the crate README).
    #[error("unsupported regular expression construct {construct} in {pattern:?}")]
    UnsupportedRegex {
        /// The regular expression as written.
        pattern: String,
        /// Which construct, e.g. `lookahead (?=`.
        construct: &'static str,
    },
    /// `REPEATS 0 TIMES`.
    #[error("REPEATS count must be at least 1")]
    RepeatsZero,
    /// `WITHIN 0 SECONDS`.
    #[error("WITHIN duration must be greater than zero")]
    WithinNotPositive,
    /// `START t1 STOP t2` with `t1` after `t2`.
    #[error("START {start} is after STOP {stop}")]
    StartAfterStop {
        /// The START timestamp.
        start: String,
        /// The STOP timestamp.
        stop: String,
    },
    /// The same qualifier twice on one bracketed observation (strict mode, as the OASIS validator).
    #[error("duplicate {0} qualifier on the same observation expression")]
    DuplicateQualifier(&'static str),
    /// A hash value that cannot be a hash of the named algorithm (strict mode).
    #[error("{value:?} is not a valid {algorithm} hash")]
    InvalidHash {
        /// The algorithm as written in the path.
        algorithm: String,
        /// The value compared against.
        value: String,
    },
    /// An `IN` set mixing kinds of literals (numbers with strings, booleans, ...).
    #[error("IN set mixes {first} and {other} literals")]
    MixedSet {
        /// The kind of the first element.
        first: &'static str,
        /// The first kind that differs.
        other: &'static str,
    },
}

/// Evaluating a pattern against observations failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A property compared with a timestamp literal holds a string that is not a timestamp.
    #[error("observations[{observation}]: {path}: {value:?} is not an RFC 3339 timestamp")]
    InvalidTimestampValue {
        /// Index of the observed-data in the input order.
        observation: usize,
        /// The object path being evaluated.
        path: String,
        /// The offending value.
        value: String,
    },
    /// The search for a binding took more steps than the budget allows.
    #[error("pattern evaluation exceeded its budget of {0} steps")]
    BudgetExceeded(u64),
    /// A binding would need more observation instances than the evaluator allows.
    #[error("a match would bind more than {0} observations")]
    TooManyInstances(usize),
    /// A stream matcher held as many earlier observations for this pattern as it may
    /// and dropped the oldest (matches with it are no longer found).
    #[error("partial-match state full: {0} earlier observations held for this pattern; the oldest are dropped")]
    StateFull(usize),
}

/// An observation (observed-data) that cannot be used for matching.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObservationError {
    /// A property is missing or has the wrong type or form.
    #[error("{location}: {message}")]
    Invalid {
        /// Where, e.g. `observations[2].first_observed`.
        location: String,
        /// What is wrong.
        message: String,
    },
}
