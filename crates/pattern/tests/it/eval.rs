//! Evaluator semantics beyond the OASIS corpus.

use hinomi_pattern::{EvalError, EvalOptions, Observations, Pattern};
use serde_json::{json, Value};

fn od(t: &str, n: u64, objects: Value) -> Value {
    json!({"type": "observed-data", "id": format!("observed-data--{t}"), "first_observed": t,
           "last_observed": t, "number_observed": n, "objects": objects})
}

/// Evaluate `pattern` on `data`; `Some(indices)` of the bound observations or `None`.
fn run(pattern: &str, data: &Value) -> Option<Vec<usize>> {
    let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let obs = Observations::from_value(data).unwrap();
    p.evaluate(&obs).unwrap().map(|m| m.observations().to_vec())
}

fn network_bundle() -> Value {
    json!({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "observed-data", "id": "observed-data--1", "first_observed": "2024-01-01T00:00:00Z",
         "last_observed": "2024-01-01T00:00:10Z", "number_observed": 1,
         "object_refs": ["network-traffic--1", "ipv4-addr--1", "ipv6-addr--1", "domain-name--1"]},
        {"type": "network-traffic", "id": "network-traffic--1", "dst_ref": "ipv4-addr--1",
         "src_refs_extra": ["ipv6-addr--1"], "dst_port": 443, "protocols": ["ipv4", "tcp"]},
        {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "203.0.113.33"},
        {"type": "ipv6-addr", "id": "ipv6-addr--1", "value": "2001:db8:dead:beef::7"},
        {"type": "domain-name", "id": "domain-name--1", "value": "example.com",
         "resolves_to_refs": ["ipv4-addr--1", "ipv6-addr--1"]},
        {"type": "ipv4-addr", "id": "ipv4-addr--unreferenced", "value": "198.51.100.1"}
    ]})
}

#[test]
fn references_lists_and_cidrs() {
    let data = network_bundle();
    for (pattern, expect) in [
        ("[network-traffic:dst_ref.value = '203.0.113.33']", true),
        (
            "[network-traffic:dst_ref.value ISSUBSET '203.0.113.0/24']",
            true,
        ),
        (
            "[network-traffic:dst_ref.value ISSUBSET '203.0.114.0/24']",
            false,
        ),
        ("[network-traffic:dst_ref = 'ipv4-addr--1']", true),
        ("[network-traffic:protocols[*] = 'tcp']", true),
        ("[network-traffic:protocols[0] = 'tcp']", false),
        ("[network-traffic:protocols[-1] = 'tcp']", true),
        ("[network-traffic:dst_port IN (80, 443)]", true),
        (
            "[network-traffic:dst_port > 442.5 AND network-traffic:dst_port < 444]",
            true,
        ),
        (
            "[domain-name:resolves_to_refs[*].value ISSUBSET '2001:db8:dead:beef::/64']",
            true,
        ),
        (
            "[domain-name:resolves_to_refs[*].value ISSUBSET '2001:db8:dead:bee0::/64']",
            false,
        ),
        ("[ipv6-addr:value ISSUPERSET '2001:db8:dead:beef::7']", true),
        ("[ipv4-addr:value = '198.51.100.1']", false), // not in object_refs
        (
            "[domain-name:value = 'example.com' AND ipv4-addr:value = '203.0.113.33']",
            false,
        ), // one SCO
        (
            "[domain-name:value = 'example.com' OR ipv4-addr:value = '0.0.0.0']",
            true,
        ),
        ("[domain-name:value LIKE 'ex%.com']", true),
        ("[domain-name:value LIKE 'EX%']", false),
        ("[domain-name:value MATCHES '^ex[a-z]+\\\\.com$']", true),
        ("[domain-name:value NOT MATCHES 'example']", false),
        ("[domain-name:missing NOT = 'x']", false),
        ("[domain-name:value NOT = 'x']", true),
        ("[NOT EXISTS domain-name:missing]", true),
        ("[EXISTS domain-name:value]", true),
        (
            "[domain-name:value = 'example.com'] AND [ipv4-addr:value = '203.0.113.33']",
            false,
        ), // one observation
    ] {
        assert_eq!(run(pattern, &data).is_some(), expect, "{pattern}");
    }
}

#[test]
fn inline_objects_and_their_refs() {
    let data = json!([od(
        "2024-01-01T00:00:00Z",
        1,
        json!({
            "0": {"type": "file", "name": "a.exe", "parent_directory_ref": "1",
                  "hashes": {"MD5": "79054025255fb1a26e4bc422aef54eb4"}},
            "1": {"type": "directory", "path": "C:\\Windows\\System32"}
        })
    )]);
    assert!(run(
        "[file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32']",
        &data
    )
    .is_some());
    assert!(run(
        "[file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4']",
        &data
    )
    .is_some());
    assert!(run(
        "[file:hashes[*] = '79054025255fb1a26e4bc422aef54eb4']",
        &data
    )
    .is_some());
    assert!(run("[file:parent_directory_ref.path = 'C:\\\\Windows']", &data).is_none());
}

fn timeline() -> Value {
    // a at 0s, b at 10s, c at 20s, each a point in time.
    json!([
        od(
            "2024-01-01T00:00:00Z",
            1,
            json!({"0": {"type": "x", "v": "a"}})
        ),
        od(
            "2024-01-01T00:00:10Z",
            1,
            json!({"0": {"type": "x", "v": "b"}})
        ),
        od(
            "2024-01-01T00:00:20Z",
            3,
            json!({"0": {"type": "x", "v": "c"}})
        ),
    ])
}

#[test]
fn temporal_operators_report_the_binding() {
    let data = timeline();
    for (pattern, expect) in [
        ("[x:v = 'a'] FOLLOWEDBY [x:v = 'c']", Some(vec![0, 2])),
        ("[x:v = 'c'] FOLLOWEDBY [x:v = 'a']", None),
        (
            "[x:v = 'a'] FOLLOWEDBY [x:v = 'b'] FOLLOWEDBY [x:v = 'c']",
            Some(vec![0, 1, 2]),
        ),
        (
            "([x:v = 'a'] FOLLOWEDBY [x:v = 'c']) WITHIN 20 SECONDS",
            Some(vec![0, 2]),
        ),
        (
            "([x:v = 'a'] FOLLOWEDBY [x:v = 'c']) WITHIN 19.9 SECONDS",
            None,
        ),
        ("[x:v = 'c'] REPEATS 3 TIMES", Some(vec![2])), // number_observed = 3
        ("[x:v = 'c'] REPEATS 4 TIMES", None),
        ("[x:v != 'z'] REPEATS 5 TIMES", Some(vec![0, 1, 2])),
        ("[x:v != 'z'] REPEATS 5 TIMES WITHIN 10 SECONDS", None),
        (
            "[x:v != 'z'] REPEATS 4 TIMES WITHIN 10 SECONDS",
            Some(vec![1, 2]),
        ),
        (
            "[x:v != 'z'] START t'2024-01-01T00:00:05Z' STOP t'2024-01-01T00:00:20Z'",
            Some(vec![1]),
        ),
        (
            "[x:v = 'a'] START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:00:00.000000001Z'",
            Some(vec![0]),
        ),
        ("[x:v = 'a'] AND [x:v = 'a']", None), // distinct observations
        ("[x:v = 'c'] AND [x:v = 'c']", Some(vec![2])), // number_observed allows it
        ("[x:v = 'q'] OR [x:v = 'b']", Some(vec![1])),
    ] {
        assert_eq!(run(pattern, &data), expect, "{pattern}");
    }
}

#[test]
fn hard_searches_end_with_an_error_not_a_hang() {
    // 40 observations one second apart; 10 pairs inside 8 seconds cannot exist,
    // and proving it blindly is exponential: the budget stops it.
    let data: Vec<Value> = (0..40)
        .map(|i| {
            od(
                &format!("2024-01-01T00:00:{i:02}Z"),
                1,
                json!({"0": {"type": "x", "v": i}}),
            )
        })
        .collect();
    let data = Value::Array(data);
    let obs = Observations::from_value(&data).unwrap();
    let p =
        Pattern::parse("([x:v >= 0] AND [x:v >= 0]) REPEATS 10 TIMES WITHIN 8 SECONDS").unwrap();
    let small = EvalOptions {
        max_steps: 10_000,
        ..EvalOptions::default()
    };
    assert_eq!(
        p.evaluate_with(&obs, &small),
        Err(EvalError::BudgetExceeded(10_000))
    );
    // A satisfiable one is found quickly.
    let p =
        Pattern::parse("([x:v >= 0] AND [x:v >= 0]) REPEATS 10 TIMES WITHIN 20 SECONDS").unwrap();
    assert_eq!(
        p.evaluate_with(&obs, &small)
            .unwrap()
            .unwrap()
            .observations()
            .len(),
        20
    );
    // More instances than the limit: an error, before any search.
    let p = Pattern::parse("[x:v >= 0] REPEATS 1000 TIMES").unwrap();
    let obs_many = json!([od(
        "2024-01-01T00:00:00Z",
        5000,
        json!({"0": {"type": "x", "v": 1}})
    )]);
    let obs_many = Observations::from_value(&obs_many).unwrap();
    assert_eq!(p.evaluate(&obs_many), Err(EvalError::TooManyInstances(512)));
    // Right at the limit the recursive search still fits a test thread's stack.
    let p =
        Pattern::parse("([x:v >= 0] REPEATS 256 TIMES) REPEATS 2 TIMES WITHIN 1 SECONDS").unwrap();
    assert_eq!(p.evaluate(&obs_many).unwrap().unwrap().observations(), &[0]);
}

#[test]
fn invalid_observations_are_reported_with_their_location() {
    for (data, message) in [
        (
            json!([{"type": "observed-data", "last_observed": "2024-01-01T00:00:00Z"}]),
            "[0].first_observed: missing or not a string",
        ),
        (
            json!([{"type": "observed-data", "first_observed": "2024-01-01T00:00:01Z",
                 "last_observed": "2024-01-01T00:00:00Z"}]),
            "[0].last_observed: before first_observed",
        ),
        (
            json!([{"type": "bundle", "objects": [{"type": "observed-data", "first_observed": "x",
                 "last_observed": "2024-01-01T00:00:00Z"}]}]),
            "[0].objects[0].first_observed: \"x\" is not an RFC 3339 timestamp",
        ),
        (
            json!([{"type": "observed-data", "first_observed": "2024-01-01T00:00:00Z",
                 "last_observed": "2024-01-01T00:00:00Z", "number_observed": 0}]),
            "[0].number_observed: not a positive integer",
        ),
    ] {
        let e = Observations::from_value(&data).unwrap_err();
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn timestamp_property_errors_name_the_observation() {
    let data = json!([od(
        "2024-01-01T00:00:00Z",
        1,
        json!({"0": {"type": "x", "t": "yesterday"}})
    )]);
    let obs = Observations::from_value(&data).unwrap();
    let p = Pattern::parse("[x:t > t'2020-01-01T00:00:00Z']").unwrap();
    assert_eq!(
        p.evaluate(&obs).unwrap_err().to_string(),
        "observations[0]: x:t: \"yesterday\" is not an RFC 3339 timestamp"
    );
}
