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
