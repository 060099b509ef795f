//! Real advisories: the CISA sample and the OASIS examples validate, and
//! plausible mistakes made to a real advisory are caught.

use serde_json::{json, Value};

use crate::{load, shared};

pub fn json_files(rel: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![shared(rel)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_all_valid(rel: &str, count: usize) {
    let files = json_files(rel);
    assert_eq!(files.len(), count, "{rel}");
    let mut bad = Vec::new();
    for f in &files {
        let findings = hinomi_csaf::validate(&load(f));
        if !findings.is_empty() {
            bad.push(format!("{}: {findings:#?}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn cisa_advisories_validate() {
    assert_all_valid("csaf/cisa-sample", 59);
}

#[test]
fn oasis_examples_validate() {
    assert_all_valid("csaf/oasis-csaf-2.0-examples/examples/csaf", 19);
}

fn cisa() -> Value {
    load(&shared("csaf/cisa-sample/icsa-23-143-04.json"))
}

/// Apply `edit` to a real advisory and expect exactly the tests `expect` to fail.
fn check(edit: impl FnOnce(&mut Value), expect: &[&str]) {
    let mut doc = cisa();
    assert!(hinomi_csaf::validate(&doc).is_empty());
    edit(&mut doc);
    let mut tests: Vec<String> = hinomi_csaf::validate(&doc)
        .into_iter()
        .map(|f| f.test)
        .collect();
    tests.sort();
    tests.dedup();
    assert_eq!(tests, expect);
}

fn first_cvss3(doc: &mut Value) -> &mut Value {
    doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]
        .as_object_mut()
        .unwrap();
    &mut doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]
}

#[test]
fn wrong_base_score_fails_6_1_9() {
    check(
        |d| {
            let c = first_cvss3(d);
            let s = c["baseScore"].as_f64().unwrap();
            c["baseScore"] = json!(if s > 5.0 { s - 1.0 } else { s + 1.0 });
        },
        &["6.1.9"],
    );
}

#[test]
fn property_contradicting_vector_fails_6_1_10() {
    check(
        |d| {
            let c = first_cvss3(d);
            let av = if c["attackVector"] == "PHYSICAL" {
                "NETWORK"
            } else {
                "PHYSICAL"
            };
            c["attackVector"] = json!(av);
        },
        &["6.1.10"],
    );
}

#[test]
fn cvss_schema_violation_is_6_1_8() {
    // Not in the CVSS schema's enum (6.1.8), and not the computed severity (6.1.9).
    check(
        |d| first_cvss3(d)["baseSeverity"] = json!("SEVERE"),
        &["6.1.8", "6.1.9"],
    );
}

#[test]
fn undefined_product_fails_6_1_1() {
    check(
        |d| {
            d["vulnerabilities"][0]["product_status"]["known_affected"]
                .as_array_mut()
                .unwrap()
                .push(json!("CSAFPID-NOPE"))
        },
        &["6.1.1"],
    );
}

#[test]
fn prerelease_version_of_final_document_fails() {
    check(
        |d| d["document"]["tracking"]["version"] = json!("1.0.0-rc.1"),
        &["6.1.16", "6.1.17", "6.1.20", "6.1.30"],
    );
}

#[test]
fn every_test_runs_after_a_schema_failure() {
    check(
        |d| {
            d["document"]["lang"] = json!("EZ");
            d["document"]["tracking"]["status"] = json!("published");
            let v = d["vulnerabilities"][0].clone();
            d["vulnerabilities"].as_array_mut().unwrap().push(v);
        },
        &["6.1.12", "6.1.23", "schema"],
    );
}

#[test]
fn findings_carry_a_json_pointer() {
    let mut doc = cisa();
    doc["document"]["category"] = json!("Security Advisory");
    let f = hinomi_csaf::validate(&doc);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].test.as_str(), f[0].path.as_str()),
        ("6.1.26", "/document/category")
    );
}

/// Every product id a real advisory defines is flattened, with the facts
/// matching needs.
#[test]
fn flattening_covers_every_defined_product() {
    for rel in [
        "csaf/cisa-sample",
        "csaf/oasis-csaf-2.0-examples/examples/csaf",
    ] {
        for f in json_files(rel) {
            let doc = load(&f);
            let flat = hinomi_csaf::product_tree::flatten(&doc);
            let ids = collect_ids(&doc);
            for id in &ids {
                let p = flat
                    .get(id)
                    .unwrap_or_else(|| panic!("{}: {id} not flattened", f.display()));
                assert!(!p.name.is_empty(), "{}: {id} has no name", f.display());
            }
            assert_eq!(flat.len(), ids.len(), "{}", f.display());
        }
    }
    let flat = hinomi_csaf::product_tree::flatten(&cisa());
    assert!(flat
        .values()
        .any(|p| p.vendor.is_some() && p.product.is_some()));
}

fn collect_ids(v: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "product" || k == "full_product_name" {
                        if let Some(id) = x.get("product_id").and_then(Value::as_str) {
                            out.insert(id.to_string());
                        }
                    }
                    if k == "full_product_names" {
                        for f in x.as_array().into_iter().flatten() {
                            if let Some(id) = f.get("product_id").and_then(Value::as_str) {
                                out.insert(id.to_string());
                            }
                        }
                    }
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v.get("product_tree").unwrap_or(&Value::Null), &mut out);
    out
}
