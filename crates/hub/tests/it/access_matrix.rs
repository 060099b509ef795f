//! The access matrix: every kind of caller (coordinator, members of three kinds, a
//! community member, two peer hubs with different agreements, the public) against
//! objects of every TLP, audience and exercise flag, through every read path the hub
//! has: TAXII objects, manifest, object and versions; the REST object lookup;
//! observations and their sightings; warnings (list, one, the live stream); advisories
//! (search and document) and the findings computed from them.
//!
//! The expected answer of each cell is written out below from DESIGN.md's table and
//! the agreements, independently of the code.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{json, Value};

use crate::findings::shared;
use crate::{Hub, TLPS};

const EXT: &str = "extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Coordinator,
    Member,
    Peer {
        green: bool,
        amber: bool,
        exercise: bool,
        anonymize: bool,
    },
    Anonymous,
}

struct Caller {
    name: &'static str,
    kind: Kind,
    id: String,
    identity: String,
    token: Option<String>,
    /// Belongs to the community of the test.
    in_community: bool,
}

/// One stored object: who shares it, under which handling.
struct Obj {
    id: String,
    owner: usize,
    tlp: &'static str,
    /// Audience entries as caller indices (`usize::MAX`: the community).
    audience: Vec<usize>,
    exercise: bool,
    value: String,
}

const COMMUNITY: usize = usize::MAX;

fn named(reader: usize, callers: &[Caller], audience: &[usize]) -> bool {
    audience
        .iter()
        .any(|a| *a == reader || (*a == COMMUNITY && callers[reader].in_community))
}

/// DESIGN.md's rule for the base TLP decision (owner, audience, kind of reader).
fn rule(reader: usize, callers: &[Caller], owner: usize, tlp: &str, audience: &[usize]) -> bool {
    let r = &callers[reader];
    if reader == owner {
        return true;
    }
    let named = named(reader, callers, audience);
    let coord = r.kind == Kind::Coordinator;
    match (tlp, r.kind) {
        ("clear", _) => true,
        (_, Kind::Anonymous) => false,
        ("green", Kind::Peer { green, .. }) => green,
        ("green", _) => true,
        ("amber", Kind::Peer { amber, .. }) => amber && named,
        ("amber", _) => named || (coord && audience.is_empty()),
        (_, Kind::Peer { .. }) => false, // AMBER+STRICT and RED stay in the country
        ("amber+strict", _) => named || (coord && audience.is_empty()),
        _ => named, // RED
    }
}

/// The rule plus the peer's agreement on exercise data.
fn sees(reader: usize, callers: &[Caller], o: &Obj) -> bool {
    if let Kind::Peer { exercise, .. } = callers[reader].kind {
        if o.exercise && !exercise {
            return false;
        }
    }
    rule(reader, callers, o.owner, o.tlp, &o.audience)
}

fn anonymizes(c: &Caller) -> bool {
    matches!(
        c.kind,
        Kind::Peer {
            anonymize: true,
            ..
        }
    )
}

fn ids_in(v: &Value, prefix: &str) -> BTreeSet<String> {
    v["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["id"].as_str())
        .filter(|i| i.starts_with(prefix))
        .map(String::from)
        .collect()
}

fn register_peer(hub: &Hub, name: &str, n: u32, agreement: Value) -> (String, String, String) {
    let identity = format!("identity--7e000000-0000-4000-8000-{n:012}");
    let r = hub.rest(
        "POST",
        "/api/v1/peers",
        &hub.admin,
        Some(json!({
            "name": name, "country": "US", "identity_id": identity,
            // Nothing listens there: the pull worker fails and waits, which is all right.
            "api_root": "http://127.0.0.1:9/taxii2/hub/", "direction": "pull",
            "pull_collections": ["4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60"],
            "agreement": agreement,
        })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    (
        v["id"].as_str().unwrap().into(),
        identity,
        v["token"].as_str().unwrap().into(),
    )
}

/// Reads SSE events until one whose warning title is `until` arrives; returns the
/// titles of the `warning.published` events before it.
fn titles_until(reader: &mut impl BufRead, until: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut line = String::new();
    let (mut event, mut data) = (String::new(), String::new());
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended before '{until}'"
        );
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            if !data.is_empty() {
                let v: Value = serde_json::from_str(&data).unwrap();
                let title = title_of(&v).unwrap_or_default();
                if title == until {
                    return out;
                }
                if event == "warning.published" {
                    out.insert(title);
                }
            }
            event.clear();
            data.clear();
        } else if let Some(v) = l.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = l.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
}

/// The English title of the warning an event carries, wherever its payload nests it.
fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m
            .get("title")
            .and_then(|t| t["en"].as_str())
            .map(String::from)
            .or_else(|| m.values().find_map(title_of)),
        _ => None,
    }
}

#[test]
fn every_caller_on_every_read_path() {
    let hub = Hub::start();
    let me = hub.rest("GET", "/api/v1/whoami", &hub.admin, None).json();
    let mut callers = vec![Caller {
        name: "coordinator",
        kind: Kind::Coordinator,
        id: me["organization"]["id"].as_str().unwrap().into(),
        identity: me["organization"]["identity_id"].as_str().unwrap().into(),
        token: Some(hub.admin.clone()),
        in_community: false,
    }];
    for (name, kind, in_community) in [
        ("ministry", "government", false),
        ("operator", "private", true),
        ("police", "law-enforcement", false),
    ] {
        let (o, t) = hub.member(name, kind);
        callers.push(Caller {
            name,
            kind: Kind::Member,
            id: o["id"].as_str().unwrap().into(),
            identity: o["identity_id"].as_str().unwrap().into(),
            token: Some(t),
            in_community,
        });
    }
    // A public collection every member writes to and both peers' agreements export.
    let r = hub.rest(
        "POST",
        "/api/v1/collections",
        &hub.admin,
        Some(json!({"title": "open", "alias": "open", "read_policy": "public", "write_policy": "members"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let open = r.json()["id"].as_str().unwrap().to_string();
    for (n, name, agreement, kind) in [
        (
            1,
            "peer-anon",
            json!({"green": true, "amber": true, "exercise": false, "anonymize": true, "exported_collections": ["open"]}),
            Kind::Peer {
                green: true,
                amber: true,
                exercise: false,
                anonymize: true,
            },
        ),
        (
            2,
            "peer-exercise",
            json!({"green": false, "amber": false, "exercise": true, "anonymize": false, "exported_collections": ["open"]}),
            Kind::Peer {
                green: false,
                amber: false,
                exercise: true,
                anonymize: false,
            },
        ),
    ] {
        let (id, identity, token) = register_peer(&hub, name, n, agreement);
        callers.push(Caller {
            name,
            kind,
            id,
            identity,
            token: Some(token),
            in_community: false,
        });
    }
    callers.push(Caller {
        name: "public",
        kind: Kind::Anonymous,
        id: String::new(),
        identity: String::new(),
        token: None,
        in_community: false,
    });
    let r = hub.rest(
        "POST",
        "/api/v1/communities",
        &hub.admin,
        Some(json!({"name": "energy ISAC", "members": [callers[2].id]})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let community = r.json()["identity_id"].as_str().unwrap().to_string();
    let audience_id = |a: usize| {
        if a == COMMUNITY {
            community.clone()
        } else {
            callers[a].identity.clone()
        }
    };

    // Objects: every owner (coordinator, ministry, operator) × TLP × audience × exercise.
    let audiences: Vec<Vec<usize>> = vec![vec![], vec![2], vec![COMMUNITY], vec![4], vec![5]];
    let mut objs: Vec<Obj> = Vec::new();
    for owner in [0usize, 1, 2] {
        let mut envelope = Vec::new();
        for (tlp, marking) in TLPS {
            for aud in &audiences {
                if tlp == "red" && aud.is_empty() {
                    continue;
                }
                for exercise in [false, true] {
                    let n = objs.len();
                    let o = Obj {
                        id: format!("indicator--31000000-0000-4000-8000-{n:012}"),
                        owner,
                        tlp,
                        audience: aud.clone(),
                        exercise,
                        value: format!("o{n}.matrix.example"),
                    };
                    let mut v = json!({
                        "type": "indicator", "spec_version": "2.1", "id": o.id,
                        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                        "created_by_ref": callers[owner].identity,
                        "pattern": format!("[domain-name:value = '{}']", o.value), "pattern_type": "stix",
                        "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": [marking]
                    });
                    if !aud.is_empty() || exercise {
                        v["extensions"] = json!({EXT: {"extension_type": "property-extension",
                            "audience": aud.iter().map(|a| audience_id(*a)).collect::<Vec<_>>(),
                            "exercise": exercise}});
                    }
                    envelope.push(v);
                    objs.push(o);
                }
            }
        }
        let r = hub.taxii_post(
            &format!("/taxii2/hub/collections/{open}/objects/"),
            callers[owner].token.as_ref().unwrap(),
            &json!({"objects": envelope}),
        );
        assert_eq!(r.json()["failure_count"], 0, "{}", r.body);
    }
    // The ministry shares its own identity (CLEAR): an anonymizing peer never gets it.
    let ministry_identity = json!({
        "type": "identity", "spec_version": "2.1", "id": callers[1].identity,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "ministry", "identity_class": "organization",
        "object_marking_refs": [TLPS[0].1]
    });
    let r = hub.taxii_post(
        &format!("/taxii2/hub/collections/{open}/objects/"),
        callers[1].token.as_ref().unwrap(),
        &json!({"objects": [ministry_identity]}),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);
    // An indicator in a collection only the ministry (and the coordinator) may read.
    let r = hub.rest(
        "POST",
        "/api/v1/collections",
        &hub.admin,
        Some(
            json!({"title": "vault", "read_policy": "restricted", "write_policy": "restricted",
                    "grants": [{"organization_id": callers[1].id, "read": true, "write": true}]}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let vault = r.json()["id"].as_str().unwrap().to_string();
    let hidden = "indicator--31000000-0000-4000-8000-999999999999";
    let r = hub.taxii_post(
        &format!("/taxii2/hub/collections/{vault}/objects/"),
        callers[1].token.as_ref().unwrap(),
        &json!({"objects": [{
            "type": "indicator", "spec_version": "2.1", "id": hidden,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[domain-name:value = 'vault.matrix.example']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": [TLPS[0].1]
        }]}),
    );
    assert_eq!(r.json()["success_count"], 1, "{}", r.body);

    // --- Objects over TAXII and REST ---
    let base = format!("/taxii2/hub/collections/{open}");
    for (ri, reader) in callers.iter().enumerate() {
        let token = reader.token.as_deref();
        let want: BTreeSet<String> = objs
            .iter()
            .filter(|o| sees(ri, &callers, o))
            .map(|o| o.id.clone())
            .collect();
        let page = hub.taxii_get(&format!("{base}/objects/?limit=10000"), token);
        assert_eq!(page.status, 200, "{}: {}", reader.name, page.body);
        let page = page.json();
        assert_eq!(
            ids_in(&page, "indicator--31"),
            want,
            "objects for {}",
            reader.name
        );
        let identity_shown = !ids_in(&page, &callers[1].identity).is_empty();
        assert_eq!(
            identity_shown,
            !anonymizes(reader),
            "member identity for {}",
            reader.name
        );
        // Anonymization: nothing in what the peer receives names a member.
        for o in page["objects"].as_array().unwrap() {
            if let Some(by) = o["created_by_ref"].as_str() {
                let owner = objs
                    .iter()
                    .find(|x| x.id == o["id"].as_str().unwrap())
                    .map(|x| x.owner);
                let expect = if anonymizes(reader) {
                    callers[0].identity.as_str()
                } else {
                    owner.map_or(by, |i| callers[i].identity.as_str())
                };
                assert_eq!(by, expect, "created_by_ref for {}", reader.name);
            }
            if anonymizes(reader) {
                let s = o.to_string();
                for m in &callers[1..4] {
                    assert!(
                        !s.contains(&m.identity),
                        "{} names {}: {s}",
                        reader.name,
                        m.name
                    );
                }
            }
        }
        let path = format!("/api/v1/objects/{}", callers[1].identity);
        let lookup = hub.request("GET", &path, token, None);
        assert_eq!(
            lookup.status,
            if anonymizes(reader) { 404 } else { 200 },
            "member identity by REST for {}",
            reader.name
        );
        let manifest = hub
            .taxii_get(&format!("{base}/manifest/?limit=10000"), token)
            .json();
        assert_eq!(
            ids_in(&manifest, "indicator--31"),
            want,
            "manifest for {}",
            reader.name
        );
        for o in &objs {
            let expect = if want.contains(&o.id) { 200 } else { 404 };
            let single = hub.taxii_get(&format!("{base}/objects/{}/", o.id), token);
            let versions = hub
                .taxii_get(&format!("{base}/objects/{}/versions/", o.id), token)
                .status;
            let rest = hub.request("GET", &format!("/api/v1/objects/{}", o.id), token, None);
            assert_eq!(
                (single.status, versions, rest.status),
                (expect, expect, expect),
                "{} ({} {:?} exercise {}) for {}",
                o.id,
                o.tlp,
                o.audience,
                o.exercise,
                reader.name
            );
            if expect == 200 && anonymizes(reader) {
                for body in [&single.body, &rest.body] {
                    for m in &callers[1..4] {
                        assert!(
                            !body.contains(&m.identity),
                            "{} names {}",
                            reader.name,
                            m.name
                        );
                    }
                }
            }
        }
        // The vault indicator: only those who may read the vault find it.
        let vault_reader = ri <= 1;
        let path = format!("/api/v1/objects/{hidden}");
        let rest = hub.request("GET", &path, token, None);
        assert_eq!(
            rest.status,
            if vault_reader { 200 } else { 404 },
            "vault indicator for {}",
            reader.name
        );
    }

    // --- Observations: sightings name only what the observer may see ---
    let mut observed = vec![json!({
        "type": "observed-data", "spec_version": "2.1", "id": "observed-data--31000000-0000-4000-8000-000000000001",
        "created": "2026-11-25T00:00:00Z", "modified": "2026-11-25T00:00:00Z",
        "first_observed": "2026-11-25T01:00:00Z", "last_observed": "2026-11-25T01:05:00Z", "number_observed": 1,
        "object_refs": (0..=objs.len()).map(|i| format!("domain-name--31000000-0000-4000-8000-{i:012}")).collect::<Vec<_>>()
    })];
    for (i, o) in objs.iter().enumerate() {
        observed.push(json!({"type": "domain-name", "spec_version": "2.1",
            "id": format!("domain-name--31000000-0000-4000-8000-{i:012}"), "value": o.value}));
    }
    observed.push(json!({"type": "domain-name", "spec_version": "2.1",
        "id": format!("domain-name--31000000-0000-4000-8000-{:012}", objs.len()), "value": "vault.matrix.example"}));
    let bundle = json!({"type": "bundle", "id": "bundle--31000000-0000-4000-8000-000000000001", "objects": observed});
    for (ri, reader) in callers.iter().enumerate() {
        // Callers that are refused get a small bundle: the refusal comes before the body
        // is read, and the server may close the connection while a large body is still
        // being written (the client would see a broken pipe, not the answer).
        let body = match reader.kind {
            Kind::Coordinator | Kind::Member => bundle.clone(),
            _ => {
                json!({"type": "bundle", "id": "bundle--31000000-0000-4000-8000-000000000002", "objects": []})
            }
        };
        let r = hub.request(
            "POST",
            "/api/v1/observations",
            reader.token.as_deref(),
            Some(body),
        );
        match reader.kind {
            Kind::Anonymous => {
                assert_eq!(r.status, 401, "{}", r.body);
                continue;
            }
            Kind::Peer { .. } => {
                assert_eq!(r.status, 403, "peers do not observe: {}", r.body);
                continue;
            }
            _ => assert_eq!(r.status, 200, "{}: {}", reader.name, r.body),
        }
        let got: BTreeSet<String> = r.json()["sightings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sighting_of_ref"].as_str().unwrap().to_string())
            .collect();
        let mut want: BTreeSet<String> = objs
            .iter()
            .filter(|o| sees(ri, &callers, o))
            .map(|o| o.id.clone())
            .collect();
        if ri <= 1 {
            want.insert(hidden.to_string());
        }
        assert_eq!(got, want, "sightings for {}", reader.name);
    }

    // --- Warnings: list, one, and the live stream of every member ---
    let mut streams: Vec<Option<Box<dyn BufRead>>> = callers
        .iter()
        .map(|c| match (&c.token, c.kind) {
            (Some(t), Kind::Coordinator | Kind::Member) => {
                let resp = ureq::get(&hub.url("/api/v1/stream"))
                    .set("Authorization", &format!("Bearer {t}"))
                    .timeout(Duration::from_secs(30))
                    .call()
                    .unwrap();
                Some(Box::new(BufReader::new(resp.into_reader())) as Box<dyn BufRead>)
            }
            _ => None,
        })
        .collect();
    // (owner, tlp, audience, exercise, title); the audience as warnings name it.
    struct W {
        owner: usize,
        tlp: &'static str,
        /// Named recipients (caller indices; COMMUNITY); empty: everyone.
        to: Vec<usize>,
        exercise: bool,
        title: String,
        id: String,
    }
    let mut warnings: Vec<W> = Vec::new();
    for owner in [0, 1] {
        for (tlp, _) in TLPS {
            for to in [vec![], vec![2], vec![COMMUNITY], vec![3]] {
                if tlp == "red" && to.is_empty() {
                    continue; // refused: RED names its recipients
                }
                if owner != 0 && (to.is_empty() || to == [COMMUNITY]) {
                    continue; // members name organizations, or communities they belong to
                }
                for exercise in [false, true] {
                    let title = format!("W{} {owner} {tlp} {to:?} {exercise}", warnings.len());
                    let audience = match to.first() {
                        None => json!({"all": true}),
                        Some(&COMMUNITY) => json!({"communities": [community]}),
                        Some(&i) => json!({"organizations": [callers[i].id]}),
                    };
                    let r = hub.rest(
                        "POST",
                        "/api/v1/warnings",
                        callers[owner].token.as_ref().unwrap(),
                        Some(json!({
                            "title": {"en": title}, "summary": {"en": "s"}, "required_action": {"en": "a"},
                            "severity": "low", "tlp": tlp, "audience": audience, "exercise": exercise,
                        })),
                    );
                    assert_eq!(r.status, 201, "{title}: {}", r.body);
                    let id = r.json()["id"].as_str().unwrap().to_string();
                    let r = hub.rest(
                        "POST",
                        &format!("/api/v1/warnings/{id}/publish"),
                        callers[owner].token.as_ref().unwrap(),
                        None,
                    );
                    assert_eq!(r.status, 200, "{title}: {}", r.body);
                    warnings.push(W {
                        owner,
                        tlp,
                        to: to.clone(),
                        exercise,
                        title,
                        id,
                    });
                }
            }
        }
    }
    // The sentinel: CLEAR to everyone, from the coordinator, after all the others.
    let r = hub.rest(
        "POST",
        "/api/v1/warnings",
        &hub.admin,
        Some(json!({"title": {"en": "sentinel"}, "summary": {"en": "s"}, "required_action": {"en": "a"},
                    "severity": "low", "tlp": "clear", "audience": {"all": true}})),
    );
    let sid = r.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{sid}/publish"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // What a warning's report names: every member for AMBER and RED to everyone (they
    // are listed), the named organization or community otherwise; nobody for CLEAR and
    // GREEN to everyone.
    let members = [0usize, 1, 2, 3];
    let stix_audience = |w: &W| -> Vec<usize> {
        if w.to.is_empty() {
            if w.tlp == "clear" || w.tlp == "green" {
                vec![]
            } else {
                members.iter().copied().filter(|m| *m != w.owner).collect()
            }
        } else {
            w.to.clone()
        }
    };
    // A feed shows its organization's own publications too.
    let recipient = |ri: usize, w: &W| -> bool {
        ri == w.owner
            || members.contains(&ri)
                && ri != w.owner
                && (w.to.is_empty() || named(ri, &callers, &w.to))
                && rule(ri, &callers, w.owner, w.tlp, &stix_audience(w))
    };
    for (ri, reader) in callers.iter().enumerate() {
        let sees_w = |w: &W| {
            let peer_excluded = matches!(
                reader.kind,
                Kind::Peer {
                    exercise: false,
                    ..
                }
            ) && w.exercise;
            !peer_excluded && rule(ri, &callers, w.owner, w.tlp, &stix_audience(w))
        };
        let want: BTreeSet<String> = warnings
            .iter()
            .filter(|w| sees_w(w))
            .map(|w| w.id.clone())
            .collect();
        let r = hub.request("GET", "/api/v1/warnings", reader.token.as_deref(), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let got: BTreeSet<String> = r.json()["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .filter(|i| *i != sid)
            .collect();
        assert_eq!(got, want, "warnings for {}", reader.name);
        for w in &warnings {
            let path = format!("/api/v1/warnings/{}", w.id);
            let r = hub.request("GET", &path, reader.token.as_deref(), None);
            assert_eq!(
                r.status,
                if want.contains(&w.id) { 200 } else { 404 },
                "{} for {}",
                w.title,
                reader.name
            );
            if r.status == 200 && anonymizes(reader) {
                for m in &callers[1..4] {
                    assert!(
                        !r.body.contains(&m.identity) && !r.body.contains(&m.id),
                        "{} names {} to {}: {}",
                        w.title,
                        m.name,
                        reader.name,
                        r.body
                    );
                }
            }
        }
        if let Some(s) = streams[ri].as_mut() {
            let got = titles_until(s, "sentinel");
            let want: BTreeSet<String> = warnings
                .iter()
                .filter(|w| recipient(ri, w))
                .map(|w| w.title.clone())
                .collect();
            assert_eq!(got, want, "stream of {}", reader.name);
        }
    }
    drop(streams);

    // --- Advisories and findings ---
    let doc = shared("csaf/cisa-sample/icsa-24-289-02.json");
    let mut advisories: Vec<(String, usize, &str)> = Vec::new();
    for owner in [0usize, 2] {
        // Each owner submits under a publisher namespace the coordinator bound to it.
        let namespace = format!("https://publisher-{owner}.example");
        let r = hub.rest(
            "PUT",
            "/api/v1/publishers",
            &hub.admin,
            Some(json!({"namespace": namespace, "organization": callers[owner].id})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for label in ["WHITE", "GREEN", "AMBER", "RED"] {
            let mut d = doc.clone();
            d["document"]["publisher"]["namespace"] = json!(namespace);
            d["document"]["publisher"]["name"] = json!(format!("Publisher {owner}"));
            let tracking = format!("MATRIX-{owner}-{label}");
            d["document"]["tracking"]["id"] = json!(tracking);
            d["document"]["distribution"]["tlp"]["label"] = json!(label);
            let r = hub.rest(
                "POST",
                "/api/v1/advisories",
                callers[owner].token.as_ref().unwrap(),
                Some(d),
            );
            assert_eq!(r.status, 201, "{tracking}: {}", r.body);
            let tlp = match label {
                "WHITE" => "clear",
                "GREEN" => "green",
                "AMBER" => "amber",
                _ => "red",
            };
            advisories.push((tracking, owner, tlp));
        }
    }
    // Peer hubs receive advisories as the public does: agreements export collections,
    // not the advisory store.
    let advisory_sees = |ri: usize, owner: usize, tlp: &str| match callers[ri].kind {
        Kind::Peer { .. } | Kind::Anonymous => tlp == "clear",
        _ => rule(ri, &callers, owner, tlp, &[]),
    };
    let inventory = json!({"components": [
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.1.0"}
    ]});
    for (ri, reader) in callers.iter().enumerate() {
        let want: BTreeSet<String> = advisories
            .iter()
            .filter(|(_, owner, tlp)| advisory_sees(ri, *owner, tlp))
            .map(|a| a.0.clone())
            .collect();
        let r = hub.request(
            "GET",
            "/api/v1/advisories?limit=1000",
            reader.token.as_deref(),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let got: BTreeSet<String> = r.json()["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["tracking_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "advisories for {}", reader.name);
        for (tracking, ..) in &advisories {
            let path = format!("/api/v1/advisories/{tracking}");
            let r = hub.request("GET", &path, reader.token.as_deref(), None);
            let expect = if want.contains(tracking) { 200 } else { 404 };
            assert_eq!(r.status, expect, "{tracking} for {}", reader.name);
        }
        // Findings: the members' inventories meet only the advisories they may see.
        if reader.kind == Kind::Member {
            let t = reader.token.as_ref().unwrap();
            let r = hub.rest(
                "PUT",
                "/api/v1/inventories/site",
                t,
                Some(inventory.clone()),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let r = hub.rest("GET", "/api/v1/findings", t, None);
            assert_eq!(r.status, 200, "{}", r.body);
            let got: BTreeSet<String> = r.json()["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["tracking_id"].as_str())
                .filter(|t| t.starts_with("MATRIX-"))
                .map(String::from)
                .collect();
            assert_eq!(got, want, "findings for {}", reader.name);
        }
    }
}
