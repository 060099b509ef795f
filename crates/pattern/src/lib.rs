//! STIX 2.1 patterning for hinomi: parse and check patterns, evaluate them against
//! observed-data, and match many indicators against many observations at once.
//!
//! **Invariant:** this crate is pure. It does no IO and knows nothing of HTTP, SQL
//! or the STIX object model beyond the observed-data fields it reads from JSON.
//!
//! ```
//! use hinomi_pattern::{Observations, Pattern};
//!
//! let pattern = Pattern::parse("[ipv4-addr:value ISSUBSET '198.51.100.0/24']").unwrap();
//! let data = serde_json::json!([{
//!     "type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
//!     "last_observed": "2024-01-01T00:00:00Z", "number_observed": 1,
//!     "objects": {"0": {"type": "ipv4-addr", "value": "198.51.100.7"}}
//! }]);
//! let observations = Observations::from_json(data.as_array().unwrap()).unwrap();
//! let found = pattern.evaluate(&observations).unwrap().expect("a match");
//! assert_eq!(found.observations(), &[0]);
//! ```

pub mod ast;
pub mod bulk;
mod error;
mod eval;
mod fxhash;
mod lexer;
mod net;
mod observation;
mod parser;
pub mod stream;
mod timestamp;

use std::fmt;
use std::str::FromStr;

pub use error::{ErrorKind, EvalError, ObservationError, PatternError};
pub use eval::{EvalOptions, Match};
pub use net::Cidr;
pub use observation::{Observation, Observations, ObservationsBuilder};
pub use parser::ParseOptions;
pub use timestamp::Timestamp;

use ast::ObservationExpr;

/// A parsed and checked STIX pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: ObservationExpr,
    /// Derived from `root` when parsed: how to evaluate it.
    plan: eval::Plan,
}

impl Pattern {
    /// Parse with [`ParseOptions::default`]: the full grammar, the semantic checks
    /// (CIDR, regex, REPEATS 0, WITHIN 0, START after STOP, impossible dates,
    /// homogeneous IN sets) and the OASIS validator's policy checks.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        Self::parse_with(text, &ParseOptions::default())
    }

    /// Parse with explicit options.
    pub fn parse_with(text: &str, options: &ParseOptions) -> Result<Pattern, PatternError> {
        let mut p = parser::Parser::new(text, options)?;
        let root = p.pattern()?;
        let plan = eval::Plan::of(&root);
        Ok(Pattern { root, plan })
    }

    /// The syntax tree.
    pub fn root(&self) -> &ObservationExpr {
        &self.root
    }

    /// Find one way the observations satisfy the pattern, with default limits.
    ///
    /// `Ok(None)` is "no match"; errors are values that make the comparison
    /// meaningless (a timestamp property that is not a timestamp) or a search that
    /// exceeded its budget.
    pub fn evaluate(&self, observations: &Observations<'_>) -> Result<Option<Match>, EvalError> {
        self.evaluate_with(observations, &EvalOptions::default())
    }

    /// [`Pattern::evaluate`] with explicit limits.
    pub fn evaluate_with(
        &self,
        observations: &Observations<'_>,
        options: &EvalOptions,
    ) -> Result<Option<Match>, EvalError> {
        eval::evaluate_planned(&self.root, &self.plan, observations, options)
    }
}

impl fmt::Display for Pattern {
    /// Canonical text that parses back to an equal pattern.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}
