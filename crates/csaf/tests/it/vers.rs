//! The purl-spec VERS test suite (`shared/vuln/vers-spec/tests`), read in
//! place, for the schemes hinomi implements.

use std::cmp::Ordering;

use hinomi_csaf::vers::{compare, Vers};
use serde_json::Value;

use crate::{load, shared};

fn tests(file: &str) -> Vec<Value> {
    load(&shared(&format!("vuln/vers-spec/tests/{file}")))["tests"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn canonical_parse() {
    let mut n = 0;
    for t in tests("vers_canonical_parse_test.json") {
        let input = t["input"].as_str().unwrap();
        let got = Vers::parse(input);
        if t["expected_failure"] == true {
            let e = got.expect_err(input);
            assert_eq!(
                e.to_string(),
                t["expected_message"].as_str().unwrap(),
                "{input}"
            );
        } else {
            let v = got.unwrap_or_else(|e| panic!("{input}: {e}"));
            let want = &t["expected_output"];
            assert_eq!(v.scheme, want["scheme"].as_str().unwrap());
            let cs: Vec<(String, String)> = v
                .constraints
                .iter()
                .map(|c| (c.comparator.as_str().to_string(), c.version.clone()))
                .collect();
            let want: Vec<(String, String)> = want["version_constraints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_string(),
                        p[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(cs, want, "{input}");
        }
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn containment_and_validate() {
    for file in [
        "npm_range_containment_test.json",
        "pypi_range_containment_test.json",
        "pypi_range_validate_test.json",
    ] {
        for t in tests(file) {
            match t["test_type"].as_str().unwrap() {
                "containment" => {
                    let vers = t["input"]["vers"].as_str().unwrap();
                    let version = t["input"]["version"].as_str().unwrap();
                    let v = Vers::parse_lenient(vers).unwrap();
                    assert_eq!(
                        v.contains(version),
                        t["expected_output"] == true,
                        "{vers} contains {version}"
                    );
                }
                "validate" => {
                    let input = t["input"].as_str().unwrap();
                    let v = Vers::parse_lenient(input).unwrap().normalized();
                    assert_eq!(
                        v.to_string(),
                        t["expected_output"].as_str().unwrap(),
                        "{input}"
                    );
                }
                other => panic!("{other}"),
            }
        }
    }
}

#[test]
fn maven_comparison() {
    let all = tests("maven_version_cmp_test.json");
    assert_eq!(all.len(), 977);
    let mut wrong = Vec::new();
    for t in &all {
        let versions: Vec<&str> = t["input"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        match t["test_type"].as_str().unwrap() {
            "comparison" => {
                let mut sorted = versions.clone();
                sorted.sort_by(|a, b| compare("maven", a, b).unwrap());
                let want: Vec<&str> = t["expected_output"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                if sorted != want {
                    wrong.push(format!("{versions:?}: got {sorted:?}"));
                }
            }
            "equality" => {
                let eq = compare("maven", versions[0], versions[1]) == Some(Ordering::Equal);
                if eq != (t["expected_output"] == true) {
                    wrong.push(format!("{versions:?}: equal is {eq}"));
                }
            }
            other => panic!("{other}"),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        all.len(),
        wrong.join("\n")
    );
}
