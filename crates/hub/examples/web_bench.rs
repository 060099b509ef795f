//! Web UI render benchmark: every page, served over loopback HTTP to a signed-in
//! person (or the public), with a national-scale store.
//!
//! ```text
//! cargo run --release -p hinomi-hub --example web_bench -- \
//!     [--objects 1000000] [--warnings 10000] [--incidents 10000] [--requests 200] \
//!     [--database-url postgres://…]
//! ```
//!
//! Setup (timed, reported): ten member organizations; `--objects` indicators in the
//! shared collection; `--warnings` warnings published through the warnings service
//! (a third TLP:CLEAR, to everyone; the rest TLP:AMBER to one member each, some
//! acknowledged); `--incidents` incident reports filed through the incident service by
//! the members (each opens a case, with three observables). A member analyst and a
//! coordinator analyst are invited, enrolled and signed in through the accounts
//! service. PostgreSQL is analyzed after the load, as autovacuum would.
//!
//! Then each page is requested `--requests` times in turn, as the person who sees it,
//! and the time from sending the request to the last byte of the answer is recorded:
//! one JSON line per page with p50, p95 and max in milliseconds, and a summary line.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use hinomi_access::OrgKind;
use hinomi_hub::service::accounts::{self, AcceptInput};
use hinomi_hub::service::{incidents, warnings, Viewer};
use hinomi_hub::{AppState, HubConfig, TestServer};
use hinomi_stix::{check_object, Tlp};
use hinomi_store::{NewObject, NewOrganization, Store, SHARED_COLLECTION};

mod common;
use common::{bench_location, percentile};

struct Args {
    objects: usize,
    warnings: usize,
    incidents: usize,
    requests: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        objects: 1_000_000,
        warnings: 10_000,
        incidents: 10_000,
        requests: 200,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--objects" => a.objects = v.parse().expect("--objects N"),
            "--warnings" => a.warnings = v.parse().expect("--warnings N"),
            "--incidents" => a.incidents = v.parse().expect("--incidents N"),
            "--requests" => a.requests = v.parse().expect("--requests N"),
            "--database-url" => a.database_url = Some(v),
            "--help" | "-h" => {
                eprintln!("usage: web_bench [--objects N] [--warnings N] [--incidents N] [--requests N] [--database-url URL]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (try --help)"),
        }
    }
    a
}

fn unbase32(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            _ => c - b'2' + 26,
        };
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

/// Invites, enrols and signs in a person; answers their session cookie.
fn person(s: &AppState, admin: &Viewer, org: &str, email: &str) -> String {
    let inv = accounts::invite(s, admin, None, org, email, "analyst").expect("invite");
    let e = accounts::enrolment(s, &inv.secret).expect("enrolment");
    let step = s.config.clock.now().micros() / 1_000_000 / 30;
    let code = accounts::totp(&unbase32(&e.totp_secret), step);
    let n = accounts::accept(
        s,
        &inv.secret,
        AcceptInput {
            name: email.into(),
            password: "a passphrase long enough".into(),
            password_again: "a passphrase long enough".into(),
            locale: "ja".into(),
            sealed: e.sealed,
            code,
        },
        None,
    )
    .expect("accept");
    format!("hinomi_session={}", n.secret)
}

fn main() {
    let a = args();
    let location = bench_location(a.database_url.as_deref(), "webbench");
    let backend = if a.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let store = Arc::new(Store::open(&location).expect("open the store"));
    let boot = store
        .bootstrap("Coordinator", Some("JP"))
        .expect("bootstrap");
    let mut members = Vec::new();
    for i in 0..10 {
        members.push(
            store
                .create_organization(
                    &NewOrganization {
                        name: format!("Member {i}"),
                        kind: OrgKind::LocalGovernment,
                        sectors: vec!["water".into()],
                        country: Some("JP".into()),
                    },
                    &boot.organization.id,
                )
                .expect("create organization"),
        );
    }

    // Objects.
    let t = Instant::now();
    let mut stored = 0;
    while stored < a.objects {
        let n = 1000.min(a.objects - stored);
        let owner = &members[(stored / 1000) % members.len()];
        let objects: Vec<NewObject> = (0..n)
            .map(|i| {
                let k = stored + i;
                let v = json!({"type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                    "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z",
                    "created_by_ref": owner.identity_id, "name": format!("C2 {k}"),
                    "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", (k >> 16) & 255, (k >> 8) & 255, k & 255),
                    "pattern_type": "stix", "valid_from": "2026-12-01T00:00:00Z",
                    "object_marking_refs": [Tlp::Green.marking_id()]});
                NewObject::new(check_object(v).expect("valid"), Tlp::Green)
            })
            .collect();
        store
            .add_objects(SHARED_COLLECTION, &owner.id, objects)
            .expect("store a batch");
        stored += n;
        if stored % 200_000 == 0 {
            eprintln!(
                "loaded {stored} objects in {:.0} s",
                t.elapsed().as_secs_f64()
            );
        }
    }
    let load_objects = t.elapsed().as_secs_f64();

    let state = AppState::new(store.clone(), HubConfig::default()).expect("state");
    let coordinator = Viewer::console(&store, None).expect("console");
    let member_views: Vec<Viewer> = members
        .iter()
        .map(|m| Viewer::console(&store, Some(&m.id)).expect("member console"))
        .collect();

    // Warnings.
    let t = Instant::now();
    let mut amber_for_member0 = String::new();
    let mut clear = String::new();
    for i in 0..a.warnings {
        let public = i % 3 == 0;
        let to = &members[i % members.len()];
        let severity = ["low", "medium", "high", "critical"][i % 4];
        let inp: warnings::WarningInput = serde_json::from_value(json!({
            "title": {"en": format!("Warning {i}: exploitation of a VPN appliance"), "ja": format!("注意喚起 {i}: VPN 装置の脆弱性悪用")},
            "summary": {"en": "Attackers exploit an unpatched VPN appliance.", "ja": "未修正の VPN 装置が悪用されています。"},
            "severity": severity,
            "tlp": if public { "clear" } else { "amber" },
            "audience": if public { json!({"all": true}) } else { json!({"organizations": [to.id]}) },
            "ack_required": !public,
        }))
        .expect("warning input");
        let w = warnings::create(&state, &coordinator, inp).expect("create warning");
        let id = w["id"].as_str().unwrap().to_string();
        warnings::publish_draft(&state, &coordinator, &id).expect("publish");
        if public {
            clear = id.clone();
        } else if i % members.len() == 0 {
            amber_for_member0 = id.clone();
            if i % 4 == 0 {
                let st: warnings::StatusInput =
                    serde_json::from_value(json!({"status": "acknowledged"})).unwrap();
                warnings::acknowledge(&state, &member_views[0], &id, st).expect("ack");
            }
        }
        if (i + 1) % 2000 == 0 {
            eprintln!(
                "published {} warnings in {:.0} s",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let load_warnings = t.elapsed().as_secs_f64();

    // Incidents.
    let t = Instant::now();
    let mut report0 = String::new();
    let mut case0 = String::new();
    for i in 0..a.incidents {
        let m = i % members.len();
        let inp: incidents::ReportInput = serde_json::from_value(json!({
            "title": format!("Incident {i}: ransomware on a file server"),
            "description": "Files encrypted overnight.",
            "discovered": "2026-12-06T08:00:00Z",
            "objects": incidents::observables(&format!("198.51.{}.{}\nevil{}.example\n{:064x}", (i >> 8) & 255, i & 255, i % 500, i)).unwrap(),
        }))
        .expect("report input");
        let v = incidents::report(&state, &member_views[m], inp).expect("report");
        if m == 0 {
            report0 = v["id"].as_str().unwrap().to_string();
            case0 = v["incident"].as_str().unwrap().to_string();
        }
        if (i + 1) % 2000 == 0 {
            eprintln!(
                "filed {} reports in {:.0} s",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let load_incidents = t.elapsed().as_secs_f64();
    if let hinomi_store::Location::Postgres(u) = &location {
        let mut c = postgres::Client::connect(u, postgres::NoTls).expect("connect");
        c.batch_execute("ANALYZE").expect("analyze");
    }
    println!(
        "{}",
        json!({"figure": "web-load", "backend": backend, "objects": a.objects, "warnings": a.warnings,
            "incidents": a.incidents, "objects_s": round(load_objects), "warnings_s": round(load_warnings),
            "incidents_s": round(load_incidents)})
    );

    let member_cookie = person(
        &state,
        &coordinator,
        &members[0].id,
        "analyst@member0.example",
    );
    let coord_cookie = person(
        &state,
        &coordinator,
        &boot.organization.id,
        "duty@coordinator.example",
    );
    drop(state);
    let server = TestServer::start(store.clone(), HubConfig::default());
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let pages: Vec<(&str, String, Option<&str>)> = vec![
        ("public list", "/public".into(), None),
        ("public search", "/public?q=VPN+appliance".into(), None),
        // Matches nothing: the page looks at its whole scan bound.
        (
            "public search, no match",
            "/public?q=nomatchanywhere".into(),
            None,
        ),
        ("public warning", format!("/public/warnings/{clear}"), None),
        ("atom feed", "/public/feed.atom".into(), None),
        ("login", "/login".into(), None),
        ("member inbox", "/inbox".into(), Some(&member_cookie)),
        (
            "member warning",
            format!("/warnings/{amber_for_member0}"),
            Some(&member_cookie),
        ),
        ("member reports", "/reports".into(), Some(&member_cookie)),
        (
            "member report",
            format!("/reports/{report0}"),
            Some(&member_cookie),
        ),
        ("report form", "/report".into(), Some(&member_cookie)),
        ("account", "/account".into(), Some(&member_cookie)),
        ("dashboard", "/dashboard".into(), Some(&coord_cookie)),
        ("incident list", "/incidents".into(), Some(&coord_cookie)),
        (
            "incident case",
            format!("/incidents/{case0}"),
            Some(&coord_cookie),
        ),
        ("coordinator inbox", "/inbox".into(), Some(&coord_cookie)),
        ("public advisories", "/public/advisories".into(), None),
        ("member findings", "/findings".into(), Some(&member_cookie)),
        ("member assets", "/assets".into(), Some(&member_cookie)),
        ("exercises", "/exercises".into(), Some(&coord_cookie)),
        (
            "warning authoring",
            "/warnings/new".into(),
            Some(&coord_cookie),
        ),
    ];
    let mut worst: (f64, &str) = (0.0, "");
    for (name, path, cookie) in &pages {
        let url = format!("{}{path}", server.url());
        let mut times = Vec::with_capacity(a.requests);
        for _ in 0..a.requests {
            let mut r = agent.get(&url);
            if let Some(c) = cookie {
                r = r.set("Cookie", c);
            }
            let t = Instant::now();
            let resp = r.call().unwrap_or_else(|e| panic!("{name} {path}: {e}"));
            assert_eq!(resp.status(), 200, "{name} {path}");
            let body = resp.into_string().expect("body");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(body.len() > 200, "{name}: {body}");
        }
        times.sort_by(f64::total_cmp);
        let (p50, p95, max) = (
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            *times.last().unwrap(),
        );
        if p95 > worst.0 {
            worst = (p95, name);
        }
        let line = json!({"figure": "web-render", "backend": backend, "page": name,
            "p50_ms": round(p50), "p95_ms": round(p95), "max_ms": round(max), "requests": a.requests});
        println!("{line}");
    }
    println!(
        "{}",
        json!({"figure": "web-render-summary", "backend": backend, "pages": pages.len(),
            "worst_p95_ms": round(worst.0), "worst_page": worst.1, "goal_p95_ms": 50})
    );
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
