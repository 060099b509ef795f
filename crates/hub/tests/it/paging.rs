//! Keyset paging of the REST lists (warnings, organizations, inventories, findings):
//! following `next` visits every item the caller may see exactly once, in the list's
//! order, and a page never holds what the caller may not see.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::findings::shared;
use crate::Hub;

/// Every item of a list, page by page (`limit` per page); the pages' sizes.
fn walk(
    hub: &Hub,
    token: &str,
    path: &str,
    key: &str,
    cursor: &str,
    limit: usize,
) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut next: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(n) = &next {
            url.push_str(&format!("&{cursor}={}", urlencode(n)));
        }
        let r = hub.rest("GET", &url, token, None);
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let v = r.json();
        let page = v[key].as_array().unwrap().clone();
        assert!(page.len() <= limit, "{url}: {} items", page.len());
        sizes.push(page.len());
        items.extend(page);
        match v["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => return (items, sizes),
        }
    }
    panic!("{path}: more than 100 pages");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn warning(title: &str, orgs: &[&str]) -> Value {
    json!({"title": {"en": title}, "summary": {"en": "s"}, "severity": "low", "tlp": "amber",
        "audience": {"organizations": orgs}})
}

#[test]
fn lists_page_by_keyset_without_gaps_repeats_or_leaks() {
    let hub = Hub::start();
    let (a, ta) = hub.member("Paging A", "private");
    let (b, _tb) = hub.member("Paging B", "private");
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    // Nine warnings: five to A, four to B; all published.
    let mut to_a = BTreeSet::new();
    for i in 0..9 {
        let to = if i % 2 == 0 { a_id } else { b_id };
        let r = hub.rest(
            "POST",
            "/api/v1/warnings",
            &hub.admin,
            Some(warning(&format!("w{i}"), &[to])),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r = hub.rest(
            "POST",
            &format!("/api/v1/warnings/{id}/publish"),
            &hub.admin,
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        if to == a_id {
            to_a.insert(id);
        }
    }
    let (all, sizes) = walk(
        &hub,
        &hub.admin,
        "/api/v1/warnings",
        "warnings",
        "before",
        4,
    );
    assert_eq!(all.len(), 9);
    assert_eq!(sizes, vec![4, 4, 1]);
    let ids: BTreeSet<&str> = all.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 9, "no warning twice");
    let updated: Vec<&str> = all.iter().map(|w| w["updated"].as_str().unwrap()).collect();
    let mut sorted = updated.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(updated, sorted, "newest change first");
    // A sees exactly its five, never B's, across pages.
    let (mine, _) = walk(&hub, &ta, "/api/v1/warnings", "warnings", "before", 2);
    let got: BTreeSet<String> = mine
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, to_a);
    let bad = hub.rest("GET", "/api/v1/warnings?before=nonsense", &ta, None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("before"), "{}", bad.body);

    // Organizations: the coordinator, A, B and three more.
    for i in 0..3 {
        hub.member(&format!("Paging extra {i}"), "government");
    }
    let (orgs, _) = walk(
        &hub,
        &hub.admin,
        "/api/v1/organizations",
        "organizations",
        "after",
        2,
    );
    let ids: BTreeSet<&str> = orgs.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(orgs.len(), 6);
    assert_eq!(ids.len(), 6);

    // Inventories and findings.
    let inventory = json!({"components": [
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.1.0"},
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.2"}
    ]});
    for asset in ["dc-1", "dc-2", "dc-3"] {
        let r = hub.rest(
            "PUT",
            &format!("/api/v1/inventories/{asset}"),
            &ta,
            Some(inventory.clone()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = hub.rest(
        "POST",
        "/api/v1/advisories",
        &hub.admin,
        Some(shared("csaf/cisa-sample/icsa-24-289-02.json")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (invs, sizes) = walk(&hub, &ta, "/api/v1/inventories", "inventories", "after", 2);
    let assets: Vec<&str> = invs.iter().map(|i| i["asset"].as_str().unwrap()).collect();
    assert_eq!(assets, vec!["dc-1", "dc-2", "dc-3"]);
    assert_eq!(sizes, vec![2, 1]);
    let whole = hub
        .rest("GET", "/api/v1/findings?limit=1000", &ta, None)
        .json();
    let whole = whole["findings"].as_array().unwrap().clone();
    assert_eq!(whole.len(), 12, "3 assets × 2 components × 2 CVEs");
    let (paged, _) = walk(&hub, &ta, "/api/v1/findings", "findings", "after", 5);
    assert_eq!(
        paged, whole,
        "pages of 5 give the same findings in the same order"
    );
    assert_eq!(paged[0]["max_cvss"], 7.2, "most severe first");
    let (coord, _) = walk(
        &hub,
        &hub.admin,
        "/api/v1/findings?all=true",
        "findings",
        "after",
        7,
    );
    assert_eq!(coord.len(), 12);
    let bad = hub.rest("GET", "/api/v1/findings?after=xyz", &ta, None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    let bad = hub.rest("GET", "/api/v1/findings?limit=0", &ta, None);
    assert_eq!(bad.status, 400, "{}", bad.body);
}
