//! No squatting on marking definitions: the TLP definitions are built in and cannot be
//! redefined; other marking definitions are the coordinator's.

use serde_json::{json, Value};

use crate::{objects_path, Hub, SHARED};

const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const TLP2_EXT: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

fn post(hub: &Hub, token: &str, obj: Value) -> Value {
    let r = hub.taxii_post(&objects_path(SHARED), token, &json!({ "objects": [obj] }));
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()
}

fn tlp2(id: &str, name: &str, level: &str, marking: &str) -> Value {
    json!({"type": "marking-definition", "spec_version": "2.1", "id": id,
        "created": "2022-10-01T00:00:00.000Z", "name": name, "object_marking_refs": [marking],
        "extensions": {TLP2_EXT: {"extension_type": "property-extension", "tlp_2_0": level}}})
}

#[test]
fn tlp_marking_definitions_are_built_in_and_others_are_the_coordinators() {
    let hub = Hub::start();
    let (_, member) = hub.member("Squatter", "private");
    // TLP:RED's id renamed TLP:CLEAR and marked CLEAR: refused, for members and the
    // coordinator alike.
    for token in [&member, &hub.admin] {
        let st = post(&hub, token, tlp2(RED, "TLP:CLEAR", "clear", CLEAR));
        assert_eq!(st["failure_count"], 1, "{st}");
        let m = st["failures"][0]["message"].as_str().unwrap();
        assert!(
            m.contains("built-in TLP:RED") && m.contains("cannot be redefined"),
            "{m}"
        );
    }
    let r = hub.rest("GET", &format!("/api/v1/objects/{RED}"), &member, None);
    assert_ne!(r.status, 200, "nothing was stored: {}", r.body);
    // The genuine definition, as bundles often carry it, is acknowledged.
    let st = post(&hub, &member, tlp2(RED, "TLP:RED", "red", CLEAR));
    assert_eq!(st["success_count"], 1, "{st}");
    // Other marking definitions: the coordinator's.
    let custom = json!({"type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--1a2b3c4d-0000-4000-8000-000000000001",
        "created": "2026-11-01T00:00:00.000Z", "name": "Handle as sector-confidential",
        "definition_type": "statement", "definition": {"statement": "Sector members only"},
        "object_marking_refs": [CLEAR]});
    let st = post(&hub, &member, custom.clone());
    assert_eq!(st["failure_count"], 1, "{st}");
    assert!(st["failures"][0]["message"]
        .as_str()
        .unwrap()
        .contains("only the coordinator"));
    let st = post(&hub, &hub.admin, custom);
    assert_eq!(st["success_count"], 1, "{st}");
}
