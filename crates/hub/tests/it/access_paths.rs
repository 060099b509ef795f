//! The access rule over every read path of the server: for random objects and every
//! organization, TAXII objects, single object, manifest, versions and the REST object
//! read show exactly what DESIGN.md's table allows.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::{objects_path, Hub, SHARED, TLPS};

struct Org {
    id: String,
    identity: String,
    kind: String,
    token: String,
}

fn visible(
    reader: &Org,
    owner: &str,
    tlp: &str,
    audience: &[String],
    communities: &[(String, Vec<String>)],
) -> bool {
    if reader.id == owner {
        return true;
    }
    let named = audience.iter().any(|a| {
        *a == reader.identity
            || communities
                .iter()
                .any(|(c, m)| c == a && m.contains(&reader.id))
    });
    let peer = reader.kind == "peer-hub";
    let coord = reader.kind == "coordinator";
    match tlp {
        "clear" => true,
        "green" => !peer,
        "amber" => named || (coord && audience.is_empty()),
        "amber+strict" => !peer && (named || (coord && audience.is_empty())),
        _ => !peer && named,
    }
}

#[test]
fn every_read_path_follows_the_rule() {
    let hub = Hub::start();
    let me = hub.rest("GET", "/api/v1/whoami", &hub.admin, None).json();
    let mut orgs = vec![Org {
        id: me["organization"]["id"].as_str().unwrap().into(),
        identity: me["organization"]["identity_id"].as_str().unwrap().into(),
        kind: "coordinator".into(),
        token: hub.admin.clone(),
    }];
    for (i, kind) in [
        "government",
        "private",
        "private",
        "law-enforcement",
        "peer-hub",
    ]
    .iter()
    .enumerate()
    {
        let (o, t) = hub.member(&format!("org {i}"), kind);
        orgs.push(Org {
            id: o["id"].as_str().unwrap().into(),
            identity: o["identity_id"].as_str().unwrap().into(),
            kind: kind.to_string(),
            token: t,
        });
    }
    // The peer hub may write to the shared collection through a grant.
    let r = hub.rest(
        "POST",
        "/api/v1/collections",
        &hub.admin,
        Some(json!({"title": "x", "read_policy": "members", "write_policy": "members"})),
    );
    assert_eq!(r.status, 201);
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "c", "members": [orgs[2].id, orgs[5].id]})),
    );
    let communities = vec![(
        r.json()["identity_id"].as_str().unwrap().to_string(),
        vec![orgs[2].id.clone(), orgs[5].id.clone()],
    )];

    let mut seed = 0x9e37_79b9_u64;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let pool: Vec<String> = orgs
        .iter()
        .map(|o| o.identity.clone())
        .chain(communities.iter().map(|c| c.0.clone()))
        .collect();
    let mut expected: Vec<(String, String, &str, Vec<String>)> = Vec::new();
    for n in 0..60u32 {
        let owner = &orgs[rnd(5)]; // peer hubs do not write to members' collections
        let (tlp, marking) = TLPS[rnd(5)];
        let mut audience: Vec<String> =
            (0..rnd(3)).map(|_| pool[rnd(pool.len())].clone()).collect();
        audience.dedup();
        if tlp == "red" && audience.is_empty() {
            audience.push(pool[rnd(pool.len())].clone());
        }
        let id = format!("indicator--30000000-0000-4000-8000-{n:012}");
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[url:value = 'http://example.com/x']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": [marking]
        });
        if !audience.is_empty() {
            o["extensions"] = json!({"extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd": {"extension_type": "property-extension", "audience": audience}});
        }
        let r = hub.taxii_post(
            &objects_path(SHARED),
            &owner.token,
            &json!({"objects": [o]}),
        );
        assert_eq!(r.json()["success_count"], 1, "{}", r.body);
        expected.push((id, owner.id.clone(), tlp, audience));
    }

    for reader in &orgs {
        let want: BTreeSet<String> = expected
            .iter()
            .filter(|(_, owner, tlp, aud)| visible(reader, owner, tlp, aud, &communities))
            .map(|e| e.0.clone())
            .collect();
        let ids_of = |v: &Value| -> BTreeSet<String> {
            v["objects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| o["id"].as_str().unwrap().to_string())
                        .filter(|i| i.starts_with("indicator--3"))
                        .collect()
                })
                .unwrap_or_default()
        };
        if reader.kind == "peer-hub" {
            // Peer hubs have no read access to members' collections at all.
            assert_eq!(
                hub.taxii_get(&objects_path(SHARED), Some(&reader.token))
                    .status,
                404
            );
            continue;
        }
        let objs = ids_of(
            &hub.taxii_get(
                &format!("{}?limit=10000", objects_path(SHARED)),
                Some(&reader.token),
            )
            .json(),
        );
        assert_eq!(objs, want, "objects for {}", reader.kind);
        let manifest = ids_of(
            &hub.taxii_get(
                &format!("/taxii2/hub/collections/{SHARED}/manifest/?limit=10000"),
                Some(&reader.token),
            )
            .json(),
        );
        assert_eq!(manifest, want, "manifest for {}", reader.kind);
        for (id, ..) in expected.iter().take(20) {
            let single = hub
                .taxii_get(
                    &format!("{}{id}/", objects_path(SHARED)),
                    Some(&reader.token),
                )
                .status;
            let versions = hub
                .taxii_get(
                    &format!("/taxii2/hub/collections/{SHARED}/objects/{id}/versions/"),
                    Some(&reader.token),
                )
                .status;
            let rest = hub
                .rest("GET", &format!("/api/v1/objects/{id}"), &reader.token, None)
                .status;
            let expect = if want.contains(id) { 200 } else { 404 };
            assert_eq!(
                (single, versions, rest),
                (expect, expect, expect),
                "{id} for {}",
                reader.kind
            );
        }
    }
}
