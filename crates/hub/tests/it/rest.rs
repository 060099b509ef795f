use serde_json::json;

use crate::Hub;

#[test]
fn organizations_tokens_communities() {
    let hub = Hub::start();
    let (org, member) = hub.member("Prefecture", "local-government");
    assert!(org["identity_id"]
        .as_str()
        .unwrap()
        .starts_with("identity--"));
    assert_eq!(org["kind"], "local-government");

    // Only admins manage.
    let r = hub.rest(
        "POST",
        "/api/v1/organizations",
        &member,
        Some(json!({"name": "X", "kind": "private"})),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    let r = hub.call(
        "POST",
        "/api/v1/organizations",
        None,
        &[("Content-Type", "application/json")],
        Some("{}"),
    );
    assert_eq!(r.status, 401);

    let r = hub.rest("GET", "/api/v1/organizations", &member, None);
    assert_eq!(r.json()["organizations"].as_array().unwrap().len(), 2);
    let r = hub.rest("GET", "/api/v1/whoami", &member, None);
    assert_eq!(r.json()["role"], "member");

    // Tokens: listed without secrets, revocable at once.
    let oid = org["id"].as_str().unwrap();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{oid}/tokens"),
        &hub.admin,
        Some(json!({"role": "read-only", "label": "feed"})),
    );
    assert_eq!(r.status, 201);
    let ro = r.json()["token"].as_str().unwrap().to_string();
    let ro_id = r.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "GET",
        &format!("/api/v1/organizations/{oid}/tokens"),
        &hub.admin,
        None,
    );
    assert_eq!(r.json()["tokens"].as_array().unwrap().len(), 2);
    assert!(!r.body.contains(&ro), "secrets are never listed");
    assert!(!r.body.contains("hnm_"));
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{oid}/tokens"),
        &hub.admin,
        Some(json!({"role": "admin"})),
    );
    assert_eq!(r.status, 400, "admin tokens only for the coordinator");
    assert_eq!(hub.rest("GET", "/api/v1/whoami", &ro, None).status, 200);
    // A read-only token is refused before its body is read: 403, whatever the body.
    for (method, path) in [
        ("PUT", "/api/v1/subscription"),
        ("POST", "/api/v1/subscription/webhooks"),
        ("POST", "/api/v1/subscription/contacts"),
        ("PUT", "/api/v1/inventories/site"),
        ("POST", "/api/v1/observations"),
        ("POST", "/api/v1/warnings"),
        ("POST", "/api/v1/advisories"),
    ] {
        let r = hub.call(
            method,
            path,
            Some(&ro),
            &[("Content-Type", "application/json")],
            Some("{not json"),
        );
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
    assert_eq!(
        hub.rest(
            "DELETE",
            &format!("/api/v1/tokens/{ro_id}"),
            &hub.admin,
            None
        )
        .status,
        204
    );
    assert_eq!(hub.rest("GET", "/api/v1/whoami", &ro, None).status, 401);

    // Communities.
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "Energy ISAC", "members": [oid]})),
    );
    assert_eq!(r.status, 201);
    let cid = r.json()["identity_id"].as_str().unwrap().to_string();
    let r = hub.rest("GET", "/api/v1/whoami", &member, None);
    assert!(r.json()["audience_keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == &json!(cid)));
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "Bad", "members": ["nope"]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("members[0]"));

    // The audit log saw all of it and its chain is intact.
    let r = hub.rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None);
    let actions: Vec<String> = r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "organization.create",
        "token.create",
        "token.revoke",
        "community.create",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert_eq!(
        hub.rest("GET", "/api/v1/audit/verify", &hub.admin, None)
            .json()["intact"],
        true
    );
    assert_eq!(hub.rest("GET", "/api/v1/audit", &member, None).status, 403);
}

#[test]
fn openapi_health_metrics() {
    let hub = Hub::start();
    let r = hub.call("GET", "/api/v1/openapi.json", None, &[], None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/organizations",
        "/api/v1/organizations/{id}/tokens",
        "/api/v1/communities",
        "/api/v1/collections",
        "/api/v1/tokens/{id}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    // Every REST route the router declares is documented.
    let routes = [
        include_str!("../../src/front/rest/mod.rs"),
        include_str!("../../src/front/stream.rs"),
    ]
    .concat();
    let mut n = 0;
    for part in routes.split("\"/api/v1/").skip(1) {
        let path = format!("/api/v1/{}", part.split('"').next().unwrap());
        assert!(
            doc["paths"].get(&path).is_some(),
            "{path} is not in openapi.json"
        );
        n += 1;
    }
    assert!(n >= 30, "found {n} routes");
    let r = hub.call("GET", "/healthz", None, &[], None);
    assert_eq!(r.json()["status"], "ok");
    assert!(r.header("x-request-id").is_some());
    let (_, member) = hub.member("M", "isac");
    let env = crate::envelope(vec![crate::indicator(1, "2026-01-01T00:00:00.000Z")]);
    hub.taxii_post(&crate::objects_path(crate::SHARED), &member, &env);
    // Metrics name peers and count per TLP: a coordinator token reads them.
    let r = hub.call("GET", "/metrics", None, &[], None);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = hub.request("GET", "/metrics", Some(&member), None);
    assert_eq!(r.status, 403, "{}", r.body);
    let m = hub.request("GET", "/metrics", Some(&hub.admin), None).body;
    assert!(
        m.contains("hinomi_objects_ingested_total{tlp=\"TLP:GREEN\"} 1"),
        "{m}"
    );
    assert!(m.contains("hinomi_http_requests_total{class=\"2xx\"}"));
    assert!(!m.contains("hnm_"), "no secrets in metrics");
}

#[test]
fn provider_tree_is_served_without_traversal() {
    let dir = std::env::temp_dir().join(format!(
        "hinomi-wellknown-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(dir.join("2024")).unwrap();
    std::fs::write(
        dir.join("provider-metadata.json"),
        "{\"role\":\"csaf_trusted_provider\"}",
    )
    .unwrap();
    std::fs::write(dir.join("2024/x.json"), "{}").unwrap();
    std::fs::write(dir.parent().unwrap().join("secret.txt"), "no").unwrap();
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        provider_dir: Some(dir.clone()),
        ..crate::lab_config()
    });
    let r = hub.call(
        "GET",
        "/.well-known/csaf/provider-metadata.json",
        None,
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.json()["role"], "csaf_trusted_provider");
    assert_eq!(
        hub.call("GET", "/.well-known/csaf/2024/x.json", None, &[], None)
            .status,
        200
    );
    assert_eq!(
        hub.call("GET", "/.well-known/csaf/../secret.txt", None, &[], None)
            .status,
        404
    );
    assert_eq!(
        hub.call(
            "GET",
            "/.well-known/csaf/%2e%2e/secret.txt",
            None,
            &[],
            None
        )
        .status,
        404
    );
    assert_eq!(
        hub.call("GET", "/.well-known/csaf/nope.json", None, &[], None)
            .status,
        404
    );
}
