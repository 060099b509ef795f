use serde_json::json;

use crate::{envelope, indicator, objects_path, Hub, SHARED, TAXII};

#[test]
fn discovery_root_and_collections() {
    let hub = Hub::start();
    let r = hub.taxii_get("/taxii2/", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, TAXII);
    assert_eq!(r.json()["api_roots"][0], "/taxii2/hub/");
    let r = hub.taxii_get("/taxii2/hub/", None);
    assert_eq!(r.json()["versions"][0], TAXII);
    assert!(r.json()["max_content_length"].as_u64().unwrap() > 1000);

    // Anonymous readers see only the public collection.
    let r = hub.taxii_get("/taxii2/hub/collections/", None);
    let cols = r.json()["collections"].as_array().unwrap().clone();
    assert_eq!(cols.len(), 1);
    assert_eq!(cols[0]["alias"], "public");
    assert_eq!(cols[0]["can_write"], false);

    let (_, member) = hub.member("Ministry", "government");
    let r = hub.taxii_get("/taxii2/hub/collections/", Some(&member));
    let cols = r.json()["collections"].as_array().unwrap().clone();
    let mut aliases: Vec<&str> = cols.iter().map(|c| c["alias"].as_str().unwrap()).collect();
    aliases.sort();
    assert_eq!(
        aliases,
        ["federation", "incidents", "public", "shared", "warnings"]
    );
    let fed = cols.iter().find(|c| c["alias"] == "federation").unwrap();
    assert_eq!(
        fed["can_write"], false,
        "only peer hubs write what they send"
    );
    let warnings = cols.iter().find(|c| c["alias"] == "warnings").unwrap();
    assert_eq!(warnings["can_read"], true);
    assert_eq!(
        warnings["can_write"], false,
        "members read warnings, only the coordinator writes"
    );

    // A restricted collection the member has no grant for is 404, not 403.
    let r = hub.rest("POST", "/api/v1/collections", &hub.admin, Some(json!({"title": "Law enforcement referrals", "read_policy": "restricted", "write_policy": "restricted"})));
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        hub.taxii_get(&format!("/taxii2/hub/collections/{cid}/"), Some(&member))
            .status,
        404
    );
    assert_eq!(
        hub.taxii_get(&objects_path(&cid), Some(&member)).status,
        404
    );
    assert_eq!(
        hub.taxii_get(&format!("/taxii2/hub/collections/{cid}/"), Some(&hub.admin))
            .status,
        200
    );
    // Unauthenticated access to a members' collection asks for credentials.
    assert_eq!(hub.taxii_get(&objects_path(SHARED), None).status, 401);
}

#[test]
fn add_get_page_filter_manifest_versions_delete() {
    let hub = Hub::start();
    let (org, member) = hub.member("Power company", "private");
    let identity = org["identity_id"].as_str().unwrap();

    // 25 indicators, the first in three versions.
    let mut objs: Vec<_> = (0..25)
        .map(|n| indicator(n, "2026-01-01T00:00:00.000Z"))
        .collect();
    objs.push(indicator(0, "2026-02-01T00:00:00.000Z"));
    objs.push(indicator(0, "2026-03-01T00:00:00.000Z"));
    let mut own = indicator(99, "2026-01-01T00:00:00.000Z");
    own["created_by_ref"] = json!(identity);
    objs.push(own);
    let r = hub.taxii_post(&objects_path(SHARED), &member, &envelope(objs));
    assert_eq!(r.status, 202, "{}", r.body);
    let st = r.json();
    assert_eq!(st["status"], "complete");
    assert_eq!(st["total_count"], 28);
    assert_eq!(st["success_count"], 28);
    assert_eq!(st["failure_count"], 0);
    assert_eq!(st["pending_count"], 0);

    // The status resource, with and without trailing slash (taxii2-client omits it).
    let sid = st["id"].as_str().unwrap();
    for path in [
        format!("/taxii2/hub/status/{sid}/"),
        format!("/taxii2/hub/status/{sid}"),
    ] {
        let r = hub.taxii_get(&path, Some(&member));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["success_count"], 28);
    }
    let (_, other) = hub.member("Other", "private");
    assert_eq!(
        hub.taxii_get(&format!("/taxii2/hub/status/{sid}/"), Some(&other))
            .status,
        404
    );

    // Re-posting an identical version is harmless.
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &member,
        &envelope(vec![indicator(3, "2026-01-01T00:00:00.000Z")]),
    );
    let st = r.json();
    assert_eq!(st["success_count"], 1);
    assert!(st["successes"][0]["message"]
        .as_str()
        .unwrap()
        .contains("already stored"));

    // Paging with limit and next: every indicator once.
    let mut ids = Vec::new();
    let mut path = format!("{}?match[type]=indicator&limit=10", objects_path(SHARED));
    let mut pages = 0;
    loop {
        let r = hub.taxii_get(&path, Some(&other));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.header("X-TAXII-Date-Added-First").is_some());
        assert!(r.header("X-TAXII-Date-Added-Last").is_some());
        let env = r.json();
        pages += 1;
        for o in env["objects"].as_array().unwrap() {
            ids.push(o["id"].as_str().unwrap().to_string());
        }
        if env["more"] == true {
            path = format!(
                "{}?match[type]=indicator&limit=10&next={}",
                objects_path(SHARED),
                env["next"].as_str().unwrap()
            );
        } else {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 26, "25 + indicator 99, one version each");
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 26);

    // match[id] + match[version]
    let id0 = "indicator--20000000-0000-4000-8000-000000000000";
    let r = hub.taxii_get(
        &format!(
            "{}?match[id]={id0}&match[version]=all",
            objects_path(SHARED)
        ),
        Some(&other),
    );
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 3);
    let r = hub.taxii_get(
        &format!(
            "{}?match[id]={id0}&match[version]=first",
            objects_path(SHARED)
        ),
        Some(&other),
    );
    assert_eq!(
        r.json()["objects"][0]["modified"],
        "2026-01-01T00:00:00.000Z"
    );
    let r = hub.taxii_get(
        &format!(
            "{}?match[id]={id0}&match[version]=2026-02-01T00:00:00Z",
            objects_path(SHARED)
        ),
        Some(&other),
    );
    assert_eq!(
        r.json()["objects"][0]["modified"],
        "2026-02-01T00:00:00.000Z"
    );
    let r = hub.taxii_get(
        &format!("{}?match[spec_version]=2.0", objects_path(SHARED)),
        Some(&other),
    );
    assert!(r.json().get("objects").is_none());
    // added_after from the header of a page.
    let r = hub.taxii_get(
        &format!("{}?match[type]=indicator&limit=5", objects_path(SHARED)),
        Some(&other),
    );
    let last = r.header("X-TAXII-Date-Added-Last").unwrap().to_string();
    let r = hub.taxii_get(
        &format!(
            "{}?match[type]=indicator&added_after={last}",
            objects_path(SHARED)
        ),
        Some(&other),
    );
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 21);

    // Single object, versions, manifest.
    let r = hub.taxii_get(&format!("{}{id0}/", objects_path(SHARED)), Some(&other));
    assert_eq!(
        r.json()["objects"][0]["modified"],
        "2026-03-01T00:00:00.000Z"
    );
    let r = hub.taxii_get(
        &format!("/taxii2/hub/collections/{SHARED}/objects/{id0}/versions/"),
        Some(&other),
    );
    assert_eq!(
        r.json()["versions"],
        json!([
            "2026-01-01T00:00:00.000000Z",
            "2026-02-01T00:00:00.000000Z",
            "2026-03-01T00:00:00.000000Z"
        ])
    );
    let r = hub.taxii_get(
        &format!("/taxii2/hub/collections/{SHARED}/manifest/?match[id]={id0}&match[version]=all"),
        Some(&other),
    );
    let m = r.json();
    assert_eq!(m["objects"].as_array().unwrap().len(), 3);
    assert_eq!(
        m["objects"][0]["media_type"],
        "application/stix+json;version=2.1"
    );
    assert!(m["objects"][0]["date_added"].is_string());

    // Delete: not by another organization; by the owner, one version then all.
    let one = format!("{}{id0}/", objects_path(SHARED));
    assert_eq!(
        hub.call("DELETE", &one, Some(&other), &[("Accept", TAXII)], None)
            .status,
        404
    );
    let r = hub.call(
        "DELETE",
        &format!("{one}?match[version]=2026-03-01T00:00:00Z"),
        Some(&member),
        &[("Accept", TAXII)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = hub.taxii_get(&one, Some(&other));
    assert_eq!(
        r.json()["objects"][0]["modified"],
        "2026-02-01T00:00:00.000Z"
    );
    assert_eq!(
        hub.call("DELETE", &one, Some(&member), &[("Accept", TAXII)], None)
            .status,
        200
    );
    assert_eq!(hub.taxii_get(&one, Some(&other)).status, 404);
}

#[test]
fn write_rules_are_enforced_per_object() {
    let hub = Hub::start();
    let (org, member) = hub.member("Local government", "local-government");
    let (_, other) = hub.member("Other", "private");
    let mut forged = indicator(1, "2026-01-01T00:00:00.000Z");
    forged["created_by_ref"] = json!(hub.coordinator_identity);
    let mut red = indicator(2, "2026-01-01T00:00:00.000Z");
    red["object_marking_refs"] =
        json!(["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]);
    let mut invalid = indicator(3, "2026-01-01T00:00:00.000Z");
    invalid.as_object_mut().unwrap().remove("pattern");
    let ok = indicator(4, "2026-01-01T00:00:00.000Z");
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &member,
        &envelope(vec![forged, red, invalid, ok]),
    );
    let st = r.json();
    assert_eq!(
        (st["success_count"].as_u64(), st["failure_count"].as_u64()),
        (Some(1), Some(3)),
        "{st}"
    );
    let msgs: Vec<String> = st["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        msgs[0].contains("objects[0]") && msgs[0].contains(org["identity_id"].as_str().unwrap()),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("objects[1]") && msgs[1].contains("RED"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].contains("objects[2].pattern: required property is missing"),
        "{msgs:?}"
    );

    // Only the owner adds versions.
    let r = hub.taxii_post(
        &objects_path(SHARED),
        &other,
        &envelope(vec![indicator(4, "2026-05-01T00:00:00.000Z")]),
    );
    assert_eq!(r.json()["failure_count"], 1);
    // Members may not write the coordinator's warnings collection.
    let r = hub.taxii_post(
        &objects_path("7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38"),
        &member,
        &envelope(vec![indicator(5, "2026-01-01T00:00:00.000Z")]),
    );
    assert_eq!(r.status, 403);
    // The public collection takes only TLP:CLEAR.
    let r = hub.taxii_post(
        &objects_path("c3a8f5d2-6e1b-4c9a-8f7d-2b4e6a1c9d05"),
        &hub.admin,
        &envelope(vec![indicator(6, "2026-01-01T00:00:00.000Z")]),
    );
    assert_eq!(r.json()["failure_count"], 1);
    assert!(r.body.contains("TLP:CLEAR"));
}

#[test]
fn unmarked_objects_get_the_default_tlp() {
    let hub = Hub::start();
    let (_, member) = hub.member("Reporter", "private");
    let (_, other) = hub.member("Bystander", "private");
    let mut unmarked = indicator(7, "2026-01-01T00:00:00.000Z");
    unmarked
        .as_object_mut()
        .unwrap()
        .remove("object_marking_refs");
    let r = hub.taxii_post(&objects_path(SHARED), &member, &envelope(vec![unmarked]));
    assert_eq!(r.json()["success_count"], 1);
    let path = format!(
        "{}indicator--20000000-0000-4000-8000-000000000007/",
        objects_path(SHARED)
    );
    assert_eq!(hub.taxii_get(&path, Some(&member)).status, 200);
    assert_eq!(
        hub.taxii_get(&path, Some(&other)).status,
        404,
        "AMBER by default: other members do not see it"
    );
    assert_eq!(
        hub.taxii_get(&path, Some(&hub.admin)).status,
        200,
        "AMBER without audience: the coordinator sees it"
    );
}

/// An SCO's id comes from its value, so two members sharing one address is not a
/// conflict: each shares it under its own handling, neither learns that the other
/// holds it, and each reader sees the copies the rule lets it see.
#[test]
fn members_share_the_same_observable_each_under_its_own_handling() {
    const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    const EXT: &str = "extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd";
    let hub = Hub::start();
    let (a, ta) = hub.member("A", "government");
    let (_, tb) = hub.member("B", "government");
    let (_, tc) = hub.member("C", "government");
    let id = "ipv4-addr--f2d1a0c4-5b3e-5c6d-8e7f-0a1b2c3d4e5f";
    let red = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "198.51.100.7",
        "object_marking_refs": [RED],
        "extensions": {EXT: {"extension_type": "property-extension", "audience": [a["identity_id"]]}}});
    let green = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "198.51.100.7",
        "object_marking_refs": [GREEN]});
    let r = hub.taxii_post(&objects_path(SHARED), &ta, &envelope(vec![red]));
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let r = hub.taxii_post(&objects_path(SHARED), &tb, &envelope(vec![green.clone()]));
    assert_eq!(
        r.json()["success_count"],
        1,
        "B's share was refused because A holds the value: {}",
        r.body
    );
    assert!(!r.body.contains("owner"), "{}", r.body);
    // B again: a duplicate of its own, not a refusal.
    let r = hub.taxii_post(&objects_path(SHARED), &tb, &envelope(vec![green]));
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let read = |t: &str| {
        let r = hub.taxii_get(&format!("{}{id}/", objects_path(SHARED)), Some(t));
        if r.status == 404 {
            return Vec::new();
        }
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["object_marking_refs"][0].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut seen_a = read(&ta);
    seen_a.sort();
    assert_eq!(seen_a, vec![GREEN.to_string(), RED.to_string()]);
    assert_eq!(
        read(&tb),
        vec![GREEN.to_string()],
        "B never sees A's RED copy"
    );
    assert_eq!(read(&tc), vec![GREEN.to_string()]);
    // B deletes its copy; A's stays.
    let r = hub.request(
        "DELETE",
        &format!("{}{id}/", objects_path(SHARED)),
        Some(&tb),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(read(&tc).is_empty());
    assert_eq!(read(&ta), vec![RED.to_string()]);
}
