//! The OASIS conformance corpora, read in place from `shared/`.

use hinomi_pattern::{Observations, ParseOptions, Pattern};
use serde_json::Value;

fn corpus_path(name: &str) -> String {
    format!(
        "{}/../../../shared/stix/pattern-corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn read_jsonl(name: &str) -> Vec<Value> {
    let path = corpus_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

/// Validator records where we deliberately disagree with stix2-patterns (see README).
const VALIDATOR_DEVIATIONS: &[&str] = &[
    // Impossible calendar dates: the ANTLR lexer checks only digit ranges.
    "[x:created = t'2024-02-30T12:00:00Z']",
    "[x:created = t'2024-04-31T12:00:00Z']",
    "[x:created = t'2023-02-29T12:00:00Z']",
];

#[test]
fn validator_corpus_agrees() {
    let records = read_jsonl("validator_v21_corpus.jsonl");
    assert_eq!(records.len(), 87, "corpus changed size");
    let mut disagreements = Vec::new();
    let mut deviations_seen = 0;
    for r in &records {
        let pattern = r["pattern"].as_str().unwrap();
        let valid = r["valid"].as_bool().unwrap();
        let ours = Pattern::parse(pattern);
        let deviation = VALIDATOR_DEVIATIONS.contains(&pattern);
        if deviation {
            deviations_seen += 1;
            assert!(
                valid && ours.is_err(),
                "deviation no longer differs: {pattern}"
            );
            continue;
        }
        if ours.is_ok() != valid {
            disagreements.push(format!("{pattern}: corpus valid={valid}, ours={ours:?}"));
        }
    }
    assert_eq!(deviations_seen, VALIDATOR_DEVIATIONS.len());
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn spec_examples_are_valid() {
    let path = corpus_path("spec_examples_v21.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 23, "corpus changed size");
    for line in lines {
        let p = Pattern::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        // The canonical text parses back to the same tree.
        let again = Pattern::parse(&p.to_string()).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(p, again, "{line}");
    }
}

/// Matcher records where we deliberately differ from stix2-matcher (see README):
/// test id → our outcome.
const MATCHER_DEVIATIONS: &[(&str, &str)] = &[
    // START after STOP is a parse error here; stix2-matcher silently never matches.
    (
        "stix2matcher/test/v21/test_temporal_qualifiers.py::test_temp_qual_nomatch[[person:name = 'bob'] START t'1994-11-29T13:37:59Z' STOP t'1994-11-29T13:37:58Z']",
        "error",
    ),
];

fn outcome(r: &Value) -> (String, Option<usize>) {
    let pattern = r["pattern"].as_str().unwrap();
    let p = match Pattern::parse_with(pattern, &ParseOptions::lenient()) {
        Ok(p) => p,
        Err(_) => return ("error".into(), None),
    };
    let obs = match Observations::from_value(&r["observations"]) {
        Ok(o) => o,
        Err(_) => return ("error".into(), None),
    };
    match p.evaluate(&obs) {
        Ok(Some(m)) => ("match".into(), Some(m.observations().len())),
        Ok(None) => ("nomatch".into(), Some(0)),
        Err(_) => ("error".into(), None),
    }
}

#[test]
fn matcher_corpus_agrees() {
    let records = read_jsonl("matcher_v21_corpus.jsonl");
    assert_eq!(records.len(), 423, "corpus changed size");
    let mut disagreements = Vec::new();
    let mut agree = 0;
    for r in &records {
        let test = r["test"].as_str().unwrap();
        let expected = r["expected"].as_str().unwrap();
        let count = r
            .get("matched_sdo_count")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        let (ours, our_count) = outcome(r);
        if let Some((_, dev)) = MATCHER_DEVIATIONS.iter().find(|(t, _)| *t == test) {
            assert_eq!(&ours, dev, "deviation changed: {test}");
            assert_ne!(ours, expected, "deviation no longer differs: {test}");
            continue;
        }
        let same =
            ours == expected && (expected == "error" || count.is_none() || count == our_count);
        if same {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{test}\n    {}\n    expected {expected} {count:?}, ours {ours} {our_count:?}",
                r["pattern"]
            ));
        }
    }
    assert_eq!(
        agree + MATCHER_DEVIATIONS.len(),
        records.len(),
        "{}",
        disagreements.join("\n")
    );
    assert!(
        disagreements.is_empty(),
        "{agree} agree, {} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// One `ObservationsBuilder`, reused (recycling every set) across all the corpus's
/// observations, builds what `Observations::from_value` builds: the same observed-data
/// with the same SCOs, the same errors, and the same evaluation of each record.
#[test]
fn reused_builder_equals_from_value_on_the_corpus() {
    let records = read_jsonl("matcher_v21_corpus.jsonl");
    let mut builder = hinomi_pattern::ObservationsBuilder::new();
    let mut built = 0;
    // Twice, so that the second pass runs entirely on recycled memory.
    for _ in 0..2 {
        for r in &records {
            let value = &r["observations"];
            let fresh = Observations::from_value(value);
            let reused = builder.from_value(value);
            let (fresh, reused) = match (fresh, reused) {
                (Ok(f), Ok(r)) => (f, r),
                (Err(f), Err(r)) => {
                    assert_eq!(f.to_string(), r.to_string());
                    continue;
                }
                (f, b) => panic!("{}: {f:?} vs {b:?}", r["test"]),
            };
            assert_eq!(fresh.len(), reused.len());
            for (a, b) in fresh.iter().zip(reused.iter()) {
                assert_eq!(a.id(), b.id());
                assert_eq!(a.first_observed(), b.first_observed());
                assert_eq!(a.last_observed(), b.last_observed());
                assert_eq!(a.number_observed(), b.number_observed());
                let ptrs = |o: &hinomi_pattern::Observation<'_>| {
                    o.objects()
                        .iter()
                        .map(|v| *v as *const Value)
                        .collect::<Vec<_>>()
                };
                assert_eq!(ptrs(a), ptrs(b));
            }
            if let Ok(p) =
                Pattern::parse_with(r["pattern"].as_str().unwrap(), &ParseOptions::lenient())
            {
                let (x, y) = (p.evaluate(&fresh), p.evaluate(&reused));
                assert_eq!(format!("{x:?}"), format!("{y:?}"));
            }
            built += 1;
            builder.recycle(reused);
        }
    }
    assert!(built > 700, "{built}");
}
