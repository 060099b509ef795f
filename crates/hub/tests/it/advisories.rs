//! CSAF advisories through the REST API: validation, revisions, search, TLP, and the
//! known-exploited catalog. Documents are read in place from ../shared.

use serde_json::{json, Value};

use crate::Hub;

fn shared(rel: &str) -> Value {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn advisories_validate_store_search_and_follow_tlp() {
    let hub = Hub::start();
    let (xo, x) = hub.member("Vendor CERT X", "private");
    let (_, y) = hub.member("Ministry Y", "government");
    bind(&hub, "https://www.cisa.gov/", xo["id"].as_str().unwrap());

    let doc = shared("csaf/cisa-sample/icsa-24-289-02.json");
    let r = hub.rest("POST", "/api/v1/advisories", &x, Some(doc.clone()));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["tracking_id"], "ICSA-24-289-02");
    assert_eq!(v["tlp"], "TLP:CLEAR", "CSAF's TLP 1.0 WHITE is CLEAR");
    assert_eq!(v["cves"], json!(["CVE-2024-8531", "CVE-2024-8530"]));
    // The same revision again changes nothing; another organization cannot revise it.
    let r = hub.rest("POST", "/api/v1/advisories", &x, Some(doc.clone()));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("already stored"));
    let r = hub.rest("POST", "/api/v1/advisories", &y, Some(doc.clone()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("bound to another organization"),
        "{}",
        r.body
    );

    // An AMBER copy under another tracking id: X and the coordinator see it, Y does not.
    let mut amber = doc.clone();
    amber["document"]["tracking"]["id"] = json!("HINOMI-TEST-0001");
    amber["document"]["distribution"]["tlp"]["label"] = json!("AMBER");
    assert_eq!(
        hub.rest("POST", "/api/v1/advisories", &x, Some(amber))
            .status,
        201
    );
    let ids = |token: &str, q: &str| -> Vec<String> {
        let r = hub.rest("GET", &format!("/api/v1/advisories{q}"), token, None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["tracking_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&x, "").len(), 2);
    assert_eq!(ids(&hub.admin, "").len(), 2);
    assert_eq!(ids(&y, ""), vec!["ICSA-24-289-02"]);
    assert_eq!(
        hub.rest("GET", "/api/v1/advisories/HINOMI-TEST-0001", &y, None)
            .status,
        404
    );
    let r = hub.rest("GET", "/api/v1/advisories/HINOMI-TEST-0001", &x, None);
    assert_eq!(r.json()["document"]["tracking"]["id"], "HINOMI-TEST-0001");
    // The public reads CLEAR advisories without credentials.
    let r = hub.call("GET", "/api/v1/advisories", None, &[], None);
    assert_eq!(r.json()["advisories"].as_array().unwrap().len(), 1);

    // Search.
    assert_eq!(ids(&y, "?cve=CVE-2024-8530"), vec!["ICSA-24-289-02"]);
    assert!(ids(&y, "?cve=CVE-1999-0001").is_empty());
    let vendor = doc["product_tree"]["branches"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ids(&y, &format!("?vendor={}", &vendor[..3])).len(), 1);
    assert!(ids(&y, "?vendor=nosuchvendor").is_empty());
    assert_eq!(ids(&y, "?severity=low").len(), 1);
    assert!(ids(&y, "?released_after=2030-01-01T00:00:00Z").is_empty());
    let r = hub.rest("GET", "/api/v1/advisories?severity=extreme", &y, None);
    assert_eq!(r.status, 400);
    let r = hub.rest("GET", "/api/v1/advisories?colour=red", &y, None);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("colour"));

    // Invalid documents are refused with the validator's findings.
    let bad = shared("csaf/oasis-csaf-2.0-tests/test/validator/data/mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-01-01.json");
    let r = hub.rest("POST", "/api/v1/advisories", &hub.admin, Some(bad));
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["error"]["code"], "unprocessable");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["test"] == "6.1.1"),
        "{v}"
    );
}

/// Binds a publisher namespace to an organization, as the coordinator.
fn bind(hub: &Hub, namespace: &str, org: &str) {
    let r = hub.rest(
        "PUT",
        "/api/v1/publishers",
        &hub.admin,
        Some(json!({"namespace": namespace, "organization": org})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A member cannot speak as a publisher it is not: advisories under a namespace bound
/// to another organization, or bound to none, are refused before they are stored, so
/// the real publisher's advisory still arrives and nothing is computed from a fake.
#[test]
fn members_submit_advisories_only_under_their_own_publisher_namespace() {
    let hub = Hub::start();
    let (vendor, v) = hub.member("Cisco PSIRT", "private");
    let (_, m) = hub.member("Mallory Ltd", "private");
    let mut fake = shared("csaf/cisa-sample/icsa-24-289-02.json");
    fake["document"]["publisher"]["name"] = json!("Cisco PSIRT");
    fake["document"]["publisher"]["namespace"] = json!("https://www.cisco.com");
    fake["document"]["tracking"]["id"] = json!("cisco-sa-fake-2026");
    // Unbound: refused for members, with the way out named.
    let r = hub.rest("POST", "/api/v1/advisories", &m, Some(fake.clone()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("/document/publisher/namespace"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("https://www.cisco.com is not bound"),
        "{}",
        r.body
    );
    // Bound to the vendor (the form differs: case and trailing slash do not matter).
    bind(
        &hub,
        "HTTPS://WWW.CISCO.COM/",
        vendor["id"].as_str().unwrap(),
    );
    let r = hub.rest("POST", "/api/v1/advisories", &m, Some(fake.clone()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("bound to another organization"),
        "{}",
        r.body
    );
    // Nothing of the fake is stored: the public and the vendor see no such advisory.
    let r = hub.call("GET", "/api/v1/advisories", None, &[], None);
    assert!(!r.body.contains("cisco-sa-fake-2026"), "{}", r.body);
    let r = hub.rest("POST", "/api/v1/advisories", &v, Some(fake.clone()));
    assert_eq!(
        r.status, 201,
        "the vendor submits under its namespace: {}",
        r.body
    );
    // Another spelling of the vendor's namespace is the same namespace.
    let mut spelled = fake.clone();
    spelled["document"]["publisher"]["namespace"] = json!("http://WWW.Cisco.com.:80/");
    spelled["document"]["tracking"]["id"] = json!("cisco-sa-spelled-2026");
    let r = hub.rest("POST", "/api/v1/advisories", &m, Some(spelled));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("bound to another organization"),
        "{}",
        r.body
    );
    // Under its own namespace, Mallory still may not take the vendor's publisher name.
    bind(&hub, "https://mallory.example", "Mallory Ltd");
    let mut named = fake.clone();
    named["document"]["publisher"]["namespace"] = json!("https://mallory.example");
    named["document"]["tracking"]["id"] = json!("cisco-sa-named-2026");
    let r = hub.rest("POST", "/api/v1/advisories", &m, Some(named.clone()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("/document/publisher/name"), "{}", r.body);
    named["document"]["publisher"]["name"] = json!("Mallory PSIRT");
    let r = hub.rest("POST", "/api/v1/advisories", &m, Some(named));
    assert_eq!(r.status, 201, "its own name, its own namespace: {}", r.body);
    // The coordinator imports under any namespace.
    let mut other = fake.clone();
    other["document"]["tracking"]["id"] = json!("cisco-sa-import-2026");
    let r = hub.rest("POST", "/api/v1/advisories", &hub.admin, Some(other));
    assert_eq!(r.status, 201, "{}", r.body);
    // The bindings: the coordinator lists and removes them; members may not.
    let r = hub.rest("GET", "/api/v1/publishers", &hub.admin, None);
    assert_eq!(
        r.json()["publishers"][0]["namespace"],
        "https://mallory.example"
    );
    assert_eq!(
        r.json()["publishers"][1]["namespace"],
        "https://www.cisco.com"
    );
    assert_eq!(
        r.json()["publishers"][1]["organization_name"],
        "Cisco PSIRT"
    );
    assert_eq!(hub.rest("GET", "/api/v1/publishers", &m, None).status, 403);
    let r = hub.rest(
        "PUT",
        "/api/v1/publishers",
        &m,
        Some(json!({"namespace": "https://other.example", "organization": "Mallory Ltd"})),
    );
    assert_eq!(r.status, 403);
    for (body, needle) in [
        (
            json!({"namespace": "ftp://x", "organization": "Mallory Ltd"}),
            "namespace",
        ),
        (
            json!({"namespace": "https://user@x.example", "organization": "Mallory Ltd"}),
            "credentials",
        ),
        (
            json!({"namespace": "https://x.example/?a=1", "organization": "Mallory Ltd"}),
            "query",
        ),
        (
            json!({"namespace": "https://x.example", "organization": "Nobody"}),
            "organization",
        ),
        (json!({"namespace": "https://x.example"}), "organization"),
    ] {
        let r = hub.rest("PUT", "/api/v1/publishers", &hub.admin, Some(body.clone()));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains(needle), "{body}: {}", r.body);
    }
    let r = hub.rest(
        "DELETE",
        "/api/v1/publishers?namespace=https%3A%2F%2Fwww.cisco.com",
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = hub.rest("POST", "/api/v1/advisories", &v, Some(fake));
    assert_eq!(r.status, 403, "unbound again: {}", r.body);
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .body;
    assert!(audit.contains("publisher.bind") && audit.contains("publisher.unbind"));
}

#[test]
fn known_exploited_catalog_is_idempotent_and_flags_advisories() {
    let hub = Hub::start();
    let (xo, x) = hub.member("CERT", "government");
    bind(&hub, "https://www.cisa.gov", xo["id"].as_str().unwrap());
    let kev = shared("vuln/kev/known_exploited_vulnerabilities.json");
    let n = kev["vulnerabilities"].as_array().unwrap().len() as u64;
    let r = hub.rest("POST", "/api/v1/kev", &hub.admin, Some(kev.clone()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["added"], n);
    let r = hub.rest("POST", "/api/v1/kev", &hub.admin, Some(kev));
    assert_eq!(
        (r.json()["added"].as_u64(), r.json()["unchanged"].as_u64()),
        (Some(0), Some(n))
    );
    assert_eq!(
        hub.rest("POST", "/api/v1/kev", &x, Some(json!({}))).status,
        403
    );
    assert_eq!(
        hub.rest(
            "POST",
            "/api/v1/kev",
            &hub.admin,
            Some(json!({"vulnerabilities": [{"cveID": "nope"}]}))
        )
        .status,
        422
    );

    let r = hub.rest(
        "POST",
        "/api/v1/advisories",
        &x,
        Some(shared("csaf/cisa-sample/icsa-24-046-11.json")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["known_exploited"], json!(["CVE-2022-2586"]));
    let r = hub.rest("GET", "/api/v1/advisories?cve=CVE-2022-2586", &x, None);
    assert_eq!(
        r.json()["advisories"][0]["known_exploited"],
        json!(["CVE-2022-2586"])
    );
}
