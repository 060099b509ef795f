//! Federation across three hubs on loopback (US, JP, AU): sharing agreements, the leak
//! matrix across borders, no loops or duplicates under repeated syncs, anonymization,
//! corrections (new versions, revocations, deletions) and catch-up after a hub stops
//! in the middle of a sync.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use hinomi_hub::{HubConfig, TestServer};

use crate::{objects_path, Hub, SHARED, TAXII};

const FEDERATION: &str = "9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94";
const TOMBSTONES: &str = "e5b7d3a1-9c4f-4b2e-8a6d-3f1c0e9b7d52";
const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const EXT: &str = "extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd";

const KINDS: [&str; 8] = [
    "clear",
    "green",
    "amber",
    "amber-local",
    "amber-peer",
    "strict-peer",
    "red",
    "exercise",
];

struct Member {
    id: String,
    identity: String,
    token: String,
}

struct Country {
    name: &'static str,
    hub: Hub,
    members: Vec<Member>,
}

fn country(name: &'static str) -> Country {
    let config = HubConfig {
        federation: hinomi_hub::service::federation::FederationConfig {
            batch: 7,
            pull_interval: Duration::from_secs(3600),
            ..Default::default()
        },
        ..crate::lab_config()
    };
    let hub = Hub::start_with(config);
    let members = (0..2)
        .map(|i| {
            let (o, token) = hub.member(&format!("{name} member {i}"), "government");
            Member {
                id: o["id"].as_str().unwrap().into(),
                identity: o["identity_id"].as_str().unwrap().into(),
                token,
            }
        })
        .collect();
    Country { name, hub, members }
}

/// Registers `other` as a peer of `at`; returns (peer id, the token `other` uses at `at`).
fn register(at: &Country, other: &Country, direction: &str, agreement: Value) -> (String, String) {
    let mut body = json!({
        "name": other.name, "country": other.name, "identity_id": other.hub.coordinator_identity,
        "api_root": other.hub.url("/taxii2/hub/"), "direction": direction,
        "agreement": agreement,
    });
    if direction != "push" {
        body["pull_collections"] = json!([SHARED, TOMBSTONES]);
    }
    if direction != "pull" {
        body["push_collection"] = json!(FEDERATION);
    }
    let r = at
        .hub
        .rest("POST", "/api/v1/peers", &at.hub.admin, Some(body.clone()));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    (
        v["id"].as_str().unwrap().into(),
        v["token"].as_str().unwrap().into(),
    )
}

fn set_token(
    at: &Country,
    peer_id: &str,
    other: &Country,
    direction: &str,
    agreement: Value,
    token: &str,
) {
    let mut body = json!({
        "name": other.name, "country": other.name, "identity_id": other.hub.coordinator_identity,
        "api_root": other.hub.url("/taxii2/hub/"), "direction": direction,
        "agreement": agreement, "token": token,
    });
    if direction != "push" {
        body["pull_collections"] = json!([SHARED, TOMBSTONES]);
    }
    if direction != "pull" {
        body["push_collection"] = json!(FEDERATION);
    }
    let r = at.hub.rest(
        "PUT",
        &format!("/api/v1/peers/{peer_id}"),
        &at.hub.admin,
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains(token), "credentials are never shown");
}

/// Two hubs registered with each other under one agreement, each holding the token the
/// other issued for it.
struct Link {
    /// `b`'s peer id at `a`.
    b_at_a: String,
    /// `a`'s peer id at `b`.
    a_at_b: String,
    /// The token `a` uses at `b`.
    a_token: String,
    /// The token `b` uses at `a`.
    b_token: String,
}

fn link(a: &Country, b: &Country, direction: &str, agreement: Value) -> Link {
    let (b_at_a, b_token) = register(a, b, direction, agreement.clone());
    let (a_at_b, a_token) = register(b, a, direction, agreement.clone());
    set_token(a, &b_at_a, b, direction, agreement.clone(), &a_token);
    set_token(b, &a_at_b, a, direction, agreement, &b_token);
    Link {
        b_at_a,
        a_at_b,
        a_token,
        b_token,
    }
}

fn object_id(country: &str, member: usize, kind: &str) -> String {
    let h = country.bytes().fold(0u64, |a, b| a * 31 + b as u64) % 0xfff;
    let k = KINDS.iter().position(|x| *x == kind).unwrap();
    format!("indicator--f0000000-0000-4000-8{h:03x}-{member:06}{k:06}")
}

fn indicator(c: &Country, m: usize, kind: &str, peers: &[&Country], modified: &str) -> Value {
    let me = &c.members[m];
    let other = &c.members[1 - m];
    let peer_ids: Vec<String> = peers
        .iter()
        .map(|p| p.hub.coordinator_identity.clone())
        .collect();
    let (marking, audience, exercise): (&str, Vec<String>, bool) = match kind {
        "clear" => (CLEAR, vec![], false),
        "green" => (GREEN, vec![], false),
        "amber" => (AMBER, vec![], false),
        "amber-local" => (AMBER, vec![other.identity.clone()], false),
        "amber-peer" => (AMBER, peer_ids.clone(), false),
        "strict-peer" => (STRICT, peer_ids.clone(), false),
        "red" => (
            RED,
            [peer_ids.clone(), vec![other.identity.clone()]].concat(),
            false,
        ),
        "exercise" => (GREEN, vec![], true),
        _ => unreachable!(),
    };
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1", "id": object_id(c.name, m, kind),
        "created": "2026-11-01T00:00:00.000Z", "modified": modified,
        "created_by_ref": me.identity,
        "name": format!("{} {m} {kind}", c.name),
        "pattern": format!("[domain-name:value = '{}-{m}-{kind}.example']", c.name.to_lowercase()),
        "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
        "object_marking_refs": [marking],
    });
    if !audience.is_empty() || exercise {
        o["extensions"] = json!({EXT: {"extension_type": "property-extension", "audience": audience, "exercise": exercise}});
    }
    o
}

/// Every object version `token` reads in the shared and federation collections:
/// (collection, id) → versions.
fn reads(h: &Hub, token: Option<&str>) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for col in [SHARED, FEDERATION] {
        let mut next: Option<String> = None;
        loop {
            let mut path = format!("{}?match[version]=all&limit=1000", objects_path(col));
            if let Some(n) = &next {
                path.push_str(&format!("&next={n}"));
            }
            let r = h.taxii_get(&path, token);
            if r.status == 404 || r.status == 403 || r.status == 401 {
                break;
            }
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let v = r.json();
            for o in v["objects"].as_array().into_iter().flatten() {
                let id = o["id"].as_str().unwrap().to_string();
                if id.starts_with("indicator--f0000000") {
                    out.entry((col.to_string(), id))
                        .or_default()
                        .push(o.clone());
                }
            }
            match v["next"].as_str() {
                Some(n) if v["more"] == true => next = Some(n.to_string()),
                _ => break,
            }
        }
    }
    out
}

fn ids(m: &BTreeMap<(String, String), Vec<Value>>) -> BTreeSet<String> {
    m.keys().map(|(_, id)| id.clone()).collect()
}

/// Who (role) in `reader_country` may read object (origin, member, kind) under DESIGN.md
/// and the agreements of this test, written out independently of the code.
/// Roles: "coordinator", "m0", "m1", "anonymous".
fn expected(origin: &str, member: usize, kind: &str, reader_country: &str, role: &str) -> bool {
    // The shared and federation collections are for members: nothing for the public.
    if role == "anonymous" {
        return false;
    }
    let me = format!("m{member}");
    let other = format!("m{}", 1 - member);
    if origin == reader_country {
        return match kind {
            "clear" => true,
            "green" | "exercise" => role != "anonymous",
            "amber" => role == me || role == "coordinator",
            "amber-local" | "red" => role == me || role == other,
            "amber-peer" | "strict-peer" => role == me,
            _ => unreachable!(),
        };
    }
    // What crosses: US–JP: CLEAR, GREEN (one community), named AMBER; JP–AU: CLEAR only.
    // No forwarding, no exercises. Received objects live in the federation collection,
    // which members read (not the public).
    let pair = [origin, reader_country];
    let us_jp = pair.contains(&"US") && pair.contains(&"JP");
    let jp_au = pair.contains(&"JP") && pair.contains(&"AU");
    match kind {
        "clear" => (us_jp || jp_au) && role != "anonymous",
        "green" => us_jp && role != "anonymous",
        "amber-peer" => us_jp && role == "coordinator",
        _ => false,
    }
}

fn sync_all(countries: &[&Country], peers: &[(usize, String)]) {
    for (i, peer) in peers {
        let c = countries[*i];
        let r = c.hub.rest(
            "POST",
            &format!("/api/v1/peers/{peer}/sync"),
            &c.hub.admin,
            None,
        );
        assert_eq!(r.status, 200, "{} sync {peer}: {}", c.name, r.body);
    }
}

#[test]
fn three_hubs_share_exactly_what_agreements_and_the_rule_allow() {
    let (us, jp, au) = (country("US"), country("JP"), country("AU"));
    let us_jp = json!({"green": true, "amber": true, "one_community": true, "exported_collections": ["shared"], "anonymize": true});
    let jp_au = json!({"exported_collections": ["shared"]});
    let l1 = link(&us, &jp, "pull", us_jp);
    let l2 = link(&jp, &au, "push", jp_au);
    let (jp_at_us, us_at_jp, au_at_jp, jp_at_au) = (l1.b_at_a, l1.a_at_b, l2.b_at_a, l2.a_at_b);
    let tok_us_at_jp = l1.a_token;

    let all = [&us, &jp, &au];
    for c in all {
        let peers: Vec<&Country> = match c.name {
            "US" => vec![&jp],
            "JP" => vec![&us, &au],
            _ => vec![&jp],
        };
        for m in 0..2 {
            let objs: Vec<Value> = KINDS
                .iter()
                .map(|k| indicator(c, m, k, &peers, "2026-11-01T00:00:00.000Z"))
                .collect();
            let r = c.hub.taxii_post(
                &objects_path(SHARED),
                &c.members[m].token,
                &json!({"objects": objs}),
            );
            assert_eq!(r.status, 202, "{}", r.body);
            assert_eq!(r.json()["success_count"], KINDS.len(), "{}", r.body);
        }
    }
    let peers = vec![
        (0, jp_at_us.clone()),
        (1, us_at_jp.clone()),
        (1, au_at_jp.clone()),
        (2, jp_at_au.clone()),
    ];
    sync_all(&all, &peers);

    // The leak matrix, for every organization of every hub.
    let check = |round: usize| -> usize {
        let mut total = 0;
        for c in all {
            let readers: Vec<(&str, Option<&str>)> = vec![
                ("coordinator", Some(c.hub.admin.as_str())),
                ("m0", Some(c.members[0].token.as_str())),
                ("m1", Some(c.members[1].token.as_str())),
                ("anonymous", None),
            ];
            for (role, tok) in readers {
                let got = ids(&reads(&c.hub, tok));
                let mut want = BTreeSet::new();
                for origin in ["US", "JP", "AU"] {
                    for m in 0..2 {
                        for k in KINDS {
                            if expected(origin, m, k, c.name, role) {
                                want.insert(object_id(origin, m, k));
                            }
                        }
                    }
                }
                let leaked: Vec<_> = got.difference(&want).collect();
                let missing: Vec<_> = want.difference(&got).collect();
                assert!(
                    leaked.is_empty() && missing.is_empty(),
                    "round {round}, {} {role}: leaked {leaked:?}, missing {missing:?}",
                    c.name
                );
                total += got.len();
            }
        }
        total
    };
    let first = check(1);
    assert!(first > 50);

    // No object twice: each (id, version) once across the collections a coordinator reads.
    for c in all {
        let r = reads(&c.hub, Some(&c.hub.admin));
        let mut seen = BTreeSet::new();
        for ((_, id), versions) in &r {
            for v in versions {
                assert!(
                    seen.insert((id.clone(), v["modified"].as_str().unwrap().to_string())),
                    "{}: {id} twice",
                    c.name
                );
            }
        }
    }

    // Anonymization US–JP: at JP nothing names a US member; AU sees JP members (not anonymized).
    let at_jp = reads(&jp.hub, Some(&jp.hub.admin));
    let text = serde_json::to_string(&at_jp.values().collect::<Vec<_>>()).unwrap();
    for m in &us.members {
        assert!(!text.contains(&m.identity), "JP holds a US member identity");
    }
    let from_us = at_jp
        .get(&(FEDERATION.to_string(), object_id("US", 0, "green")))
        .expect("US green at JP");
    assert_eq!(
        from_us[0]["created_by_ref"],
        us.hub.coordinator_identity.as_str()
    );
    let at_au = reads(&au.hub, Some(&au.hub.admin));
    let from_jp = at_au
        .get(&(FEDERATION.to_string(), object_id("JP", 1, "clear")))
        .expect("JP clear at AU");
    assert_eq!(
        from_jp[0]["created_by_ref"],
        jp.members[1].identity.as_str()
    );

    // Repeated cycles change nothing.
    sync_all(&all, &peers);
    sync_all(&all, &peers);
    assert_eq!(check(3), first);

    // Corrections at the origin: a new version, a revocation, a deletion.
    let us0 = &us.members[0];
    let newer = indicator(&us, 0, "green", &[&jp], "2026-11-02T00:00:00.000Z");
    let mut revoked = indicator(&us, 0, "clear", &[&jp], "2026-11-02T00:00:00.000Z");
    revoked["revoked"] = json!(true);
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us0.token,
        &json!({"objects": [newer, revoked]}),
    );
    assert_eq!(r.json()["success_count"], 2, "{}", r.body);
    let gone = object_id("US", 0, "amber-peer");
    let r = us.hub.call(
        "DELETE",
        &format!("{}{gone}/", objects_path(SHARED)),
        Some(&us0.token),
        &[("Accept", TAXII)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let jp_clear = object_id("JP", 0, "clear");
    let r = jp.hub.call(
        "DELETE",
        &format!("{}{jp_clear}/", objects_path(SHARED)),
        Some(&jp.members[0].token),
        &[("Accept", TAXII)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    sync_all(&all, &peers);
    let at_jp = reads(&jp.hub, Some(&jp.hub.admin));
    let latest = |m: &BTreeMap<(String, String), Vec<Value>>, id: &str| -> Value {
        let mut v = m[&(FEDERATION.to_string(), id.to_string())].clone();
        v.sort_by_key(|o| o["modified"].as_str().unwrap().to_string());
        v.last().unwrap().clone()
    };
    assert_eq!(
        latest(&at_jp, &object_id("US", 0, "green"))["modified"],
        "2026-11-02T00:00:00.000Z"
    );
    assert_eq!(
        latest(&at_jp, &object_id("US", 0, "clear"))["revoked"],
        true
    );
    assert!(
        !at_jp.contains_key(&(FEDERATION.to_string(), gone.clone())),
        "the deletion reached JP"
    );
    let at_au = reads(&au.hub, Some(&au.hub.admin));
    assert!(
        !at_au.contains_key(&(FEDERATION.to_string(), jp_clear.clone())),
        "the deletion reached AU"
    );
    assert!(at_au.contains_key(&(FEDERATION.to_string(), object_id("JP", 1, "clear"))));

    // The operator's view of a peer.
    let p = us
        .hub
        .rest(
            "GET",
            &format!("/api/v1/peers/{jp_at_us}"),
            &us.hub.admin,
            None,
        )
        .json();
    assert!(p["status"]["last_pull"].is_string(), "{p}");
    assert!(
        p["status"]["objects"]["in"]["TLP:GREEN"].as_i64().unwrap() >= 2,
        "{p}"
    );
    assert!(p.get("token").is_none() && !p.to_string().contains(&tok_us_at_jp));
    let p = jp
        .hub
        .rest(
            "GET",
            &format!("/api/v1/peers/{au_at_jp}"),
            &jp.hub.admin,
            None,
        )
        .json();
    assert!(p["status"]["last_push"].is_string(), "{p}");
    assert_eq!(p["status"]["objects"]["out"]["TLP:CLEAR"], 3, "{p}");
    let m = jp
        .hub
        .request("GET", "/metrics", Some(&jp.hub.admin), None)
        .body;
    assert!(
        m.contains(
            "hinomi_federation_objects_total{peer=\"AU\",direction=\"out\",tlp=\"TLP:CLEAR\"}"
        ),
        "{m}"
    );
    assert_eq!(
        us.hub.rest("GET", "/api/v1/peers", &us0.token, None).status,
        403
    );
}

#[test]
fn received_amber_reaches_members_only_when_the_coordinator_extends_it() {
    let (us, jp) = (country("US"), country("JP"));
    let agreement = json!({"green": true, "amber": true, "one_community": false, "exported_collections": ["shared"]});
    let us_at_jp = link(&us, &jp, "pull", agreement).a_at_b;
    let objs: Vec<Value> = ["green", "amber-peer"]
        .iter()
        .map(|k| indicator(&us, 0, k, &[&jp], "2026-11-01T00:00:00.000Z"))
        .collect();
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us.members[0].token,
        &json!({"objects": objs}),
    );
    assert_eq!(r.json()["success_count"], 2);
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/peers/{us_at_jp}/sync"),
        &jp.hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Not one community: GREEN from the US stays with JP's coordinator, as does AMBER.
    let m0 = ids(&reads(&jp.hub, Some(&jp.members[0].token)));
    assert!(m0.is_empty(), "{m0:?}");
    let coord = ids(&reads(&jp.hub, Some(&jp.hub.admin)));
    assert_eq!(coord.len(), 2);
    // The coordinator extends the AMBER one to member 0 (audited); member 1 still sees nothing.
    let amber = object_id("US", 0, "amber-peer");
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/federation/objects/{amber}/audience"),
        &jp.hub.admin,
        Some(json!({"organizations": [jp.members[0].id]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&reads(&jp.hub, Some(&jp.members[0].token))),
        BTreeSet::from([amber.clone()])
    );
    assert!(ids(&reads(&jp.hub, Some(&jp.members[1].token))).is_empty());
    assert!(
        ids(&reads(&jp.hub, Some(&jp.hub.admin))).contains(&amber),
        "the coordinator keeps it"
    );
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/federation/objects/{amber}/audience"),
        &jp.members[0].token,
        Some(json!({"organizations": [jp.members[1].id]})),
    );
    assert_eq!(r.status, 403);
    let audit = jp
        .hub
        .rest("GET", "/api/v1/audit?limit=1000", &jp.hub.admin, None)
        .body;
    assert!(audit.contains("object.extend_audience"));
    // Bad peer registrations name the field.
    for (patch, needle) in [
        (json!({"identity_id": "identity--nope"}), "identity_id"),
        (json!({"direction": "sideways"}), "direction"),
        (json!({"api_root": "ftp://x"}), "api_root"),
        (
            json!({"agreement": {"exported_collections": ["nope"]}}),
            "exported_collections[0]",
        ),
        (json!({"agreement": {"green": "yes"}}), "green"),
        (
            json!({"client_certificate_sha256": "AB:CD"}),
            "client_certificate_sha256",
        ),
    ] {
        let mut body = json!({"name": "X", "identity_id": "identity--6a4e9c1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d", "api_root": "http://127.0.0.1:1/taxii2/hub/", "direction": "pull", "pull_collections": [SHARED], "agreement": {}});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = jp
            .hub
            .rest("POST", "/api/v1/peers", &jp.hub.admin, Some(body));
        assert_eq!(r.status, 400, "{patch}: {}", r.body);
        assert!(r.body.contains(needle), "{patch}: {}", r.body);
    }
}

#[test]
fn a_peer_that_stops_mid_sync_is_caught_up_without_loss_or_duplicates() {
    let (us, jp) = (country("US"), country("JP"));
    let agreement =
        json!({"green": true, "one_community": true, "exported_collections": ["shared"]});
    let l = link(&us, &jp, "pull", agreement.clone());
    let (us_at_jp, tok_jp_at_us) = (l.a_at_b, l.b_token);
    let n = 600;
    let objs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--f0000000-0000-4000-8000-{i:012}"),
                   "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                   "pattern": format!("[ipv4-addr:value = '10.0.{}.{}']", i / 256, i % 256), "pattern_type": "stix",
                   "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [GREEN]})
        })
        .collect();
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us.members[0].token,
        &json!({"objects": objs}),
    );
    assert_eq!(r.json()["success_count"], n);
    // JP pulls (pages of 7) while the US hub goes away.
    let url = jp.hub.url(&format!("/api/v1/peers/{us_at_jp}/sync"));
    let admin = jp.hub.admin.clone();
    let t = std::thread::spawn(move || {
        ureq::post(&url)
            .set("Authorization", &format!("Bearer {admin}"))
            .call()
            .map(|r| r.status())
            .unwrap_or_else(|e| match e {
                ureq::Error::Status(c, _) => c,
                _ => 0,
            })
    });
    std::thread::sleep(Duration::from_millis(150));
    let Country {
        hub:
            Hub {
                server,
                store,
                admin: us_admin,
                coordinator_identity,
                location,
            },
        ..
    } = us;
    drop(server);
    let _ = t.join();
    let partial = ids(&reads(&jp.hub, Some(&jp.hub.admin))).len();
    // The US hub comes back (same store, new address); JP catches up.
    let server = TestServer::start(store.clone(), crate::lab_config());
    let us = Country {
        name: "US",
        hub: Hub {
            server,
            store,
            admin: us_admin,
            coordinator_identity,
            location,
        },
        members: vec![],
    };
    set_token(
        &jp,
        &us_at_jp,
        &us,
        "pull",
        agreement.clone(),
        &tok_jp_at_us,
    );
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/peers/{us_at_jp}/sync"),
        &jp.hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = reads(&jp.hub, Some(&jp.hub.admin));
    assert_eq!(
        got.len(),
        n,
        "nothing lost (had {partial} before the restart)"
    );
    assert!(got.values().all(|v| v.len() == 1), "nothing twice");
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/peers/{us_at_jp}/sync"),
        &jp.hub.admin,
        None,
    );
    assert_eq!(r.json()["pulled"], 0);
}

/// A CA, a server certificate for localhost and a client certificate, with openssl.
fn pki(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl on PATH");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hinomi test CA",
        ],
    ]
    .concat());
    for (name, san) in [
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "subjectAltName=DNS:jp-hub"),
    ] {
        run(&[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        ]
        .concat());
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("{san}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
}

#[test]
fn peers_connect_with_mutual_tls_when_the_hub_requires_it() {
    let dir = std::env::temp_dir().join(format!("hinomi-mtls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    pki(&dir);
    // The US hub serves HTTPS and requires a client certificate signed by the CA.
    let store = std::sync::Arc::new(hinomi_store::Store::open(&crate::location()).unwrap());
    let boot = store.bootstrap("US coordinator", Some("US")).unwrap();
    let tls = hinomi_hub::tls::server_config(&hinomi_hub::tls::TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: Some(dir.join("ca.pem")),
        client_required: true,
    })
    .unwrap();
    let us_server = TestServer::start_with_tls(store.clone(), crate::lab_config(), Some(tls));
    let us_root = format!("https://localhost:{}/taxii2/hub/", us_server.addr.port());
    // Two JP hubs: one presents the client certificate, one does not.
    let with_cert = hinomi_hub::tls::client_config(
        Some(&dir.join("ca.pem")),
        Some((&dir.join("client.pem"), &dir.join("client.key"))),
    )
    .unwrap();
    let without = hinomi_hub::tls::client_config(Some(&dir.join("ca.pem")), None).unwrap();
    let us_token_for = |name: &str, identity: &str, pin: Option<String>| -> String {
        // Registered at the US hub directly in its store (its REST API needs a client cert).
        let p = hinomi_store::Peer {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            country: Some("JP".into()),
            identity_id: identity.into(),
            api_root: "https://jp.invalid/taxii2/hub/".into(),
            pull_collections: vec![],
            push_collection: None,
            credentials_sealed: None,
            direction: "pull".into(),
            agreement: hinomi_store::Agreement {
                green: true,
                one_community: true,
                exported_collections: vec![SHARED.into()],
                ..Default::default()
            },
            created: hinomi_stix::Timestamp::now(),
            updated: hinomi_stix::Timestamp::now(),
            client_cert_sha256: pin,
        };
        store.create_peer(&p, &boot.organization.id).unwrap()
    };
    // The client certificate's fingerprint as openssl prints it.
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-in",
            "client.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let client_fp = hinomi_hub::service::federation::parse_fingerprint(
        String::from_utf8_lossy(&out.stdout).trim(),
    )
    .unwrap();
    let other_fp = "ab".repeat(32);
    let mut results = Vec::new();
    for (name, client, pin) in [
        ("JP-cert", with_cert.clone(), None),
        ("JP-nocert", without, None),
        // A token bound to the certificate the hub presents: accepted.
        ("JP-bound", with_cert.clone(), Some(client_fp)),
        // A token bound to another certificate: a stolen token with some other
        // certificate the CA signed gets nowhere.
        ("JP-stolen", with_cert, Some(other_fp)),
    ] {
        let config = HubConfig {
            federation: hinomi_hub::service::federation::FederationConfig {
                client_tls: Some(client),
                pull_interval: Duration::from_secs(3600),
                ..Default::default()
            },
            ..crate::lab_config()
        };
        let jp = Hub::start_with(config);
        let token = us_token_for(name, &jp.coordinator_identity, pin);
        let body = json!({"name": "US", "identity_id": boot.organization.identity_id, "api_root": us_root,
                          "direction": "pull", "pull_collections": [SHARED], "token": token,
                          "agreement": {"green": true, "one_community": true}});
        let r = jp.rest("POST", "/api/v1/peers", &jp.admin, Some(body));
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r = jp.rest("POST", &format!("/api/v1/peers/{id}/sync"), &jp.admin, None);
        let status = jp
            .rest("GET", &format!("/api/v1/peers/{id}"), &jp.admin, None)
            .json();
        results.push((r.status, status["status"]["last_error"].clone()));
    }
    assert_eq!(
        results[0].0, 200,
        "with a client certificate: {:?}",
        results[0]
    );
    assert_eq!(
        results[1].0, 503,
        "without one the handshake fails: {:?}",
        results[1]
    );
    assert!(
        results[1].1.as_str().unwrap().contains("pull"),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2].0, 200, "bound and presented: {:?}", results[2]);
    assert_ne!(
        results[3].0, 200,
        "bound to another certificate: {:?}",
        results[3]
    );
    let why = results[3].1.as_str().unwrap_or("");
    assert!(why.contains("401"), "{:?}", results[3]);
    drop(us_server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forwarding_needs_both_agreements_and_two_paths_store_once() {
    let (us, jp, au) = (country("US"), country("JP"), country("AU"));
    let fwd = json!({"green": true, "one_community": true, "exported_collections": ["shared", "federation"], "forward": true});
    // US–JP pull both ways, forwarding allowed on both sides.
    let l1 = link(&us, &jp, "pull", fwd);
    let (jp_at_us, us_at_jp, t1) = (l1.b_at_a, l1.a_at_b, l1.b_token);
    // JP pushes to AU (CLEAR only) — first without forwarding.
    let jp_au_closed = json!({"exported_collections": ["shared", "federation"], "forward": false});
    let jp_au_open = json!({"exported_collections": ["shared", "federation"], "forward": true});
    let l2 = link(&jp, &au, "push", jp_au_closed);
    let (au_at_jp, t4) = (l2.b_at_a, l2.a_token);
    let objs: Vec<Value> = ["clear", "green"]
        .iter()
        .map(|k| indicator(&us, 0, k, &[], "2026-11-01T00:00:00.000Z"))
        .collect();
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us.members[0].token,
        &json!({"objects": objs}),
    );
    assert_eq!(r.json()["success_count"], 2);
    let all = [&us, &jp, &au];
    let peers = vec![
        (1, us_at_jp.clone()),
        (1, au_at_jp.clone()),
        (0, jp_at_us.clone()),
    ];
    sync_all(&all, &peers);
    let clear = object_id("US", 0, "clear");
    let green = object_id("US", 0, "green");
    assert!(ids(&reads(&jp.hub, Some(&jp.hub.admin))).contains(&clear));
    assert!(
        !ids(&reads(&au.hub, Some(&au.hub.admin))).contains(&clear),
        "JP–AU does not forward"
    );
    // AU agrees to forwarding too: the US object now reaches AU through JP (CLEAR only).
    set_token(&jp, &au_at_jp, &au, "push", jp_au_open.clone(), &t4);
    sync_all(&all, &peers);
    let at_au = reads(&au.hub, Some(&au.hub.admin));
    assert!(
        at_au.contains_key(&(FEDERATION.to_string(), clear.clone())),
        "forwarded"
    );
    assert!(!ids(&at_au).contains(&green), "GREEN does not cross JP–AU");
    // Forwarding needs the origin's agreement too: US says no, nothing more goes to AU.
    let closed = json!({"green": true, "one_community": true, "exported_collections": ["shared", "federation"], "forward": false});
    set_token(&jp, &us_at_jp, &us, "pull", closed, &t1);
    let late = indicator(&us, 1, "clear", &[], "2026-11-01T00:00:00.000Z");
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us.members[1].token,
        &json!({"objects": [late]}),
    );
    assert_eq!(r.json()["success_count"], 1);
    sync_all(&all, &peers);
    assert!(ids(&reads(&jp.hub, Some(&jp.hub.admin))).contains(&object_id("US", 1, "clear")));
    assert!(!ids(&reads(&au.hub, Some(&au.hub.admin))).contains(&object_id("US", 1, "clear")));
    // A second path US→AU directly: the object is stored once.
    let direct = json!({"exported_collections": ["shared"]});
    let au_at_us = link(&us, &au, "push", direct).b_at_a;
    let peers2 = vec![(0, au_at_us.clone()), (1, au_at_jp.clone())];
    sync_all(&all, &peers2);
    sync_all(&all, &peers2);
    let at_au = reads(&au.hub, Some(&au.hub.admin));
    let copies: usize = at_au
        .iter()
        .filter(|((_, id), _)| *id == clear)
        .map(|(_, v)| v.len())
        .sum();
    assert_eq!(copies, 1, "two paths, one copy");
    assert!(
        ids(&at_au).contains(&object_id("US", 1, "clear")),
        "the direct path brings the late one"
    );
    // Nothing ever comes back to its origin.
    let at_us = reads(&us.hub, Some(&us.hub.admin));
    assert!(
        !at_us
            .keys()
            .any(|(col, id)| col == FEDERATION
                && id.starts_with("indicator--f0000000-0000-4000-8a9e"))
    );
}

/// A country whose failing peers wait an hour before the worker tries again.
fn patient_country(name: &'static str) -> Country {
    let hub = Hub::start_with(HubConfig {
        federation: hinomi_hub::service::federation::FederationConfig {
            pull_interval: Duration::from_secs(3600),
            retry_first: Duration::from_secs(3600),
            ..Default::default()
        },
        ..crate::lab_config()
    });
    let (o, token) = hub.member(&format!("{name} member"), "government");
    let members = vec![Member {
        id: o["id"].as_str().unwrap().into(),
        identity: o["identity_id"].as_str().unwrap().into(),
        token,
    }];
    Country { name, hub, members }
}

#[test]
fn a_fixed_peer_is_tried_at_once_not_after_the_grown_retry_delay() {
    // The documented two-step registration: the US registers JP before JP has issued
    // the US a token, so the first pushes fail; the token then arrives by an update.
    let (us, jp) = (patient_country("US"), patient_country("JP"));
    let agreement = json!({"green": true, "exported_collections": ["shared"]});
    let (jp_at_us, _) = register(&us, &jp, "push", agreement.clone());
    let (_, us_token) = register(&jp, &us, "push", agreement.clone());
    let id = "indicator--f0000000-0000-4000-8000-00000000aaaa";
    let obj = json!({"type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '203.0.113.9']", "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [GREEN]});
    let r = us.hub.taxii_post(
        &objects_path(SHARED),
        &us.members[0].token,
        &json!({ "objects": [obj] }),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let failed = || {
        let r = us.hub.rest(
            "GET",
            &format!("/api/v1/peers/{jp_at_us}"),
            &us.hub.admin,
            None,
        );
        !r.json()["status"]["last_error"].is_null()
    };
    let t0 = std::time::Instant::now();
    while !failed() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the push never failed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Now backed off for an hour; the update carries the token and clears the wait.
    set_token(&us, &jp_at_us, &jp, "push", agreement, &us_token);
    let t0 = std::time::Instant::now();
    while !ids(&reads(&jp.hub, Some(&jp.hub.admin))).contains(id) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the push waited for the retry delay after the peer was fixed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_peer_that_pages_forever_or_answers_too_much_cannot_hold_the_pull() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    // A hostile "TAXII server": every page says more: true with a new next token and
    // one new object; a request for page "big" gets more objects than it asked for.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let many = if line.contains("/big/") { 50 } else { 1 };
            let objects: Vec<Value> = (0..many)
                .map(|k| {
                    json!({"type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--f0000000-0000-4000-8000-{:012}", n * 100 + k),
                    "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                    "pattern": "[ipv4-addr:value = '203.0.113.7']", "pattern_type": "stix",
                    "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [GREEN]})
                })
                .collect();
            let body =
                json!({"more": true, "next": format!("p{n}"), "objects": objects}).to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/taxii+json;version=2.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.flush();
            let _ = r.read(&mut [0u8; 1]);
        }
    });
    let hub = Hub::start_with(HubConfig {
        federation: hinomi_hub::service::federation::FederationConfig {
            pull_interval: Duration::from_secs(3600),
            batch: 10,
            max_pull_pages: 25,
            ..Default::default()
        },
        ..crate::lab_config()
    });
    let peer = |cols: Value, identity: &str| {
        let r = hub.rest(
            "POST",
            "/api/v1/peers",
            &hub.admin,
            Some(
                json!({"name": format!("Hostile {cols}"), "identity_id": identity,
                "api_root": format!("http://127.0.0.1:{port}/api/"), "direction": "pull",
                "pull_collections": cols, "agreement": {"green": true}}),
            ),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_str().unwrap().to_string()
    };
    let forever = peer(
        json!(["forever"]),
        "identity--6a4e9c1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d",
    );
    let r = hub.rest(
        "POST",
        &format!("/api/v1/peers/{forever}/sync"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["pulled"],
        25,
        "the pull stops at the page limit: {}",
        r.body
    );
    let big = peer(
        json!(["big"]),
        "identity--7b5f0d2c-3e4a-4b6c-9d8e-0f1a2b3c4d5e",
    );
    let r = hub.rest(
        "POST",
        &format!("/api/v1/peers/{big}/sync"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("50 objects") && r.body.contains("at most 10"),
        "{}",
        r.body
    );
}

/// A peer names local members in the audience of what it sends: none of them reads it;
/// it is the coordinator's, and only the coordinator extends it, and the extension
/// holds for the peer's later versions. A member's sighting of a received indicator
/// stays at this hub: the peer does not read it back.
#[test]
fn a_peer_cannot_address_local_members_and_sightings_of_its_indicators_stay_here() {
    let (us, jp) = (country("US"), country("JP"));
    let agreement = json!({"green": true, "amber": true, "one_community": false, "exported_collections": ["shared"]});
    let l = link(&us, &jp, "push", agreement);
    let victim = &jp.members[0];
    let sent = |kind: &str, n: u32, marking: &str, audience: Vec<String>, modified: &str| {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--f0000000-0000-4000-8000-{n:012}"),
            "created": "2026-11-01T00:00:00.000Z", "modified": modified,
            "name": format!("hostile {kind}"),
            "pattern": format!("[domain-name:value = '{kind}.hostile.example']"),
            "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
            "object_marking_refs": [marking],
            "extensions": {EXT: {"extension_type": "property-extension", "audience": audience}},
        })
    };
    let green = sent(
        "green",
        1,
        GREEN,
        vec![victim.identity.clone()],
        "2026-11-01T00:00:00.000Z",
    );
    let amber = sent(
        "amber",
        2,
        AMBER,
        vec![jp.hub.coordinator_identity.clone(), victim.identity.clone()],
        "2026-11-01T00:00:00.000Z",
    );
    let (green_id, amber_id) = (
        green["id"].as_str().unwrap().to_string(),
        amber["id"].as_str().unwrap().to_string(),
    );
    // The US hub pushes straight into JP's federation collection with its token.
    let r = jp.hub.taxii_post(
        &objects_path(FEDERATION),
        &l.a_token,
        &json!({"objects": [green, amber]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["success_count"], 2, "{}", r.body);
    let m0 = ids(&reads(&jp.hub, Some(&victim.token)));
    assert!(
        m0.is_empty(),
        "the peer addressed a local member directly: {m0:?}"
    );
    assert_eq!(
        ids(&reads(&jp.hub, Some(&jp.hub.admin))),
        BTreeSet::from([green_id.clone(), amber_id.clone()])
    );
    let observe = |token: &str| {
        let obs = json!({"objects": [
            {"type": "observed-data", "spec_version": "2.1", "id": "observed-data--70000000-0000-4000-8000-000000000001",
             "created": "2026-11-25T00:00:00Z", "modified": "2026-11-25T00:00:00Z",
             "first_observed": "2026-11-25T01:00:00Z", "last_observed": "2026-11-25T01:05:00Z", "number_observed": 1,
             "object_refs": ["domain-name--70000000-0000-4000-8000-000000000002"]},
            {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--70000000-0000-4000-8000-000000000002", "value": "amber.hostile.example"}
        ]});
        let r = jp
            .hub
            .rest("POST", "/api/v1/observations", token, Some(obs));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["sightings"].as_array().unwrap().clone()
    };
    assert!(
        observe(&victim.token).is_empty(),
        "matched a hidden indicator"
    );
    // The coordinator extends the AMBER one to the member.
    let r = jp.hub.rest(
        "POST",
        &format!("/api/v1/federation/objects/{amber_id}/audience"),
        &jp.hub.admin,
        Some(json!({"organizations": [victim.id]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&reads(&jp.hub, Some(&victim.token))),
        BTreeSet::from([amber_id.clone()])
    );
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = observe(&victim.token);
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    assert_eq!(seen.len(), 1, "the extended indicator matches");
    let sighting = &seen[0];
    let audience = sighting["extensions"][EXT]["audience"].to_string();
    assert!(
        !audience.contains(&us.hub.coordinator_identity),
        "the sighting names the peer: {audience}"
    );
    let back = jp.hub.taxii_get(
        &format!("{}?match[type]=sighting", objects_path(SHARED)),
        Some(&l.a_token),
    );
    assert!(
        back.status == 404 || !back.body.contains("sighting--"),
        "the peer reads the member's sighting: {}",
        back.body
    );
    // A new version from the peer keeps the coordinator's grant, and still no more.
    let amber2 = sent(
        "amber",
        2,
        AMBER,
        vec![
            jp.hub.coordinator_identity.clone(),
            jp.members[1].identity.clone(),
        ],
        "2026-11-02T00:00:00.000Z",
    );
    let r = jp.hub.taxii_post(
        &objects_path(FEDERATION),
        &l.a_token,
        &json!({"objects": [amber2]}),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    let v = reads(&jp.hub, Some(&victim.token));
    assert_eq!(
        v[&(FEDERATION.to_string(), amber_id.clone())].len(),
        2,
        "the grant holds for the new version: {v:?}"
    );
    assert!(ids(&reads(&jp.hub, Some(&jp.members[1].token))).is_empty());
}

/// A peer's token bound to a client certificate is refused without it, and a client
/// cannot claim one with the header the hub uses inside.
#[test]
fn a_bound_peer_token_needs_its_certificate_and_the_header_cannot_be_forged() {
    let hub = Hub::start();
    let pin = "AB:".repeat(31) + "AB";
    let body = json!({"name": "Bound", "identity_id": "identity--6a4e9c1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d",
                      "api_root": "http://127.0.0.1:1/taxii2/hub/", "direction": "push",
                      "push_collection": FEDERATION, "agreement": {"green": true},
                      "client_certificate_sha256": format!("sha256 Fingerprint={pin}")});
    let r = hub.rest("POST", "/api/v1/peers", &hub.admin, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["client_certificate_sha256"], "ab".repeat(32), "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let path = "/taxii2/hub/collections/";
    let r = hub.taxii_get(path, Some(&token));
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("client certificate"), "{}", r.body);
    let auth = format!("Bearer {token}");
    let forged = "ab".repeat(32);
    let r = hub.call(
        "GET",
        path,
        None,
        &[
            ("Authorization", auth.as_str()),
            ("Accept", TAXII),
            ("X-Hinomi-Client-Cert-Sha256", forged.as_str()),
        ],
        None,
    );
    assert_eq!(r.status, 401, "a forged header passed: {}", r.body);
    // A PUT that leaves the binding out keeps it; "" removes it.
    let id = v["id"].as_str().unwrap();
    let mut put = json!({"name": "Bound", "identity_id": "identity--6a4e9c1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d",
                         "api_root": "http://127.0.0.1:1/taxii2/hub/", "direction": "push",
                         "push_collection": FEDERATION, "agreement": {"green": true}});
    let r = hub.rest(
        "PUT",
        &format!("/api/v1/peers/{id}"),
        &hub.admin,
        Some(put.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(hub.taxii_get(path, Some(&token)).status, 401);
    put["client_certificate_sha256"] = json!("");
    let r = hub.rest("PUT", &format!("/api/v1/peers/{id}"), &hub.admin, Some(put));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(hub.taxii_get(path, Some(&token)).status, 200);
}

/// What a peer sends obeys the rules members' objects do: the built-in TLP marking
/// definitions cannot be redefined (a genuine copy is acknowledged, not stored), and
/// an indicator whose pattern does not parse is refused with the parser's error.
#[test]
fn a_peer_cannot_redefine_tlp_or_send_unparseable_patterns() {
    let (us, jp) = (country("US"), country("JP"));
    let agreement =
        json!({"green": true, "one_community": true, "exported_collections": ["shared"]});
    let l = link(&us, &jp, "push", agreement);
    let tlp_ext = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
    let genuine = json!({"type": "marking-definition", "spec_version": "2.1", "id": GREEN,
        "created": "2022-10-01T00:00:00.000Z", "name": "TLP:GREEN",
        "extensions": {tlp_ext: {"extension_type": "property-extension", "tlp_2_0": "green"}}});
    let fake = json!({"type": "marking-definition", "spec_version": "2.1", "id": RED,
        "created": "2022-10-01T00:00:00.000Z", "name": "TLP:CLEAR",
        "extensions": {tlp_ext: {"extension_type": "property-extension", "tlp_2_0": "clear"}}});
    let broken = json!({"type": "indicator", "spec_version": "2.1",
        "id": "indicator--f0000000-0000-4000-8000-00000000abcd",
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "pattern": "[domain-name:value = ", "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z", "object_marking_refs": [GREEN]});
    let r = jp.hub.taxii_post(
        &objects_path(FEDERATION),
        &l.a_token,
        &json!({"objects": [genuine, fake, broken]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(v["success_count"], 1, "{v}");
    assert_eq!(v["failure_count"], 2, "{v}");
    let failures = v["failures"].to_string();
    assert!(failures.contains("cannot be redefined"), "{failures}");
    assert!(failures.contains(".pattern"), "{failures}");
    // Nothing of either is stored: the coordinator reads neither.
    let all = jp
        .hub
        .taxii_get(&objects_path(FEDERATION), Some(&jp.hub.admin))
        .body;
    assert!(!all.contains("TLP:CLEAR") && !all.contains("abcd"), "{all}");
}
