//! Inventories and findings end to end: an inventory with a known-affected, a fixed and
//! a not-covered component gives exactly those findings; a new advisory re-matches;
//! inventories and findings stay with their organization and the coordinator.

use serde_json::{json, Value};

use crate::Hub;

pub fn shared(rel: &str) -> Value {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn inventory() -> Value {
    json!({"components": [
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.1.0"},
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.2"},
        {"name": "Some Other Product", "vendor": "Schneider Electric", "version": "1.0"}
    ]})
}

fn findings(hub: &Hub, token: &str, q: &str) -> Vec<Value> {
    let r = hub.rest("GET", &format!("/api/v1/findings{q}"), token, None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["findings"].as_array().unwrap().clone()
}

#[test]
fn inventory_matching_end_to_end() {
    let hub = Hub::start();
    let (org, m) = hub.member("Data centre operator", "private");
    let (_, other) = hub.member("Other", "private");

    // Inventory first, advisory later: the advisory re-matches every inventory.
    let r = hub.rest("PUT", "/api/v1/inventories/dc-east", &m, Some(inventory()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["components"], 3);
    assert!(findings(&hub, &m, "").is_empty());
    let r = hub.rest(
        "POST",
        "/api/v1/advisories",
        &hub.admin,
        Some(shared("csaf/cisa-sample/icsa-24-289-02.json")),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let f = findings(&hub, &m, "");
    let mut got: Vec<(i64, String, String)> = f
        .iter()
        .map(|x| {
            (
                x["component_index"].as_i64().unwrap(),
                x["vulnerability"].as_str().unwrap().to_string(),
                x["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, "CVE-2024-8530".into(), "affected".into()),
            (0, "CVE-2024-8531".into(), "affected".into()),
            (1, "CVE-2024-8530".into(), "fixed".into()),
            (1, "CVE-2024-8531".into(), "fixed".into()),
        ],
        "{f:?}"
    );
    assert_eq!(f[0]["max_cvss"], 7.2, "most severe first");
    assert_eq!(f[0]["tracking_id"], "ICSA-24-289-02");

    // Re-uploading the same inventory raises nothing new.
    let r = hub.rest("PUT", "/api/v1/inventories/dc-east", &m, Some(inventory()));
    assert_eq!(r.json()["new_findings"].as_array().unwrap().len(), 0);

    // Only the organization and the coordinator see its inventory and findings.
    assert!(findings(&hub, &other, "").is_empty());
    assert_eq!(
        hub.rest(
            "GET",
            &format!(
                "/api/v1/findings?organization={}",
                org["id"].as_str().unwrap()
            ),
            &other,
            None
        )
        .status,
        403
    );
    assert_eq!(
        findings(
            &hub,
            &hub.admin,
            &format!("?organization={}", org["id"].as_str().unwrap())
        )
        .len(),
        4
    );
    let r = hub.rest("GET", "/api/v1/inventories", &other, None);
    assert!(r.json()["inventories"].as_array().unwrap().is_empty());
    let r = hub.rest("GET", "/api/v1/findings/summary", &hub.admin, None);
    assert_eq!(r.json()["advisories"][0]["organizations_affected"], 1);
    assert_eq!(
        hub.rest("GET", "/api/v1/findings/summary", &m, None).status,
        403
    );

    // Bad inventories are refused with the path; deleting removes the findings.
    let r = hub.rest(
        "PUT",
        "/api/v1/inventories/bad",
        &m,
        Some(json!({"components": [{"version": "1"}]})),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("components[0]"), "{}", r.body);
    assert_eq!(
        hub.rest("DELETE", "/api/v1/inventories/dc-east", &m, None)
            .status,
        204
    );
    assert!(findings(&hub, &m, "").is_empty());
}
