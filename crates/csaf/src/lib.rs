//! CSAF 2.0 for hinomi: validation against the JSON schema and every
//! mandatory test of CSAF 2.0 §6.1 (6.1.1–6.1.33, including 6.1.27.1–11).
//!
//! Also: [`product_tree::flatten`] (product id → vendor, product, version,
//! purl, CPE, version range) and [`vers`] (`vers:` ranges per ecosystem).
//!
//! The crate is pure: it does no IO and knows nothing of HTTP or SQL. The
//! schemas (CSAF 2.0 and the FIRST CVSS 2.0/3.0/3.1 schemas it references),
//! the CWE catalog and the language subtag registry are embedded.
//!
//! ```
//! let doc: serde_json::Value = serde_json::json!({"document": {}});
//! let findings = hinomi_csaf::validate(&doc);
//! assert!(findings.iter().any(|f| f.test == "schema"));
//! ```

pub mod cpe;
pub mod cvss;
mod cwe;
pub mod datetime;
mod docversion;
pub mod inventory;
pub mod kev;
pub mod language;
mod mandatory;
pub mod matching;
mod pointer;
pub mod product_tree;
pub mod purl;
mod schema;
pub mod vers;

use serde::Serialize;
use serde_json::Value;

/// One failed check: which test, where in the document, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `"schema"` for a JSON schema violation, otherwise the spec section
    /// of the mandatory test (`"6.1.8"`, `"6.1.27.3"`).
    pub test: String,
    /// JSON pointer (RFC 6901) to the offending value; `""` is the root.
    pub path: String,
    /// What was wrong, without a trailing period.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "[{}] {}: {}", self.test, path, self.message)
    }
}

/// The ids of all mandatory tests, in spec order.
pub fn mandatory_tests() -> impl Iterator<Item = &'static str> {
    mandatory::TESTS.iter().map(|(id, _)| *id)
}

/// Validate a CSAF 2.0 document: the JSON schema and all mandatory tests.
/// Every check runs; an empty result means the document is valid.
pub fn validate(doc: &Value) -> Vec<Finding> {
    let mut findings = validate_schema(doc);
    for (id, test) in mandatory::TESTS {
        test(
            doc,
            &mut mandatory::Out {
                test: id,
                findings: &mut findings,
            },
        );
    }
    findings
}

/// Only the JSON schema. Violations inside a `cvss_v2`/`cvss_v3` object are
/// violations of the FIRST CVSS schemas and so are reported as test 6.1.8.
pub fn validate_schema(doc: &Value) -> Vec<Finding> {
    schema::Schema::csaf()
        .validate(doc)
        .into_iter()
        .map(|e| Finding {
            test: if is_cvss_path(&e.path) {
                "6.1.8"
            } else {
                "schema"
            }
            .to_string(),
            path: e.path,
            message: e.message,
        })
        .collect()
}

fn is_cvss_path(path: &str) -> bool {
    // /vulnerabilities/N/scores/M/cvss_v2[/...]
    let mut t = path.split('/').skip(1);
    t.next() == Some("vulnerabilities")
        && t.next().is_some()
        && t.next() == Some("scores")
        && t.next().is_some()
        && matches!(t.next(), Some("cvss_v2" | "cvss_v3"))
}

/// Run one mandatory test by id (`"6.1.8"` also runs the CVSS schemas).
/// `None` if there is no such test.
pub fn run_test(id: &str, doc: &Value) -> Option<Vec<Finding>> {
    let (id, test) = mandatory::TESTS.iter().find(|(t, _)| *t == id)?;
    let mut findings = Vec::new();
    if *id == "6.1.8" {
        findings.extend(
            validate_schema(doc)
                .into_iter()
                .filter(|f| f.test == "6.1.8"),
        );
    }
    test(
        doc,
        &mut mandatory::Out {
            test: id,
            findings: &mut findings,
        },
    );
    Some(findings)
}
