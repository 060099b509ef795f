//! Offboarding: suspending, reinstating and removing an organization; withdrawing a
//! community membership and a collection grant. Each is audited and takes effect on
//! the next request, delivery and read.

use std::time::Duration;

use serde_json::{json, Value};

use hinomi_notify::testing::WebhookReceiver;

use crate::{objects_path, Hub, SHARED};

const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const EXT: &str = "extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd";

fn warn(hub: &Hub, orgs: &[&str], title: &str) -> String {
    let body = json!({
        "title": {"en": title, "ja": title}, "summary": {"en": "s", "ja": "s"},
        "severity": "high", "tlp": "green", "audience": {"organizations": orgs},
    });
    let r = hub.rest("POST", "/api/v1/warnings", &hub.admin, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{id}/publish"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

fn deliveries(hub: &Hub, warning: &str, org: &str) -> Vec<Value> {
    let r = hub.rest(
        "GET",
        &format!("/api/v1/deliveries?warning={warning}"),
        &hub.admin,
        None,
    );
    r.json()["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["organization_id"] == org)
        .cloned()
        .collect()
}

fn whoami(hub: &Hub, token: &str) -> u16 {
    hub.rest("GET", "/api/v1/whoami", token, None).status
}

fn hook(hub: &Hub, token: &str, url: &str) {
    let r = hub.rest(
        "POST",
        "/api/v1/subscription/webhooks",
        token,
        Some(json!({ "url": url })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_suspended_organization_signs_in_to_nothing_and_receives_nothing_until_reinstated() {
    let hub = Hub::start();
    let rx = WebhookReceiver::start();
    let (a, a_tok) = hub.member("Departing operator", "private");
    let (b, b_tok) = hub.member("Staying ministry", "government");
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    hook(&hub, &a_tok, &rx.url("/a"));
    hook(&hub, &b_tok, &rx.url("/b"));
    // A's receiver is down, so its delivery of the first warning stays pending.
    rx.fail_first("/a", 1_000);
    let w1 = warn(&hub, &[a_id, b_id], "before");
    assert!(rx.wait_until(Duration::from_secs(20), |r| r
        .iter()
        .any(|x| x.path == "/b")));

    // Only the coordinator's admins suspend.
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{a_id}/suspend"),
        &b_tok,
        None,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{a_id}/suspend"),
        &hub.admin,
        Some(json!({"reason": "contract ended"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "suspended");
    assert_eq!(whoami(&hub, &a_tok), 401, "its tokens stop working");
    assert_eq!(whoami(&hub, &b_tok), 200);
    let d = deliveries(&hub, &w1, a_id);
    assert!(!d.is_empty());
    for x in &d {
        assert_eq!(x["state"], "dead", "{d:?}");
        assert!(
            x["last_error"].as_str().unwrap().contains("suspended"),
            "{d:?}"
        );
    }
    // A new warning naming it reaches only the others.
    rx.fail_first("/a", 0);
    let w2 = warn(&hub, &[a_id, b_id], "while suspended");
    assert!(deliveries(&hub, &w2, a_id).is_empty());
    assert!(!deliveries(&hub, &w2, b_id).is_empty());

    // The coordinator and peer hubs cannot be suspended this way.
    let coord = hub.rest("GET", "/api/v1/whoami", &hub.admin, None).json();
    let coord_id = coord["organization"]["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{coord_id}/suspend"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);

    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{a_id}/reinstate"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "active");
    assert_eq!(whoami(&hub, &a_tok), 200);
    let w3 = warn(&hub, &[a_id], "after");
    assert!(rx.wait_until(Duration::from_secs(20), |r| r
        .iter()
        .any(|x| x.path == "/a" && x.accepted && x.body.contains(&w3))));
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .body;
    assert!(audit.contains("organization.suspend") && audit.contains("contract ended"));
    assert!(audit.contains("organization.reinstate"));
}

#[test]
fn memberships_and_grants_are_withdrawn_and_removal_ends_everything() {
    let hub = Hub::start();
    let (a, a_tok) = hub.member("Water utility", "private");
    let a_id = a["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "Water ISAC", "members": [a_id]})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let com = r.json();
    let (com_id, com_identity) = (
        com["id"].as_str().unwrap().to_string(),
        com["identity_id"].as_str().unwrap().to_string(),
    );
    // An AMBER object for the community, shared by the coordinator.
    let oid = "indicator--0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    let obj = json!({"type": "indicator", "spec_version": "2.1", "id": oid,
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '203.0.113.50']", "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [AMBER],
        "extensions": {EXT: {"extension_type": "property-extension", "audience": [com_identity]}}});
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &hub.admin,
        &json!({ "objects": [obj] }),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let read = |t: &str| {
        hub.rest("GET", &format!("/api/v1/objects/{oid}"), t, None)
            .status
    };
    assert_eq!(read(&a_tok), 200);
    let member = format!("/api/v1/communities/{com_id}/members/{a_id}");
    assert_eq!(hub.rest("DELETE", &member, &a_tok, None).status, 403);
    assert_eq!(hub.rest("DELETE", &member, &hub.admin, None).status, 204);
    assert_eq!(read(&a_tok), 404, "withdrawn from the community");
    assert_eq!(hub.rest("PUT", &member, &hub.admin, None).status, 204);
    assert_eq!(read(&a_tok), 200, "a member again");

    // A restricted collection and a grant.
    let r = hub.rest(
        "POST",
        "/api/v1/collections",
        &hub.admin,
        Some(json!({"title": "Incident room", "read_policy": "restricted"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let col = r.json()["id"].as_str().unwrap().to_string();
    let list = |t: &str| hub.taxii_get(&objects_path(&col), Some(t)).status;
    assert_ne!(list(&a_tok), 200);
    let grant = format!("/api/v1/collections/{col}/grants/{a_id}");
    let r = hub.rest(
        "PUT",
        &grant,
        &hub.admin,
        Some(json!({"read": true, "write": false})),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(list(&a_tok), 200);
    assert_eq!(hub.rest("DELETE", &grant, &hub.admin, None).status, 204);
    assert_ne!(list(&a_tok), 200, "the grant is withdrawn");
    hub.rest(
        "PUT",
        &grant,
        &hub.admin,
        Some(json!({"read": true, "write": true})),
    );

    // A's own object, then its removal with the objects handed to the coordinator.
    let own = "indicator--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    let mine = json!({"type": "indicator", "spec_version": "2.1", "id": own,
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '203.0.113.51']", "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [AMBER]});
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &a_tok,
        &json!({ "objects": [mine.clone()] }),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    hook(&hub, &a_tok, "http://127.0.0.1:9/never");
    let r = hub.rest(
        "DELETE",
        &format!("/api/v1/organizations/{a_id}"),
        &hub.admin,
        Some(json!({"reason": "merged into another operator", "objects": "sideways"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("objects"), "{}", r.body);
    let r = hub.rest(
        "DELETE",
        &format!("/api/v1/organizations/{a_id}"),
        &hub.admin,
        Some(json!({"reason": "merged into another operator", "objects": "coordinator"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "removed");
    assert_eq!(whoami(&hub, &a_tok), 401);
    let toks = hub
        .rest(
            "GET",
            &format!("/api/v1/organizations/{a_id}/tokens"),
            &hub.admin,
            None,
        )
        .json();
    assert!(
        toks["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !t["revoked"].is_null()),
        "{toks}"
    );
    assert!(hub.store.webhooks(Some(&a_id)).unwrap().is_empty());
    let coms = hub
        .rest("GET", "/api/v1/communities", &hub.admin, None)
        .body;
    assert!(!coms.contains(&a_id), "{coms}");
    let cols = hub
        .rest("GET", "/api/v1/collections", &hub.admin, None)
        .body;
    assert!(!cols.contains(&a_id), "{cols}");
    // The coordinator now owns A's object and may correct it.
    let mut fixed = mine;
    fixed["modified"] = json!("2026-11-02T00:00:00.000Z");
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &hub.admin,
        &json!({ "objects": [fixed] }),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    // Removed is final.
    for path in [
        format!("/api/v1/organizations/{a_id}/suspend"),
        format!("/api/v1/organizations/{a_id}/reinstate"),
    ] {
        let r = hub.rest("POST", &path, &hub.admin, None);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("removed"), "{}", r.body);
    }
    assert_eq!(hub.rest("PUT", &member, &hub.admin, None).status, 400);
    let org = hub
        .rest(
            "GET",
            &format!("/api/v1/organizations/{a_id}"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(org["status"], "removed");
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .body;
    for action in [
        "community.remove_member",
        "community.add_member",
        "collection.grant",
        "organization.remove",
    ] {
        assert!(audit.contains(action), "{action} is audited");
    }
}
