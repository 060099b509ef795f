//! Incidents through the API: members report, the coordinator triages and merges, the
//! correlation index answers each reader only from what it may see.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use hinomi_hub::clock::Clock;
use hinomi_hub::HubConfig;
use hinomi_stix::Timestamp;

use crate::{envelope, objects_path, Hub, SHARED, TAXII};

const INCIDENTS: &str = "9d6e2b17-4c83-4f0a-a1e5-3b8c7d2f6e94";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

fn manual_hub(common_after: usize) -> (Hub, Clock) {
    let clock = Clock::manual(Timestamp::parse("2026-12-01T00:00:00Z").unwrap());
    let mut config = HubConfig {
        clock: clock.clone(),
        ..crate::lab_config()
    };
    config.incidents.common_after = common_after;
    (Hub::start_with(config), clock)
}

fn ip(v: &str) -> Value {
    json!({"type": "ipv4-addr", "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid_for(v)), "value": v})
}

fn domain(v: &str) -> Value {
    json!({"type": "domain-name", "spec_version": "2.1",
        "id": format!("domain-name--{}", uuid_for(v)), "value": v})
}

/// A stable UUID per value (the hub does not recompute SCO ids).
fn uuid_for(v: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(v.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

fn report(hub: &Hub, token: &str, body: Value) -> Value {
    let r = hub.rest("POST", "/api/v1/incidents/reports", token, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn basic(title: &str, objects: Vec<Value>) -> Value {
    json!({
        "title": title,
        "description": "Outbound beacons from the billing servers",
        "discovered": "2026-11-30T08:00:00Z",
        "occurred": "2026-11-29T22:00:00Z",
        "detection": "EDR alert on a billing server",
        "detection_methods": ["automated-tool"],
        "determination": "successful-attempt",
        "sector": "energy",
        "systems": ["billing-01"],
        "services": ["customer billing"],
        "impact": {"functional": "minimal-impact-to-critical-services",
                   "information": ["suspected-but-not-identified"],
                   "recoverability": "regular", "attack_vector": "web",
                   "location": "level-2-business-network"},
        "taxonomy": {"class": "malicious-code", "type": "infected-system"},
        "objects": objects,
    })
}

fn values(corr: &Value) -> Vec<(String, Value)> {
    corr.as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

fn find<'a>(corr: &'a [(String, Value)], value: &str) -> &'a Value {
    &corr
        .iter()
        .find(|(v, _)| v == value)
        .unwrap_or_else(|| panic!("{value} not in {corr:?}"))
        .1
}

#[test]
fn members_report_and_the_coordinator_triages_merges_and_correlates() {
    let (hub, clock) = manual_hub(20);
    let (a, ta) = hub.member("Grid operator A", "private");
    let (b, tb) = hub.member("Grid operator B", "private");
    let (_c, tc) = hub.member("Water utility C", "private");
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();

    // A reports with an observable, an indicator and an attachment.
    let indicator = json!({"type": "indicator", "spec_version": "2.1",
        "id": "indicator--7d1c3a52-7a0e-4c5e-9c55-2d1f0e3b9a01",
        "created": "2026-11-30T09:00:00.000Z", "modified": "2026-11-30T09:00:00.000Z",
        "pattern": "[domain-name:value = 'c2.evil.example']", "pattern_type": "stix",
        "valid_from": "2026-11-30T09:00:00Z"});
    let mut body = basic(
        "Beacons to 198.51.100.7",
        vec![ip("198.51.100.7"), indicator.clone()],
    );
    let log = b"2026-11-29 22:01 connect 198.51.100.7:443\n";
    body["attachments"] = json!([{"name": "edr log.txt", "media_type": "text/plain",
        "content_base64": base64::engine::general_purpose::STANDARD.encode(log)}]);
    let ra = report(&hub, &ta, body);
    let ra_id = ra["id"].as_str().unwrap().to_string();
    assert_eq!(ra["reporter"], a_id);
    assert_eq!(
        ra["consent"],
        json!({"share_anonymized": true, "share_named": false, "law_enforcement": "ask"})
    );
    assert_eq!(ra["report_due"], "2026-12-03T08:00:00.000000Z");
    assert_eq!(ra["reported_late"], false);
    let stix = &ra["stix"];
    assert_eq!(stix["type"], "incident");
    assert_eq!(stix["name"], "Beacons to 198.51.100.7");
    assert_eq!(
        stix["object_marking_refs"],
        json!(["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"])
    );
    let core = &stix["extensions"]["extension-definition--ef765651-680c-498d-9894-99799f2fa126"];
    assert_eq!(
        core["determination"], "confirmed",
        "version 1's successful-attempt reads as confirmed"
    );
    assert_eq!(core["investigation_status"], "open");
    assert_eq!(stix["created_by_ref"], a["identity_id"]);
    // The observable was gathered into an observed-data with the report's handling.
    let types: Vec<&str> = ra["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"observed-data")
            && types.contains(&"indicator")
            && types.contains(&"ipv4-addr"),
        "{types:?}"
    );
    let att = &ra["attachments"][0];
    assert_eq!(att["size"], log.len());
    assert_eq!(att["name"], "edr log.txt");

    // B reports the same address (A's SCO already holds its id: B is not told) and the
    // C2 domain; C shares a TLP:GREEN report with the address.
    let rb = report(
        &hub,
        &tb,
        basic(
            "Odd traffic",
            vec![ip("198.51.100.7"), domain("c2.evil.example")],
        ),
    );
    let rb_id = rb["id"].as_str().unwrap().to_string();
    let mut green = basic("Scan from 198.51.100.7", vec![ip("198.51.100.7")]);
    green["tlp"] = json!("green");
    let rc = report(&hub, &tc, green);
    let rc_id = rc["id"].as_str().unwrap().to_string();

    // Each member sees what the rule allows of the others' reports: nothing of an
    // AMBER+STRICT one, all of a GREEN one.
    assert_eq!(
        hub.rest(
            "GET",
            &format!("/api/v1/incidents/reports/{ra_id}"),
            &tb,
            None
        )
        .status,
        404
    );
    let seen = hub.rest(
        "GET",
        &format!("/api/v1/incidents/reports/{rc_id}"),
        &tb,
        None,
    );
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(
        seen.json()["consent"].is_null(),
        "others do not see the reporter's consent"
    );
    let taxii = hub
        .taxii_get(
            &format!("{}?match[type]=incident", objects_path(INCIDENTS)),
            Some(&tb),
        )
        .json();
    let ids: Vec<&str> = taxii["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&rb_id.as_str())
            && ids.contains(&rc_id.as_str())
            && !ids.contains(&ra_id.as_str()),
        "{ids:?}"
    );
    let anon = hub.taxii_get(&objects_path(INCIDENTS), None);
    assert_ne!(anon.status, 200, "the public reads no reports");

    // Correlation after filtering: A learns of C's GREEN report only, the coordinator
    // of both, with organizations.
    let ca = hub.rest(
        "GET",
        &format!("/api/v1/incidents/reports/{ra_id}/correlation"),
        &ta,
        None,
    );
    assert_eq!(ca.status, 200, "{}", ca.body);
    let ca = values(&ca.json()["values"]);
    let addr = find(&ca, "ipv4-addr:198.51.100.7");
    assert_eq!(addr["reports"], 1, "{addr}");
    assert_eq!(addr["seen_in"], json!([rc_id]));
    assert!(
        addr.get("organizations").is_none(),
        "members are not told who"
    );
    assert_eq!(
        find(&ca, "domain-name:c2.evil.example")["reports"],
        0,
        "B's report is not A's to see"
    );
    let cc = values(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/reports/{ra_id}/correlation"),
            &hub.admin,
            None,
        )
        .json()["values"],
    );
    let addr = find(&cc, "ipv4-addr:198.51.100.7");
    assert_eq!(addr["reports"], 2, "{addr}");
    assert_eq!(
        find(&cc, "domain-name:c2.evil.example")["seen_in"],
        json!([rb_id])
    );
    assert_eq!(
        find(&cc, "domain-name:c2.evil.example")["organizations"],
        json!([b_id])
    );

    // The coordinator's cases: one per report, newest change first.
    let list = hub
        .rest("GET", "/api/v1/incidents", &hub.admin, None)
        .json();
    assert_eq!(list["incidents"].as_array().unwrap().len(), 3);
    let case_a = ra["incident"].as_str().unwrap().to_string();
    let case_b = rb["incident"].as_str().unwrap().to_string();
    let mine = hub.rest("GET", "/api/v1/incidents", &ta, None).json();
    assert_eq!(
        mine["incidents"].as_array().unwrap().len(),
        1,
        "a member lists the cases of its reports"
    );
    assert!(mine["incidents"][0]["title"].is_null());

    // Triage: states follow the life of a case; every change is in the timeline.
    let bad = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/state"),
        &hub.admin,
        Some(json!({"state": "closed"})),
    );
    assert_eq!(bad.status, 409, "{}", bad.body);
    assert!(bad.body.contains("cannot become closed"), "{}", bad.body);
    let member_try = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/state"),
        &ta,
        Some(json!({"state": "triaging"})),
    );
    assert_eq!(member_try.status, 403);
    let r = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/state"),
        &hub.admin,
        Some(json!({"state": "triaging"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let updated = r.json()["updated"].as_str().unwrap().to_string();
    let r = hub.rest(
        "PATCH",
        &format!("/api/v1/incidents/{case_a}"),
        &hub.admin,
        Some(json!({"severity": "high", "assignee": "analyst.sato", "expected_updated": updated})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["assignee"], "analyst.sato");
    let stale = hub.rest(
        "PATCH",
        &format!("/api/v1/incidents/{case_a}"),
        &hub.admin,
        Some(json!({"severity": "low", "expected_updated": updated})),
    );
    assert_eq!(
        stale.status, 409,
        "a change on a stale read is refused: {}",
        stale.body
    );
    let t = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/tasks"),
        &hub.admin,
        Some(json!({"title": "Call the operator's CSIRT", "due": "2026-12-02T00:00:00Z"})),
    );
    assert_eq!(t.status, 201, "{}", t.body);
    let task = t.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_b}/notes"),
        &hub.admin,
        Some(json!({"body": "Same C2 as A"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // Merge B's case into A's: B's report, its note and its history move, nothing is copied.
    clock.advance(Duration::from_secs(60));
    let self_merge = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/merge"),
        &hub.admin,
        Some(json!({"incidents": [case_a]})),
    );
    assert_eq!(self_merge.status, 400);
    let m = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{case_a}/merge"),
        &hub.admin,
        Some(json!({"incidents": [case_b]})),
    );
    assert_eq!(m.status, 200, "{}", m.body);
    let case = m.json();
    let mut reports: Vec<&str> = case["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    reports.sort();
    let mut expected = vec![ra_id.as_str(), rb_id.as_str()];
    expected.sort();
    assert_eq!(reports, expected);
    assert_eq!(case["notes"][0]["body"], "Same C2 as A");
    let events: Vec<&str> = case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for e in [
        "reported", "state", "update", "task", "note", "merge", "merged",
    ] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    assert_eq!(events.iter().filter(|e| **e == "reported").count(), 2);
    let b_case = hub
        .rest(
            "GET",
            &format!("/api/v1/incidents/{case_b}"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(b_case["state"], "duplicate");
    assert_eq!(b_case["merged_into"], case_a.as_str());
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_b}/state"),
            &hub.admin,
            Some(json!({"state": "triaging"}))
        )
        .status,
        409
    );
    // Each reporter sees the case's state and only its own report in it.
    let as_b = hub
        .rest("GET", &format!("/api/v1/incidents/{case_a}"), &tb, None)
        .json();
    assert_eq!(as_b["reports"], json!([rb_id]));
    assert!(as_b.get("timeline").is_none() && as_b["assignee"].is_null());
    assert_eq!(
        hub.rest("GET", &format!("/api/v1/incidents/{case_a}"), &tc, None)
            .status,
        404
    );
    // The merged case correlates across both reports, not with itself.
    let corr = values(&case["correlation"]);
    assert_eq!(
        find(&corr, "ipv4-addr:198.51.100.7")["seen_in"],
        json!([rc_id])
    );
    assert_eq!(find(&corr, "domain-name:c2.evil.example")["reports"], 0);

    // Confirm, contain, recover, close; reopen.
    for st in ["confirmed", "contained", "recovering", "closed", "triaging"] {
        let r = hub.rest(
            "POST",
            &format!("/api/v1/incidents/{case_a}/state"),
            &hub.admin,
            Some(json!({"state": st, "reason": "test"})),
        );
        assert_eq!(r.status, 200, "{st}: {}", r.body);
    }
    let case = hub
        .rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(case["state"], "triaging");
    assert!(case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "reopen"));
    let r = hub.rest(
        "PATCH",
        &format!("/api/v1/incidents/tasks/{task}"),
        &hub.admin,
        Some(json!({"done": true})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["done"].is_string());

    // A supplements its report (final): a new version of its STIX incident.
    let s = hub.rest("POST", &format!("/api/v1/incidents/reports/{ra_id}/supplements"), &ta,
        Some(json!({"text": "Root cause: an unpatched VPN appliance", "final": true,
                    "impact": {"functional": "no-impact-to-services", "recoverability": "regular"}})));
    assert_eq!(s.status, 200, "{}", s.body);
    let s = s.json();
    assert!(s["final_at"].is_string());
    assert_eq!(s["supplements"], 1);
    assert_eq!(
        s["stix"]["extensions"]["extension-definition--68c97f0f-a550-4f78-8df4-65a0c14cf32f"]
            ["supplements"][0]["text"],
        "Root cause: an unpatched VPN appliance"
    );
    let versions = hub
        .taxii_get(
            &format!("/taxii2/hub/collections/{INCIDENTS}/objects/{ra_id}/versions/"),
            Some(&ta),
        )
        .json();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );
    assert_eq!(
        hub.rest(
            "POST",
            &format!("/api/v1/incidents/reports/{ra_id}/supplements"),
            &tb,
            Some(json!({"text": "x"}))
        )
        .status,
        404
    );

    // Consent is the reporter's to change.
    let c = hub.rest(
        "PUT",
        &format!("/api/v1/incidents/reports/{ra_id}/consent"),
        &ta,
        Some(json!({"share_anonymized": false, "law_enforcement": "yes"})),
    );
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["consent"]["law_enforcement"], "yes");
    assert_eq!(
        hub.rest(
            "PUT",
            &format!("/api/v1/incidents/reports/{ra_id}/consent"),
            &tb,
            Some(json!({}))
        )
        .status,
        404
    );

    // Attachments: a download, only for those who may see the report.
    let aid = att["id"].as_str().unwrap();
    let path = format!("/api/v1/incidents/reports/{ra_id}/attachments/{aid}");
    for token in [&ta, &hub.admin] {
        let d = hub.call("GET", &path, Some(token), &[], None);
        assert_eq!(d.status, 200);
        assert_eq!(d.body.as_bytes(), log);
        assert_eq!(d.content_type, "application/octet-stream");
        assert!(d
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment;"));
        assert_eq!(d.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(hub.call("GET", &path, Some(&tb), &[], None).status, 404);

    // A sighting of A's indicator, shared by C, shows on the case.
    let sighting = json!({"type": "sighting", "spec_version": "2.1",
        "id": "sighting--0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3",
        "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z",
        "sighting_of_ref": indicator["id"], "object_marking_refs": [GREEN]});
    let r = hub.taxii_post(&objects_path(SHARED), &tc, &envelope(vec![sighting]));
    assert_eq!(r.status, 202, "{}", r.body);
    let case = hub
        .rest(
            "GET",
            &format!("/api/v1/incidents/{case_a}"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(
        case["sightings"][0]["sighting"], "sighting--0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3",
        "{}",
        case["sightings"]
    );

    // Exclusions, then a rebuild gives the same answers.
    let before = hub
        .rest(
            "GET",
            &format!("/api/v1/incidents/reports/{ra_id}/correlation"),
            &hub.admin,
            None,
        )
        .json();
    let r = hub.rest("POST", "/api/v1/correlation/rebuild", &hub.admin, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["postings"].as_u64().unwrap() >= 5);
    let after = hub
        .rest(
            "GET",
            &format!("/api/v1/incidents/reports/{ra_id}/correlation"),
            &hub.admin,
            None,
        )
        .json();
    assert_eq!(before, after);
    let r = hub.rest(
        "PUT",
        "/api/v1/correlation/exclusions/ipv4-addr:198.51.100.7",
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = values(
        &hub.rest(
            "GET",
            &format!("/api/v1/incidents/reports/{ra_id}/correlation"),
            &hub.admin,
            None,
        )
        .json()["values"],
    );
    assert!(after.iter().all(|(v, _)| v != "ipv4-addr:198.51.100.7"));
    assert_eq!(
        hub.rest(
            "PUT",
            "/api/v1/correlation/exclusions/ipv4-addr:1.2.3.4",
            &ta,
            None
        )
        .status,
        403
    );

    // Every change is in the audit log too.
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .json();
    let actions: Vec<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for a in [
        "incident.reported",
        "incident.merge",
        "incident.consent",
        "incident.supplement",
        "correlation.exclusion",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
}

#[test]
fn bad_reports_are_refused_whole_with_the_place_named() {
    let (hub, _clock) = manual_hub(20);
    let (_a, ta) = hub.member("Operator", "private");
    let cases = [
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "colour": "red"}),
            "colour",
        ),
        (
            json!({"title": "", "discovered": "2026-11-30T08:00:00Z"}),
            "title",
        ),
        (
            json!({"title": "x", "discovered": "yesterday"}),
            "discovered",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "taxonomy": {"class": "intrusions", "type": "spam"}}),
            "taxonomy.type",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "impact": {"information": ["no-impact", "lots"]}}),
            "impact.information[1]",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "determination": "maybe"}),
            "determination",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "consent": {"law_enforcement": "later"}}),
            "consent.law_enforcement",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "tlp": "red"}),
            "audience",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "audience": ["nobody"]}),
            "audience[0]",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "objects": [ip("198.51.100.9"),
            {"type": "indicator", "spec_version": "2.1", "id": "indicator--7d1c3a52-7a0e-4c5e-9c55-2d1f0e3b9a09",
             "created": "2026-11-30T09:00:00.000Z", "modified": "2026-11-30T09:00:00.000Z",
             "pattern": "[ipv4-addr:value = ", "pattern_type": "stix", "valid_from": "2026-11-30T09:00:00Z"}]}),
            "objects[1].pattern",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "attachments": [{"name": "../etc/passwd", "content_base64": "AA=="}]}),
            "attachments[0].name",
        ),
        (
            json!({"title": "x", "discovered": "2026-11-30T08:00:00Z", "attachments": [{"name": "a", "content_base64": "%%%"}]}),
            "attachments[0].content_base64",
        ),
    ];
    for (body, place) in cases {
        let r = hub.rest("POST", "/api/v1/incidents/reports", &ta, Some(body.clone()));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains(place), "{place} not named in {}", r.body);
    }
    // Nothing of any of them was written: no report, no case, no object.
    assert_eq!(
        hub.rest("GET", "/api/v1/incidents/reports", &ta, None)
            .json()["reports"],
        json!([])
    );
    assert_eq!(
        hub.rest("GET", "/api/v1/incidents", &hub.admin, None)
            .json()["incidents"],
        json!([])
    );
    let objs = hub.taxii_get(&objects_path(INCIDENTS), Some(&hub.admin));
    assert!(
        objs.status == 200 && objs.json()["objects"].is_null()
            || objs.json()["objects"] == json!([]),
        "{}",
        objs.body
    );
    // Too large: an attachment over the bound names the bound.
    let hub2 = {
        let mut config = crate::lab_config();
        config.incidents.max_attachment_bytes = 16;
        Hub::start_with(config)
    };
    let (_m, tm) = hub2.member("Operator", "private");
    let r = hub2.rest("POST", "/api/v1/incidents/reports", &tm, Some(json!({"title": "x", "discovered": "2026-11-30T08:00:00Z",
        "attachments": [{"name": "big.bin", "content_base64": base64::engine::general_purpose::STANDARD.encode([0u8; 64])}]})));
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("16 bytes"), "{}", r.body);
    // Peer hubs and read-only tokens file nothing; the hub keeps serving.
    assert_eq!(hub.rest("GET", "/healthz", &ta, None).status, 200);
}

#[test]
fn deadlines_say_what_is_overdue_and_common_values_are_not_listed() {
    let (hub, clock) = manual_hub(1);
    let (a, ta) = hub.member("Operator A", "private");
    let (_b, tb) = hub.member("Operator B", "private");
    let (_c, tc) = hub.member("Operator C", "private");
    // Reported five days after discovery: late for the 72 h deadline.
    let mut late = basic("Late", vec![ip("192.0.2.1")]);
    late["discovered"] = json!("2026-11-26T00:00:00Z");
    late["tlp"] = json!("green");
    let r = report(&hub, &ta, late);
    assert_eq!(r["reported_late"], true);
    // A ransom payment is due 24 h after the payment.
    let mut ransom = basic("Ransom paid", vec![ip("192.0.2.1")]);
    ransom["kind"] = json!("ransom-payment");
    ransom["occurred"] = json!("2026-11-30T12:00:00Z");
    ransom["tlp"] = json!("green");
    let rr = report(&hub, &tb, ransom);
    assert_eq!(rr["report_due"], "2026-12-01T12:00:00.000000Z");
    assert_eq!(rr["reported_late"], false);
    let overdue = hub
        .rest("GET", "/api/v1/incidents/overdue", &hub.admin, None)
        .json();
    let ids: Vec<&str> = overdue["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![r["id"].as_str().unwrap()]);
    // Thirty days on, B's final report is overdue too, and B sees only its own.
    clock.advance(Duration::from_secs(31 * 86_400));
    let overdue = hub
        .rest("GET", "/api/v1/incidents/overdue", &hub.admin, None)
        .json();
    assert_eq!(overdue["reports"].as_array().unwrap().len(), 2);
    let own = hub
        .rest("GET", "/api/v1/incidents/overdue", &tb, None)
        .json();
    assert_eq!(own["reports"].as_array().unwrap().len(), 1);
    assert_eq!(own["reports"][0]["final_overdue"], true);
    assert_eq!(
        own["reports"][0]["reporter"],
        hub.rest("GET", "/api/v1/whoami", &tb, None).json()["organization"]["id"]
    );
    // With common_after = 1, a value in two other visible reports is common: not listed.
    let rc = report(&hub, &tc, basic("Third", vec![ip("192.0.2.1")]));
    let corr = values(
        &hub.rest(
            "GET",
            &format!(
                "/api/v1/incidents/reports/{}/correlation",
                rc["id"].as_str().unwrap()
            ),
            &tc,
            None,
        )
        .json()["values"],
    );
    assert_eq!(
        find(&corr, "ipv4-addr:192.0.2.1"),
        &json!({"value": "ipv4-addr:192.0.2.1", "common": true})
    );
    let _ = a;
}

#[test]
fn taxii_writes_to_the_incidents_collection_are_refused() {
    let hub = Hub::start();
    let (_a, ta) = hub.member("Operator", "private");
    let incident = json!({"type": "incident", "spec_version": "2.1",
        "id": "incident--5c1f6f38-35b7-4b5e-8c7e-0d9b1f3e2a10",
        "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z", "name": "x"});
    let r = hub.call(
        "POST",
        &objects_path(INCIDENTS),
        Some(&ta),
        &[("Accept", TAXII), ("Content-Type", TAXII)],
        Some(&envelope(vec![incident]).to_string()),
    );
    assert_eq!(
        r.status, 403,
        "reports are filed through the reporting API: {}",
        r.body
    );
}
