//! Members post observations; the hub matches them against the indicators each member
//! may see and records sightings that reveal nothing to anyone else.

use serde_json::{json, Value};

use crate::{objects_path, Hub, SHARED};

fn indicator(n: u32, pattern: &str, marking: &str, modified: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--50000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking]
    })
}

const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";

fn observations() -> Value {
    json!({"type": "bundle", "id": "bundle--60000000-0000-4000-8000-000000000001", "objects": [
        {"type": "observed-data", "spec_version": "2.1", "id": "observed-data--60000000-0000-4000-8000-000000000002",
         "created": "2026-11-25T00:00:00Z", "modified": "2026-11-25T00:00:00Z",
         "first_observed": "2026-11-25T01:00:00Z", "last_observed": "2026-11-25T01:05:00Z", "number_observed": 3,
         "object_refs": ["ipv4-addr--60000000-0000-4000-8000-000000000003", "domain-name--60000000-0000-4000-8000-000000000004"]},
        {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--60000000-0000-4000-8000-000000000003", "value": "198.51.100.7"},
        {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--60000000-0000-4000-8000-000000000004", "value": "evil.example"}
    ]})
}

/// Posts observations until the sightings of `expect` indicators come back (the index is
/// updated just after an ingest is acknowledged).
fn sightings(hub: &Hub, token: &str, expect: usize) -> Vec<Value> {
    for _ in 0..50 {
        let r = hub.rest("POST", "/api/v1/observations", token, Some(observations()));
        assert_eq!(r.status, 200, "{}", r.body);
        let s = r.json()["sightings"].as_array().unwrap().clone();
        if s.len() == expect {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    panic!("never saw {expect} sightings");
}

#[test]
fn sightings_follow_the_access_rule() {
    let hub = Hub::start();
    let (a_org, a) = hub.member("Indicator owner A", "government");
    let (_, b) = hub.member("Indicator owner B", "private");
    let (c_org, c) = hub.member("Observer C", "local-government");
    let (_, d) = hub.member("Bystander D", "private");
    let green = indicator(
        1,
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        GREEN,
        "2026-01-01T00:00:00.000Z",
    );
    let amber = indicator(
        2,
        "[domain-name:value = 'evil.example']",
        AMBER,
        "2026-01-01T00:00:00.000Z",
    );
    assert_eq!(
        hub.taxii_post(&objects_path(SHARED), &a, &json!({"objects": [green]}))
            .json()["success_count"],
        1
    );
    assert_eq!(
        hub.taxii_post(&objects_path(SHARED), &b, &json!({"objects": [amber]}))
            .json()["success_count"],
        1
    );

    // C sees only A's GREEN indicator: one sighting, bound by the observed-data.
    let s = sightings(&hub, &c, 1);
    let sighting = &s[0];
    assert_eq!(
        sighting["sighting_of_ref"],
        "indicator--50000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        sighting["observed_data_refs"],
        json!(["observed-data--60000000-0000-4000-8000-000000000002"])
    );
    assert_eq!(sighting["count"], 3);
    assert_eq!(sighting["first_seen"], "2026-11-25T01:00:00Z");
    assert_eq!(
        sighting["where_sighted_refs"],
        json!([c_org["identity_id"]])
    );
    // Stored; readable by C (owner) and A (the indicator's owner, in the audience), not by D.
    let path = format!("/api/v1/objects/{}", sighting["id"].as_str().unwrap());
    assert_eq!(hub.rest("GET", &path, &c, None).status, 200);
    assert_eq!(hub.rest("GET", &path, &a, None).status, 200);
    assert_eq!(hub.rest("GET", &path, &d, None).status, 404);
    assert!(sighting["extensions"]
        .to_string()
        .contains(a_org["identity_id"].as_str().unwrap()));

    // B sees both (its own AMBER indicator too); its AMBER sighting does not reach C.
    let s = sightings(&hub, &b, 2);
    let of_amber = s
        .iter()
        .find(|x| x["sighting_of_ref"] == "indicator--50000000-0000-4000-8000-000000000002")
        .unwrap();
    assert_eq!(of_amber["object_marking_refs"], json!([AMBER]));
    let path = format!("/api/v1/objects/{}", of_amber["id"].as_str().unwrap());
    assert_eq!(hub.rest("GET", &path, &c, None).status, 404);

    // Revoking the GREEN indicator stops its sightings.
    let mut revoked = indicator(
        1,
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        GREEN,
        "2026-02-01T00:00:00.000Z",
    );
    revoked["revoked"] = json!(true);
    assert_eq!(
        hub.taxii_post(&objects_path(SHARED), &a, &json!({"objects": [revoked]}))
            .json()["success_count"],
        1
    );
    sightings(&hub, &c, 0);

    // Bad input.
    let r = hub.rest("POST", "/api/v1/observations", &c, Some(json!({"objects": [{"type": "ipv4-addr", "id": "ipv4-addr--60000000-0000-4000-8000-000000000003", "value": "1.2.3.4"}]})));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("no observed-data"), "{}", r.body);
    let r = hub.rest(
        "POST",
        "/api/v1/observations",
        &c,
        Some(json!({"objects": [{"type": "observed-data"}]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("objects[0].id"), "{}", r.body);
    let r = hub.rest(
        "POST",
        "/api/v1/observations?tlp=purple",
        &c,
        Some(observations()),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn indicators_are_indexed_at_start() {
    let hub = Hub::start();
    let (_, a) = hub.member("A", "government");
    let ind = indicator(
        9,
        "[domain-name:value = 'evil.example']",
        GREEN,
        "2026-01-01T00:00:00.000Z",
    );
    hub.taxii_post(&objects_path(SHARED), &a, &json!({"objects": [ind]}));
    // A second server over the same store compiles the stored indicator at start.
    let second = hinomi_hub::TestServer::start(hub.store.clone(), crate::lab_config());
    let r = ureq::post(&format!("{}/api/v1/observations", second.url()))
        .set("Authorization", &format!("Bearer {a}"))
        .send_json(observations())
        .unwrap();
    let v: Value = r.into_json().unwrap();
    assert_eq!(v["sightings"].as_array().unwrap().len(), 1);
    assert_eq!(v["indicators_indexed"], 1);
}

/// Two hub nodes on one PostgreSQL database: an indicator added through one node
/// matches observations posted to the other (LISTEN/NOTIFY), without a restart.
#[test]
fn nodes_share_new_indicators_through_postgres() {
    let Ok(url) = std::env::var("HINOMI_TEST_DATABASE_URL") else {
        return;
    };
    if url.is_empty() {
        return;
    }
    let schema = format!("hinomi_test_{}", uuid::Uuid::new_v4().simple());
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let loc =
        hinomi_store::Location::Postgres(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
    // Two stores = two nodes' connection pools on the same database.
    let a = std::sync::Arc::new(hinomi_store::Store::open(&loc).unwrap());
    let boot = a.bootstrap("Coordinator", None).unwrap();
    let b = std::sync::Arc::new(hinomi_store::Store::open(&loc).unwrap());
    let node_a = hinomi_hub::TestServer::start(a, crate::lab_config());
    let node_b = hinomi_hub::TestServer::start(b, crate::lab_config());
    let ind = indicator(
        21,
        "[domain-name:value = 'evil.example']",
        GREEN,
        "2026-01-01T00:00:00.000Z",
    );
    let r = ureq::post(&format!(
        "{}/taxii2/hub/collections/{}/objects/",
        node_a.url(),
        crate::SHARED
    ))
    .set("Authorization", &format!("Bearer {}", boot.token))
    .set("Accept", crate::TAXII)
    .set("Content-Type", crate::TAXII)
    .send_string(&json!({"objects": [ind]}).to_string())
    .unwrap();
    assert_eq!(r.status(), 202);
    let mut found = 0;
    for _ in 0..100 {
        let v: Value = ureq::post(&format!("{}/api/v1/observations", node_b.url()))
            .set("Authorization", &format!("Bearer {}", boot.token))
            .send_json(observations())
            .unwrap()
            .into_json()
            .unwrap();
        found = v["sightings"].as_array().unwrap().len();
        if found == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(found, 1, "node B learned node A's indicator");
}

/// One observed-data (with its SCO) at `at`.
fn seen(n: u32, at: &str, sco: Value) -> Value {
    let sco_id = format!(
        "{}--61000000-0000-4000-8000-{n:012}",
        sco["type"].as_str().unwrap()
    );
    let mut sco = sco;
    sco["id"] = json!(sco_id);
    sco["spec_version"] = json!("2.1");
    json!({"type": "bundle", "id": format!("bundle--61000000-0000-4000-8000-{n:012}"), "objects": [
        {"type": "observed-data", "spec_version": "2.1",
         "id": format!("observed-data--61000000-0000-4000-8000-{n:012}"),
         "created": at, "modified": at, "first_observed": at, "last_observed": at,
         "number_observed": 1, "object_refs": [sco_id]},
        sco
    ]})
}

fn od(n: u32) -> String {
    format!("observed-data--61000000-0000-4000-8000-{n:012}")
}

/// The sightings of `indicator` in an answer of `/api/v1/observations`.
fn of(answer: &Value, indicator: u32) -> Vec<Value> {
    let id = format!("indicator--50000000-0000-4000-8000-{indicator:012}");
    answer["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["sighting_of_ref"] == id.as_str())
        .cloned()
        .collect()
}

#[test]
fn patterns_binding_several_observations_match_across_requests_never_across_members() {
    let config = hinomi_hub::HubConfig {
        matching: hinomi_hub::service::matching::MatchingConfig {
            max_per_pattern: 3,
            ..Default::default()
        },
        ..crate::lab_config()
    };
    let hub = Hub::start_with(config);
    let (_, a) = hub.member("Indicator owner", "government");
    let (_, c) = hub.member("Observer C", "local-government");
    let (_, d) = hub.member("Observer D", "private");
    let ip = |v: &str| json!({"type": "ipv4-addr", "value": v});
    let dn = |v: &str| json!({"type": "domain-name", "value": v});
    let indicators = vec![
        // 1: a probe binding one observation, to know the index has the others.
        indicator(1, "[ipv4-addr:value = '203.0.113.1']", GREEN, "2026-01-01T00:00:00.000Z"),
        indicator(
            2,
            "[ipv4-addr:value = '203.0.113.5'] FOLLOWEDBY [domain-name:value = 'stage2.example'] WITHIN 600 SECONDS",
            GREEN,
            "2026-01-01T00:00:00.000Z",
        ),
        // 3: no WITHIN: the configured window (1 h) bounds it.
        indicator(
            3,
            "[ipv4-addr:value = '203.0.113.9'] AND [domain-name:value = 'late.example']",
            GREEN,
            "2026-01-01T00:00:00.000Z",
        ),
        indicator(
            4,
            "[domain-name:value = 'flood.example'] FOLLOWEDBY [domain-name:value = 'never.example']",
            GREEN,
            "2026-01-01T00:00:00.000Z",
        ),
    ];
    let r = hub.taxii_post(&objects_path(SHARED), &a, &json!({"objects": indicators}));
    assert_eq!(r.json()["success_count"], 4, "{}", r.body);
    let post = |token: &str, body: Value| {
        let r = hub.rest("POST", "/api/v1/observations", token, Some(body));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let probe = seen(0, "2026-11-25T00:59:00Z", ip("203.0.113.1"));
    let mut indexed = false;
    for _ in 0..50 {
        if !of(&post(&c, probe.clone()), 1).is_empty() {
            indexed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    assert!(indexed, "the probe indicator never matched");
    assert!(of(
        &post(&c, seen(1, "2026-11-25T01:00:00Z", ip("203.0.113.5"))),
        2
    )
    .is_empty());

    // C's second request completes the FOLLOWEDBY with its first: one sighting binding both.
    let second = seen(2, "2026-11-25T01:05:00Z", dn("stage2.example"));
    let got = post(&c, second.clone());
    let s = of(&got, 2);
    assert_eq!(s.len(), 1, "{got}");
    assert_eq!(s[0]["observed_data_refs"], json!([od(1), od(2)]));
    assert_eq!(s[0]["first_seen"], "2026-11-25T01:00:00Z");
    assert_eq!(s[0]["last_seen"], "2026-11-25T01:05:00Z");
    assert_eq!(s[0]["count"], 2);
    // D never posted the first stage: C's observations are not D's.
    assert!(of(&post(&d, second), 2).is_empty());

    // Past the window: C's 203.0.113.9 at 01:10 has left when late.example arrives at
    // 03:00; a fresh one at 03:10 binds with it.
    post(&c, seen(3, "2026-11-25T01:10:00Z", ip("203.0.113.9")));
    let late = post(&c, seen(4, "2026-11-25T03:00:00Z", dn("late.example")));
    assert!(of(&late, 3).is_empty(), "{late}");
    let s = of(
        &post(&c, seen(5, "2026-11-25T03:10:00Z", ip("203.0.113.9"))),
        3,
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["observed_data_refs"], json!([od(4), od(5)]));

    // More first stages than the state holds for one pattern: the answer says so, once.
    let flood: Vec<Value> = (10..15)
        .map(|n| seen(n, "2026-11-25T03:20:00Z", dn("flood.example"))["objects"].clone())
        .flat_map(|o| o.as_array().unwrap().clone())
        .collect();
    let bundle = json!({"type": "bundle", "id": "bundle--62000000-0000-4000-8000-000000000001", "objects": flood});
    let got = post(&c, bundle);
    let warnings = got["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{got}"));
    assert_eq!(warnings.len(), 1, "{got}");
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .starts_with("indicator--50000000-0000-4000-8000-000000000004: more than 3"));
    let again = post(&c, seen(16, "2026-11-25T03:21:00Z", dn("flood.example")));
    // The pattern is named once; later drops are counted.
    assert_eq!(
        again["warnings"],
        json!(["1 of your held observations were dropped for lack of room (matching.max_per_pattern, max_held_per_org, max_held_mib_per_org); matches with them will not be found"])
    );

    let m = hub.request("GET", "/metrics", Some(&hub.admin), None).body;
    assert!(m.contains("hinomi_match_state_orgs 2\n"), "{m}");
    assert!(m.contains("hinomi_match_state_evicted_total 3\n"), "{m}");
    let expired = m
        .lines()
        .find_map(|l| l.strip_prefix("hinomi_match_state_expired_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(expired >= 1, "{m}");
}

#[test]
fn held_observations_keep_their_tlp_and_their_privacy() {
    let hub = Hub::start();
    let (_, a) = hub.member("Indicator owner", "government");
    let (_, b) = hub.member("Private owner", "private");
    let (_, c) = hub.member("Observer", "local-government");
    let ip = |v: &str| json!({"type": "ipv4-addr", "value": v});
    let dn = |v: &str| json!({"type": "domain-name", "value": v});
    let visible = vec![
        indicator(
            1,
            "[ipv4-addr:value = '203.0.113.1']",
            GREEN,
            "2026-01-01T00:00:00.000Z",
        ),
        indicator(
            2,
            "[ipv4-addr:value = '203.0.113.5'] AND [domain-name:value = 'two.example']",
            GREEN,
            "2026-01-01T00:00:00.000Z",
        ),
    ];
    let r = hub.taxii_post(&objects_path(SHARED), &a, &json!({"objects": visible}));
    assert_eq!(r.json()["success_count"], 2, "{}", r.body);
    // B's AMBER indicator: C may not see it, so nothing is held for it on C's behalf.
    let hidden = indicator(
        3,
        "[ipv4-addr:value = '198.51.100.66'] FOLLOWEDBY [domain-name:value = 'x.example']",
        AMBER,
        "2026-01-01T00:00:00.000Z",
    );
    let r = hub.taxii_post(&objects_path(SHARED), &b, &json!({"objects": [hidden]}));
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let post = |token: &str, query: &str, body: Value| {
        let r = hub.rest(
            "POST",
            &format!("/api/v1/observations{query}"),
            token,
            Some(body),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let probe = seen(0, "2026-11-25T00:59:00Z", ip("203.0.113.1"));
    assert!(
        (0..50).any(|_| {
            let hit = !of(&post(&c, "", probe.clone()), 1).is_empty();
            if !hit {
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
            hit
        }),
        "the probe indicator never matched"
    );
    let held = |hub: &Hub| {
        let m = hub.request("GET", "/metrics", Some(&hub.admin), None).body;
        m.lines()
            .find_map(|l| l.strip_prefix("hinomi_match_state_held "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    let before = held(&hub);
    post(&c, "", seen(1, "2026-11-25T01:00:00Z", ip("198.51.100.66")));
    assert_eq!(held(&hub), before, "held for an indicator C may not see");

    // Posted under RED, completed by a GREEN post: the sighting is RED.
    post(
        &c,
        "?tlp=red",
        seen(2, "2026-11-25T01:00:00Z", ip("203.0.113.5")),
    );
    let got = post(&c, "", seen(3, "2026-11-25T01:01:00Z", dn("two.example")));
    let s = of(&got, 2);
    assert_eq!(s.len(), 1, "{got}");
    assert_eq!(
        s[0]["object_marking_refs"],
        json!(["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]),
        "{got}"
    );

    // Within one request the whole set is one observation set, as before: two hours
    // apart (past the window) still match.
    let mut both = seen(4, "2026-11-25T05:00:00Z", ip("203.0.113.5"));
    let later = seen(5, "2026-11-25T07:00:00Z", dn("two.example"));
    for o in later["objects"].as_array().unwrap() {
        both["objects"].as_array_mut().unwrap().push(o.clone());
    }
    let s = of(&post(&c, "", both), 2);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["observed_data_refs"], json!([od(4), od(5)]));

    // Dated far ahead: matched in its request, kept out of the state, and said so.
    let got = post(&c, "", seen(6, "2999-01-01T00:00:00Z", ip("203.0.113.5")));
    let w = got["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{got}"));
    assert!(
        w[0].as_str().unwrap().contains("ahead of the hub's clock"),
        "{got}"
    );
    let got = post(&c, "", seen(7, "2026-11-25T07:30:00Z", dn("two.example")));
    let s = of(&got, 2);
    assert!(
        s.iter()
            .all(|x| !x["observed_data_refs"].to_string().contains(&od(6))),
        "{got}"
    );
}
