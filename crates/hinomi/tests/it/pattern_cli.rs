//! `hinomi pattern check` and `hinomi match`, run as the built binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn hinomi(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hinomi runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("hinomi-pcli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn indicator(id: &str, pattern: &str) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": id, "created": "2024-01-01T00:00:00.000Z",
           "modified": "2024-01-01T00:00:00.000Z", "pattern": pattern, "pattern_type": "stix",
           "valid_from": "2024-01-01T00:00:00Z"})
}

const IND_DOMAIN: &str = "indicator--00000000-0000-4000-8000-000000000001";
const IND_NET: &str = "indicator--00000000-0000-4000-8000-000000000002";
const IND_HASH: &str = "indicator--00000000-0000-4000-8000-000000000003";
const IND_BAD: &str = "indicator--00000000-0000-4000-8000-000000000004";
const IND_TS: &str = "indicator--00000000-0000-4000-8000-000000000005";

fn indicators() -> Vec<Value> {
    vec![
        indicator(IND_DOMAIN, "[domain-name:value = 'evil.example']"),
        indicator(
            IND_NET,
            "[network-traffic:dst_ref.value ISSUBSET '203.0.113.0/24' AND network-traffic:dst_port = 443]",
        ),
        indicator(IND_HASH, "[file:hashes.'SHA-256' = 'aa11']"),
        indicator(IND_BAD, "[domain-name:value = ]"),
    ]
}

fn observed(id: &str, objects: Value) -> Value {
    json!({"type": "observed-data", "spec_version": "2.1", "id": id,
           "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
           "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:05Z",
           "number_observed": 2, "objects": objects})
}

const OD1: &str = "observed-data--00000000-0000-4000-8000-0000000000a1";
const OD2: &str = "observed-data--00000000-0000-4000-8000-0000000000a2";

#[test]
fn pattern_check_reports_each_line() {
    let out = hinomi(
        &["pattern", "check"],
        "[ipv4-addr:value = '198.51.100.1']\n[ipv4-addr:value = ]\n\n[file:hashes.MD5 = 'x']\n",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let l = lines(&out);
    assert_eq!(l.len(), 4);
    assert_eq!(l[0], json!({"valid": true}));
    assert_eq!(l[1]["valid"], json!(false));
    assert!(
        l[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("byte 19: expected"),
        "{}",
        l[1]
    );
    assert_eq!(l[2]["valid"], json!(false));
    assert_eq!(
        l[3]["valid"],
        json!(false),
        "strict: the hash policy applies"
    );
    let lenient = hinomi(
        &["pattern", "check", "--lenient"],
        "[file:hashes.MD5 = 'x']\n",
    );
    assert_eq!(lenient.status.code(), Some(0));
    assert_eq!(lines(&lenient), vec![json!({"valid": true})]);
    let ok = hinomi(&["pattern", "check"], "[x:y = 1]\r\n");
    assert_eq!(ok.status.code(), Some(0), "CRLF input");
}

#[test]
fn match_bundles_and_observed_data_lines() {
    let dir = Dir::new("stix");
    let bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                        "objects": indicators()});
    let ind = dir.file("ind.json", &serde_json::to_string_pretty(&bundle).unwrap());
    let od1 = observed(
        OD1,
        json!({"0": {"type": "domain-name", "value": "evil.example"},
               "1": {"type": "ipv4-addr", "value": "203.0.113.5"},
               "2": {"type": "network-traffic", "dst_ref": "1", "dst_port": 443}}),
    );
    let od2 = observed(
        OD2,
        json!({"0": {"type": "domain-name", "value": "good.example"}}),
    );
    let obs_bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000ff",
                            "objects": [od2]});
    let obs = dir.file("obs.jsonl", &format!("{od1}\n\n{obs_bundle}\n"));
    let out = hinomi(&["match", "--indicators", &ind, "--observations", &obs], "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "the bad indicator is an error: {out:?}"
    );
    let l = lines(&out);
    assert_eq!(l.len(), 3, "{l:?}");
    assert_eq!(l[0]["indicator"], json!(IND_BAD));
    assert!(l[0]["error"].as_str().unwrap().contains("does not compile"));
    let mut matched: Vec<&str> = l[1..]
        .iter()
        .map(|m| m["indicator"].as_str().unwrap())
        .collect();
    matched.sort();
    assert_eq!(matched, [IND_DOMAIN, IND_NET]);
    for m in &l[1..] {
        assert_eq!(m["observation"], json!(OD1));
        assert!(m["source"].as_str().unwrap().ends_with("obs.jsonl:1"));
        assert_eq!(m["number_observed"], json!(2));
    }

    // Without the bad indicator, as JSON lines: exit 0.
    let good: Vec<String> = indicators()[..3].iter().map(Value::to_string).collect();
    let ind = dir.file("ind.jsonl", &good.join("\n"));
    let out = hinomi(&["match", "--indicators", &ind, "--observations", &obs], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines(&out).len(), 2);

    // Observations on stdin, one pretty-printed bundle.
    let pretty = serde_json::to_string_pretty(&json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000fe", "objects": [observed(OD1, json!({"0": {"type": "domain-name", "value": "evil.example"}}))]})).unwrap();
    let out = hinomi(
        &["match", "--indicators", &ind, "--observations", "-"],
        &pretty,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines(&out)[0]["indicator"], json!(IND_DOMAIN));
}

#[test]
fn match_zeek_and_suricata_events() {
    let dir = Dir::new("events");
    let good: Vec<String> = indicators()[..3].iter().map(Value::to_string).collect();
    let ind = dir.file("ind.jsonl", &good.join("\n"));
    let zeek_conn = json!({"ts": 1704067200.25, "uid": "C1", "id.orig_h": "10.0.0.2", "id.orig_p": 50000,
                           "id.resp_h": "203.0.113.9", "id.resp_p": 443, "proto": "tcp"});
    let zeek_dns = json!({"ts": 1704067201.0, "uid": "C2", "id.orig_h": "10.0.0.2", "id.resp_h": "10.0.0.53",
                          "id.resp_p": 53, "proto": "udp", "query": "evil.example"});
    let zeek_files = json!({"ts": 1704067202.0, "fuid": "F1", "sha256": "aa11", "mime_type": "application/x-dosexec"});
    let suricata = json!({"timestamp": "2024-01-01T09:00:03.000000+0900", "event_type": "dns",
                          "src_ip": "10.0.0.3", "dest_ip": "10.0.0.53", "src_port": 5353, "dest_port": 53,
                          "proto": "UDP", "dns": {"type": "query", "rrname": "evil.example"}});
    let quiet = json!({"ts": 1704067204.0, "id.orig_h": "10.0.0.2", "id.resp_h": "198.51.100.1", "id.resp_p": 443});
    let obs = dir.file(
        "events.jsonl",
        &format!(
            "{zeek_conn}\n{zeek_dns}\n{zeek_files}\n{suricata}\nnot json\n{{\"x\": 1}}\n{quiet}\n"
        ),
    );
    let out = hinomi(&["match", "--indicators", &ind, "--observations", &obs], "");
    assert_eq!(out.status.code(), Some(2), "two bad lines: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("events.jsonl:5: not JSON"), "{stderr}");
    assert!(stderr.contains("events.jsonl:6: no time field"), "{stderr}");
    let l = lines(&out);
    let got: Vec<(String, String)> = l
        .iter()
        .map(|m| {
            let src = m["source"].as_str().unwrap();
            (
                m["indicator"].as_str().unwrap().to_string(),
                src[src.rfind(':').unwrap() + 1..].to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (IND_NET.to_string(), "1".to_string()),
            (IND_DOMAIN.to_string(), "2".to_string()),
            (IND_HASH.to_string(), "3".to_string()),
            (IND_DOMAIN.to_string(), "4".to_string()),
        ]
    );
    assert_eq!(l[0]["first_observed"], json!("2024-01-01T00:00:00.25Z"));
    assert_eq!(
        l[3]["first_observed"],
        json!("2024-01-01T00:00:03Z"),
        "offset applied"
    );
    assert!(l[0]["observation"]
        .as_str()
        .unwrap()
        .starts_with("observed-data--"));
    assert_ne!(l[0]["observation"], l[1]["observation"]);

    // As a STIX bundle of sightings, including the observed-data made from events.
    let ok = dir.file("ok.jsonl", &format!("{zeek_dns}\n{suricata}\n{quiet}\n"));
    let out = hinomi(
        &[
            "match",
            "--indicators",
            &ind,
            "--observations",
            &ok,
            "--format",
            "stix",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let l = lines(&out);
    assert_eq!(l.len(), 1, "one bundle");
    let objects = l[0]["objects"].as_array().unwrap();
    let sightings: Vec<&Value> = objects.iter().filter(|o| o["type"] == "sighting").collect();
    assert_eq!(sightings.len(), 1);
    let s = sightings[0];
    assert_eq!(s["sighting_of_ref"], json!(IND_DOMAIN));
    assert_eq!(s["count"], json!(2));
    assert_eq!(s["first_seen"], json!("2024-01-01T00:00:01Z"));
    assert_eq!(s["last_seen"], json!("2024-01-01T00:00:03Z"));
    let refs = s["observed_data_refs"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    for r in refs {
        assert!(
            objects
                .iter()
                .any(|o| o["id"] == *r && o["type"] == "observed-data"),
            "{r} is in the bundle"
        );
    }
}

#[test]
fn evaluation_errors_are_reported_with_ids() {
    let dir = Dir::new("evalerr");
    let ind = dir.file(
        "ind.jsonl",
        &indicator(IND_TS, "[file:created = t'2024-01-01T00:00:00Z']").to_string(),
    );
    let od = observed(OD1, json!({"0": {"type": "file", "created": "not a time"}}));
    let obs = dir.file("obs.jsonl", &od.to_string());
    let out = hinomi(&["match", "--indicators", &ind, "--observations", &obs], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let l = lines(&out);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["indicator"], json!(IND_TS));
    assert_eq!(l[0]["observation"], json!(OD1));
    assert!(l[0]["error"].as_str().unwrap().contains("evaluation error"));
}

#[test]
fn bad_files_name_file_and_line() {
    let dir = Dir::new("badfiles");
    let ind = dir.file(
        "ind.json",
        "{\n  \"type\": \"bundle\",\n  \"objects\": [,]\n}\n",
    );
    let obs = dir.file("obs.jsonl", "");
    let out = hinomi(&["match", "--indicators", &ind, "--observations", &obs], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ind.json:3:"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = hinomi(
        &[
            "match",
            "--indicators",
            "/nonexistent/x",
            "--observations",
            &obs,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x"));
    for args in [
        &["match", "--help"][..],
        &["pattern", "check", "--help"],
        &["pattern", "--help"],
    ] {
        let out = hinomi(args, "");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
    let help = hinomi(&["match", "--help"], "");
    assert!(String::from_utf8_lossy(&help.stdout).contains("id.orig_h"));
}

/// Where a stream reports a match earlier than the whole set's evaluation binds it:
/// the first observation already completes `… OR [a]`, while the evaluation of the
/// whole set prefers the left operand (10 observations). Pattern → observed-data bound.
const STREAM_DEVIATIONS: &[(&str, u64)] =
    &[("[person:age < 20] REPEATS 10 TIMES OR [person:age < 20]", 1)];

/// The OASIS matcher corpus through `hinomi match` as a stream: each record's
/// observations one per line, in order, so that patterns binding several observed-data
/// match across records. The outcome (match with the number of observed-data bound,
/// no match, error) must be the corpus's, deviations aside (the library's test lists
/// them: START after STOP is a parse error here).
#[test]
fn matcher_corpus_through_the_cli() {
    let path = format!(
        "{}/../../../shared/stix/pattern-corpus/matcher_v21_corpus.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 423, "corpus changed size");
    let dir = Dir::new("corpus");
    let mut disagreements = Vec::new();
    let (mut deviations, mut stream_deviations) = (0, 0);
    for (n, r) in records.iter().enumerate() {
        let pattern = r["pattern"].as_str().unwrap();
        let ind = dir.file("ind.json", &indicator("indicator--c", pattern).to_string());
        let bundles: Vec<String> = r["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        let obs = dir.file("obs.jsonl", &bundles.join("\n"));
        // Every other record on two threads: the order and the state must not depend
        // on them.
        let threads = if n % 2 == 0 { "1" } else { "2" };
        let out = hinomi(
            &[
                "match",
                "--indicators",
                &ind,
                "--observations",
                &obs,
                "--window",
                "36500d",
                "--threads",
                threads,
                "--quiet",
            ],
            "",
        );
        // The stream's first result is the corpus's outcome for the whole set (later
        // ones are further matches, or errors on later observations).
        let results = lines(&out);
        let (ours, count) = match results.first() {
            Some(l) if l.get("error").is_some() => ("error", None),
            Some(m) => {
                let bound = m["observations"].as_array().map_or(1, Vec::len);
                ("match", Some(bound as u64))
            }
            None if out.status.code() == Some(2) => ("error", None),
            None => ("nomatch", Some(0)),
        };
        if let Some((_, c)) = STREAM_DEVIATIONS.iter().find(|(p, _)| *p == pattern) {
            stream_deviations += 1;
            assert_eq!((ours, count), ("match", Some(*c)), "{pattern}");
            continue;
        }
        let expected = r["expected"].as_str().unwrap();
        if pattern.contains("START t'1994-11-29T13:37:59Z' STOP t'1994-11-29T13:37:58Z'") {
            deviations += 1;
            assert_eq!(ours, "error", "{pattern}");
            continue;
        }
        let want_count = r.get("matched_sdo_count").and_then(Value::as_u64);
        let same = ours == expected
            && (expected != "match" || want_count.is_none() || want_count == count);
        if !same {
            disagreements.push(format!(
                "{}\n    {pattern}\n    expected {expected} {want_count:?}, ours {ours} {count:?}; stderr {}",
                r["test"],
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert_eq!(deviations, 1);
    assert_eq!(stream_deviations, STREAM_DEVIATIONS.len());
    assert!(
        disagreements.is_empty(),
        "{} of {} disagree:\n{}",
        disagreements.len(),
        records.len(),
        disagreements.join("\n")
    );
}

/// Many chunks on several threads: results come out in input order, a match across
/// records spanning chunks is found, and the stream's cap is reported.
#[test]
fn threads_keep_input_order_and_state_spans_chunks() {
    let dir = Dir::new("threads");
    let ind = dir.file(
        "ind.jsonl",
        &[
            indicator("indicator--one", "[ipv4-addr:value = '10.0.0.7']").to_string(),
            indicator(
                "indicator--two",
                "[domain-name:value = 'first.example'] FOLLOWEDBY [domain-name:value = 'last.example']",
            )
            .to_string(),
        ]
        .join("\n"),
    );
    let n = 40_000; // about 5 MB: many chunks
    let mut records = Vec::new();
    for i in 0..n {
        let value = match i {
            3 => json!({"0": {"type": "domain-name", "value": "first.example"}}),
            i if i == n - 2 => json!({"0": {"type": "domain-name", "value": "last.example"}}),
            i if i % 7 == 0 => json!({"0": {"type": "ipv4-addr", "value": "10.0.0.7"}}),
            i => {
                json!({"0": {"type": "ipv4-addr", "value": format!("10.1.{}.{}", i / 256 % 256, i % 256)}})
            }
        };
        let mut od = observed(
            &format!("observed-data--{i:08}-0000-4000-8000-000000000000"),
            value,
        );
        od["first_observed"] = json!("2024-01-01T00:00:00Z");
        od["last_observed"] = json!("2024-01-01T00:00:00Z");
        records.push(od.to_string());
    }
    let obs = dir.file("obs.jsonl", &records.join("\n"));
    let out = hinomi(
        &[
            "match",
            "--indicators",
            &ind,
            "--observations",
            &obs,
            "--threads",
            "2",
            "--quiet",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = lines(&out);
    let sources: Vec<usize> = results
        .iter()
        .map(|r| {
            r["source"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut sorted = sources.clone();
    sorted.sort_unstable();
    assert_eq!(sources, sorted, "results in input order");
    assert_eq!(
        results
            .iter()
            .filter(|r| r["indicator"] == "indicator--one")
            .count(),
        (0..n)
            .filter(|i| i % 7 == 0 && *i != 3 && *i != n - 2)
            .count()
    );
    let two: Vec<_> = results
        .iter()
        .filter(|r| r["indicator"] == "indicator--two")
        .collect();
    assert_eq!(two.len(), 1, "{two:?}");
    assert_eq!(
        two[0]["source"].as_str().unwrap(),
        format!("{obs}:{}", n - 1)
    );
    assert_eq!(
        two[0]["observations"],
        json!([
            "observed-data--00000003-0000-4000-8000-000000000000",
            "observed-data--00039998-0000-4000-8000-000000000000"
        ])
    );

    // A cap of 2 held observations for a pattern that never completes: one error.
    let ind = dir.file(
        "ind2.json",
        &indicator(
            "indicator--cap",
            "[ipv4-addr:value = '10.0.0.7'] FOLLOWEDBY [domain-name:value = 'never.example']",
        )
        .to_string(),
    );
    let out = hinomi(
        &[
            "match",
            "--indicators",
            &ind,
            "--observations",
            &obs,
            "--max-per-pattern",
            "2",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let errors = lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["error"]
        .as_str()
        .unwrap()
        .contains("partial-match state full"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped for lack of room"));

    // A window that is not one is refused by name.
    let out = hinomi(
        &[
            "match",
            "--indicators",
            &ind,
            "--observations",
            &obs,
            "--window",
            "5x",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--window"));
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    let dir = Dir::new("epipe");
    let ind = dir.file(
        "i.jsonl",
        &format!(
            "{}\n",
            indicator("indicator--1", "[ipv4-addr:value = '10.0.0.1']")
        ),
    );
    let mut obs = String::new();
    for i in 0..50_000 {
        obs.push_str(
            &json!({"type": "observed-data", "id": format!("observed-data--{i}"),
            "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z",
            "objects": {"0": {"type": "ipv4-addr", "value": "10.0.0.1"}}})
            .to_string(),
        );
        obs.push('\n');
    }
    let obs = dir.file("o.jsonl", &obs);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hinomi"))
        .args([
            "match",
            "--indicators",
            &ind,
            "--observations",
            &obs,
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then go away (as `| head -1` does).
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
