//! One story through the store's whole interface, run on every backend.

use serde_json::{json, Value};

use hinomi_access::{OrgKind, Reader, Scope};
use hinomi_stix::{check_object, Timestamp, Tlp};
use hinomi_store::{
    Cursor, Location, NewObject, NewOrganization, ObjectQuery, Order, Outcome, Role, Store,
    StoreError, VersionFilter, PUBLIC_COLLECTION, SHARED_COLLECTION,
};

use crate::{backends, open};

fn indicator(n: u32, modified: &str, tlp: Option<Tlp>, audience: &[&str]) -> Value {
    let mut v = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", n % 250),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    });
    if let Some(t) = tlp {
        v["object_marking_refs"] = json!([t.marking_id()]);
    }
    if !audience.is_empty() {
        v["extensions"] = json!({hinomi_stix::HUB_EXTENSION_ID: {"extension_type": "property-extension", "audience": audience}});
    }
    v
}

fn new_obj(v: Value) -> NewObject {
    let c = check_object(v).expect("valid object");
    let tlp = c.tlp.unwrap_or(Tlp::Amber);
    NewObject::new(c, tlp)
}

fn reader(store: &Store, org_id: &str) -> Scope {
    let o = store.organization(org_id).unwrap();
    let mut keys = vec![o.identity_id.clone()];
    for c in store.communities().unwrap() {
        if c.members.contains(&o.id) {
            keys.push(c.identity_id);
        }
    }
    Scope::for_reader(&Reader::Organization {
        org_id: o.id,
        kind: o.kind,
        audience_keys: keys,
        peer_green: false,
    })
}

fn org(store: &Store, name: &str, kind: OrgKind, actor: &str) -> hinomi_store::Organization {
    store
        .create_organization(
            &NewOrganization {
                name: name.into(),
                kind,
                sectors: vec!["energy".into()],
                country: Some("JP".into()),
            },
            actor,
        )
        .unwrap()
}

#[test]
fn story_on_every_backend() {
    for (name, loc) in backends() {
        eprintln!("storage story on {name}");
        story(&loc);
    }
}

fn story(loc: &Location) {
    let store = open(loc);

    // Bootstrap once.
    let boot = store.bootstrap("JP-CERT hub", Some("JP")).unwrap();
    let coord = boot.organization.id.clone();
    assert!(matches!(
        store.bootstrap("again", None),
        Err(StoreError::AlreadyBootstrapped(_))
    ));
    let p = store
        .authenticate(&boot.token)
        .unwrap()
        .expect("bootstrap token works");
    assert_eq!(p.role, Role::Admin);
    assert_eq!(p.org.kind, OrgKind::Coordinator);
    assert!(store.authenticate("hnm_wrong").unwrap().is_none());

    // Organizations, tokens, revocation.
    let a = org(&store, "Ministry A", OrgKind::Government, &coord);
    let b = org(&store, "Power B", OrgKind::Private, &coord);
    assert!(
        store
            .create_token(&a.id, Role::Admin, None, &coord)
            .is_err(),
        "admin tokens only for the coordinator"
    );
    let (info, secret) = store
        .create_token(&a.id, Role::Member, Some("soc"), &coord)
        .unwrap();
    assert_eq!(store.authenticate(&secret).unwrap().unwrap().org.id, a.id);
    store.revoke_token(&info.id, &coord).unwrap();
    assert!(
        store.authenticate(&secret).unwrap().is_none(),
        "revoked token is refused"
    );
    assert!(matches!(
        store.revoke_token(&info.id, &coord),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.organizations().unwrap().len(), 3);

    // Communities become audience keys.
    let com = store
        .create_community("Energy ISAC", std::slice::from_ref(&b.id), &coord)
        .unwrap();
    assert!(store
        .create_community("bad", &["nope".into()], &coord)
        .is_err());
    let (_, bsecret) = store
        .create_token(&b.id, Role::Member, None, &coord)
        .unwrap();
    let bp = store.authenticate(&bsecret).unwrap().unwrap();
    assert!(bp.audience_keys.contains(&com.identity_id));
    assert!(bp.audience_keys.contains(&b.identity_id));

    // Each organization's identity is in the shared collection, GREEN.
    let scope_b = reader(&store, &b.id);
    let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope_b);
    q.types = vec!["identity".into()];
    assert!(q.scope.open.contains(Tlp::Green));
    assert_eq!(store.query_objects(&q).unwrap().items.len(), 3);
    // The hub's extension definitions (handling, incident report) are public.
    let anon = Scope::for_reader(&Reader::Anonymous);
    let q = ObjectQuery::new(PUBLIC_COLLECTION, &anon);
    let page = store.query_objects(&q).unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.items[0].json.contains(hinomi_stix::HUB_EXTENSION_ID));
    assert!(page.items[1]
        .json
        .contains(hinomi_stix::REPORT_EXTENSION_ID));

    // Ingest: new, duplicate, conflicting content, foreign owner.
    let v1 = indicator(1, "2026-01-01T00:00:00.000Z", Some(Tlp::Green), &[]);
    let v2 = indicator(1, "2026-02-01T00:00:00.000Z", Some(Tlp::Green), &[]);
    let out = store
        .add_objects(
            SHARED_COLLECTION,
            &a.id,
            vec![new_obj(v1.clone()), new_obj(v2.clone())],
        )
        .unwrap();
    assert_eq!(out, vec![Outcome::Added, Outcome::Added]);
    let out = store
        .add_objects(SHARED_COLLECTION, &a.id, vec![new_obj(v1.clone())])
        .unwrap();
    assert_eq!(out, vec![Outcome::Duplicate]);
    let mut changed = v1.clone();
    changed["name"] = json!("changed without new modified");
    assert!(matches!(
        store
            .add_objects(SHARED_COLLECTION, &a.id, vec![new_obj(changed)])
            .unwrap()[0],
        Outcome::Refused(_)
    ));
    let v3 = indicator(1, "2026-03-01T00:00:00.000Z", Some(Tlp::Green), &[]);
    assert!(
        matches!(store.add_objects(SHARED_COLLECTION, &b.id, vec![new_obj(v3.clone())]).unwrap()[0], Outcome::Refused(ref m) if m.contains("owner"))
    );

    // Versions: last (default), first, all, exact.
    let scope_a = reader(&store, &a.id);
    let versions_of = |vf: VersionFilter| -> Vec<String> {
        let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope_a);
        q.ids = vec![v1["id"].as_str().unwrap().into()];
        q.versions = vf;
        q.order = Order::Version;
        store
            .query_objects(&q)
            .unwrap()
            .items
            .iter()
            .map(|i| i.version.to_string())
            .collect()
    };
    assert_eq!(
        versions_of(VersionFilter::default()),
        vec!["2026-02-01T00:00:00.000000Z"]
    );
    assert_eq!(
        versions_of(VersionFilter {
            first: true,
            last: false,
            all: false,
            at: vec![]
        }),
        vec!["2026-01-01T00:00:00.000000Z"]
    );
    assert_eq!(
        versions_of(VersionFilter {
            all: true,
            ..Default::default()
        })
        .len(),
        2
    );
    let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    assert_eq!(
        versions_of(VersionFilter {
            last: false,
            at: vec![at],
            ..Default::default()
        }),
        vec!["2026-01-01T00:00:00.000000Z"]
    );
    // An older version arriving later does not become "last".
    let v0 = indicator(1, "2025-12-31T00:00:00.000Z", Some(Tlp::Green), &[]);
    let mut v0 = v0;
    v0["created"] = json!("2025-12-31T00:00:00.000Z");
    assert_eq!(
        store
            .add_objects(SHARED_COLLECTION, &a.id, vec![new_obj(v0)])
            .unwrap(),
        vec![Outcome::Added]
    );
    assert_eq!(
        versions_of(VersionFilter::default()),
        vec!["2026-02-01T00:00:00.000000Z"]
    );
    assert_eq!(
        versions_of(VersionFilter {
            first: true,
            last: false,
            all: false,
            at: vec![]
        }),
        vec!["2025-12-31T00:00:00.000000Z"]
    );

    // Keyset paging returns every object exactly once, in date_added order.
    let batch: Vec<NewObject> = (100..350)
        .map(|n| {
            new_obj(indicator(
                n,
                "2026-01-01T00:00:00.000Z",
                Some(Tlp::Clear),
                &[],
            ))
        })
        .collect();
    store.add_objects(SHARED_COLLECTION, &b.id, batch).unwrap();
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope_a);
        q.types = vec!["indicator".into()];
        q.limit = 37;
        q.after = after;
        let page = store.query_objects(&q).unwrap();
        pages += 1;
        assert!(page.items.len() <= 37);
        seen.extend(page.items.iter().map(|i| (i.date_added, i.stix_id.clone())));
        if !page.more {
            assert!(page.next.is_none());
            break;
        }
        after = page.next;
        assert!(Cursor::decode(&after.unwrap().encode()) == after);
    }
    assert_eq!(
        seen.len(),
        251,
        "250 CLEAR indicators + indicator 1 (latest)"
    );
    assert_eq!(pages, 7);
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly increasing date_added"
    );
    // added_after skips what came before.
    let mid = seen[100].0;
    let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope_a);
    q.types = vec!["indicator".into()];
    q.added_after = Some(mid);
    q.limit = 1000;
    assert_eq!(store.query_objects(&q).unwrap().items.len(), 150);

    // RED with an audience reaches the audience (through a community) and nobody else.
    let red = indicator(
        900,
        "2026-01-01T00:00:00.000Z",
        Some(Tlp::Red),
        &[&com.identity_id],
    );
    store
        .add_objects(SHARED_COLLECTION, &a.id, vec![new_obj(red.clone())])
        .unwrap();
    let ids_visible = |scope: &Scope| -> bool {
        let mut q = ObjectQuery::new(SHARED_COLLECTION, scope);
        q.ids = vec![red["id"].as_str().unwrap().into()];
        !store.query_objects(&q).unwrap().items.is_empty()
    };
    assert!(
        ids_visible(&reader(&store, &b.id)),
        "community member sees RED addressed to its community"
    );
    assert!(ids_visible(&reader(&store, &a.id)), "owner sees its RED");
    assert!(
        !ids_visible(&reader(&store, &coord)),
        "the coordinator does not see RED not addressed to it"
    );
    assert!(!ids_visible(&anon));

    // Deleting the latest version makes the previous one "last".
    let id1 = v1["id"].as_str().unwrap();
    let latest_only = VersionFilter::default();
    assert_eq!(
        store
            .delete_object(SHARED_COLLECTION, id1, Some(&b.id), &latest_only, &b.id)
            .unwrap(),
        0,
        "not the owner"
    );
    assert_eq!(
        store
            .delete_object(SHARED_COLLECTION, id1, Some(&a.id), &latest_only, &a.id)
            .unwrap(),
        1
    );
    assert_eq!(
        versions_of(VersionFilter::default()),
        vec!["2026-01-01T00:00:00.000000Z"]
    );
    assert_eq!(
        store.collections_holding(id1).unwrap(),
        vec![SHARED_COLLECTION.to_string()]
    );

    // Status resources.
    store
        .save_status("s-1", &a.id, &json!({"id": "s-1", "total_count": 1}))
        .unwrap();
    assert_eq!(store.status("s-1").unwrap().unwrap().0, a.id);
    assert!(store.status("nope").unwrap().is_none());

    // The audit log is chained, append-only, and covers admin actions and writes.
    assert_eq!(store.verify_audit_chain().unwrap(), None);
    let entries = store.audit_entries(0, 1000).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "hub.bootstrap",
        "organization.create",
        "token.create",
        "token.revoke",
        "community.create",
        "objects.add",
        "objects.delete",
    ] {
        assert!(actions.contains(&a), "audit has {a}");
    }
    drop(store);

    // Reopening keeps everything; the schema version is current.
    let store = open(loc);
    assert_eq!(
        store.schema_version().unwrap(),
        hinomi_store::SCHEMA_VERSION
    );
    assert!(store.authenticate(&boot.token).unwrap().is_some());
    assert_eq!(store.verify_audit_chain().unwrap(), None);
}

#[test]
fn audit_log_refuses_updates_sqlite() {
    let loc = crate::sqlite_location();
    let store = open(&loc);
    store.bootstrap("hub", None).unwrap();
    let Location::Sqlite(path) = &loc else {
        unreachable!()
    };
    let c = rusqlite::Connection::open(path).unwrap();
    let e = c
        .execute("UPDATE audit_log SET action = 'forged'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(c.execute("DELETE FROM audit_log", []).is_err());
}

#[test]
fn newer_schema_is_refused() {
    for (name, loc) in backends() {
        let store = open(&loc);
        drop(store);
        let bump = "INSERT INTO schema_version (version) VALUES (999)";
        match &loc {
            Location::Sqlite(p) => {
                rusqlite::Connection::open(p)
                    .unwrap()
                    .execute(bump, [])
                    .unwrap();
            }
            Location::Postgres(url) => {
                postgres::Client::connect(url, postgres::NoTls)
                    .unwrap()
                    .batch_execute(bump)
                    .unwrap();
            }
        }
        match Store::open(&loc) {
            Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
            Err(e) => panic!("{name}: wrong error {e}"),
            Ok(_) => panic!("{name}: opened a newer schema"),
        }
    }
}

#[test]
fn backup_and_restore_sqlite() {
    let loc = crate::sqlite_location();
    let store = open(&loc);
    let boot = store.bootstrap("hub", None).unwrap();
    let dir = std::env::temp_dir().join(format!("hinomi-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let backup = dir.join("backup.db");
    store.backup(&backup).unwrap();
    assert!(store.backup(&backup).is_err(), "never overwrites");
    // Written after the backup: not in it.
    store
        .create_organization(
            &NewOrganization {
                name: "late".into(),
                kind: OrgKind::Private,
                sectors: vec![],
                country: None,
            },
            &boot.organization.id,
        )
        .unwrap();

    let restored = dir.join("data").join("hinomi.db");
    Store::restore(&backup, &restored, false).unwrap();
    assert!(
        Store::restore(&backup, &restored, false).is_err(),
        "refuses to replace without force"
    );
    let r = Store::open(&Location::Sqlite(restored)).unwrap();
    assert_eq!(r.organizations().unwrap().len(), 1);
    assert!(r.authenticate(&boot.token).unwrap().is_some());
    assert_eq!(r.verify_audit_chain().unwrap(), None);
    assert!(Store::restore(&dir.join("missing.db"), &dir.join("x.db"), false).is_err());
}

fn advisory(
    tracking: &str,
    version: &str,
    current: &str,
    tlp: Tlp,
    score: i64,
) -> hinomi_store::NewAdvisory {
    hinomi_store::NewAdvisory {
        publisher: "Example PSIRT".into(),
        tracking_id: tracking.into(),
        version: version.into(),
        title: format!("{tracking} v{version}"),
        initial_release: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        current_release: Timestamp::parse(current).unwrap(),
        tlp,
        vulnerabilities: vec![hinomi_store::AdvisoryVulnerability {
            cve: Some("CVE-2026-0001".into()),
            cwe: Some("CWE-79".into()),
            max_score: Some(score),
            severity: Some(hinomi_store::severity_of(score).into()),
        }],
        products: vec![hinomi_store::AdvisoryProduct {
            product_id: "P1".into(),
            vendor: Some("Example".into()),
            product: Some("Widget Controller".into()),
            version: Some("1.2".into()),
            purl: None,
            cpe: None,
        }],
        json: format!("{{\"v\":\"{version}\",\"t\":\"{tracking}\"}}"),
    }
}

#[test]
fn advisory_revisions_search_and_kev_on_every_backend() {
    use hinomi_store::{AdvisoryOutcome, AdvisoryQuery, KevEntry};
    for (name, loc) in backends() {
        let store = open(&loc);
        let boot = store.bootstrap("hub", None).unwrap();
        let a = org(&store, "A", OrgKind::Private, &boot.organization.id);
        let b = org(&store, "B", OrgKind::Private, &boot.organization.id);
        let r1 = advisory("EX-1", "1", "2026-01-01T00:00:00Z", Tlp::Clear, 75);
        let r2 = advisory("EX-1", "2", "2026-02-01T00:00:00Z", Tlp::Clear, 98);
        assert_eq!(
            store.add_advisory(&a.id, &r2).unwrap(),
            AdvisoryOutcome::Added,
            "{name}"
        );
        // An older revision arriving later is stored but does not become current.
        assert_eq!(
            store.add_advisory(&a.id, &r1).unwrap(),
            AdvisoryOutcome::Added
        );
        assert_eq!(
            store.add_advisory(&a.id, &r1).unwrap(),
            AdvisoryOutcome::Duplicate
        );
        let mut changed = r1.clone();
        changed.json = "{\"other\":1}".into();
        assert!(matches!(
            store.add_advisory(&a.id, &changed).unwrap(),
            AdvisoryOutcome::Refused(_)
        ));
        assert!(
            matches!(store.add_advisory(&b.id, &advisory("EX-1", "3", "2026-03-01T00:00:00Z", Tlp::Clear, 10)).unwrap(), AdvisoryOutcome::Refused(m) if m.contains("another organization"))
        );
        store
            .add_advisory(
                &a.id,
                &advisory("EX-2", "1", "2026-01-15T00:00:00Z", Tlp::Amber, 30),
            )
            .unwrap();

        let scope_b = reader(&store, &b.id);
        let q = |f: &dyn Fn(&mut AdvisoryQuery)| {
            let mut q = AdvisoryQuery {
                limit: 100,
                ..AdvisoryQuery::default()
            };
            f(&mut q);
            store
                .query_advisories(&scope_b, &q)
                .unwrap()
                .0
                .iter()
                .map(|s| format!("{}@{}", s.tracking_id, s.version))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            q(&|_| {}),
            vec!["EX-1@2"],
            "{name}: AMBER EX-2 hidden from B, only the current revision"
        );
        assert_eq!(q(&|x| x.all_revisions = true), vec!["EX-1@2", "EX-1@1"]);
        assert_eq!(
            q(&|x| x.min_severity = Some("critical".into())),
            vec!["EX-1@2"]
        );
        assert_eq!(q(&|x| x.vendor = Some("EXAM".into())), vec!["EX-1@2"]);
        assert_eq!(
            q(&|x| x.product = Some("controller".into())),
            vec!["EX-1@2"]
        );
        assert!(q(&|x| x.cve = Some("CVE-2026-9999".into())).is_empty());
        let scope_a = reader(&store, &a.id);
        let all = store
            .query_advisories(
                &scope_a,
                &AdvisoryQuery {
                    limit: 1,
                    ..AdvisoryQuery::default()
                },
            )
            .unwrap();
        assert_eq!(all.0.len(), 1);
        let next = all.1.expect("a second page");
        let page2 = store
            .query_advisories(
                &scope_a,
                &AdvisoryQuery {
                    limit: 1,
                    after: Some(next),
                    ..AdvisoryQuery::default()
                },
            )
            .unwrap();
        assert_eq!(page2.0[0].tracking_id, "EX-2");
        assert!(store
            .advisory_document(&scope_b, "EX-2", None)
            .unwrap()
            .is_none());
        assert_eq!(
            store
                .advisory_document(&scope_b, "EX-1", Some("1"))
                .unwrap()
                .unwrap(),
            r1.json
        );

        let kev = |cve: &str, name: &str| KevEntry {
            cve: cve.into(),
            vendor_project: "V".into(),
            product: "P".into(),
            name: name.into(),
            date_added: "2026-01-01".into(),
            due_date: None,
            ransomware: None,
            json: format!("{{\"{cve}\":\"{name}\"}}"),
        };
        let r = store
            .import_kev(
                &[kev("CVE-2026-0001", "a"), kev("CVE-2026-0002", "b")],
                &boot.organization.id,
            )
            .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged), (2, 0, 0));
        let r = store
            .import_kev(
                &[kev("CVE-2026-0001", "a"), kev("CVE-2026-0002", "b2")],
                &boot.organization.id,
            )
            .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
        let s = store
            .query_advisories(
                &scope_b,
                &AdvisoryQuery {
                    limit: 10,
                    ..AdvisoryQuery::default()
                },
            )
            .unwrap()
            .0;
        assert_eq!(s[0].known_exploited, vec!["CVE-2026-0001"]);
        // Past both databases' parameter limits, duplicates and all.
        let many: Vec<String> = (0..70_000)
            .map(|i| format!("CVE-2026-{:04}", i % 40_000))
            .collect();
        assert_eq!(
            store.known_exploited(&many).unwrap(),
            vec!["CVE-2026-0001", "CVE-2026-0002"],
            "{name}"
        );
    }
}

#[test]
fn inventories_and_findings_are_not_re_raised_on_every_backend() {
    use hinomi_store::{FindingRow, FindingScope};
    for (name, loc) in backends() {
        let store = open(&loc);
        let boot = store.bootstrap("hub", None).unwrap();
        let a = org(&store, "A", OrgKind::Private, &boot.organization.id);
        let b = org(&store, "B", OrgKind::Private, &boot.organization.id);
        store
            .put_inventory(&a.id, "web-1", "components", 2, "{\"components\":[]}")
            .unwrap();
        store
            .put_inventory(&a.id, "web-1", "components", 3, "{\"components\":[1]}")
            .unwrap();
        store
            .put_inventory(&b.id, "plc-7", "cyclonedx", 1, "{}")
            .unwrap();
        assert!(store
            .put_inventory(&a.id, " ", "components", 0, "{}")
            .is_err());
        assert_eq!(
            store.inventories(Some(&a.id)).unwrap().len(),
            1,
            "{name}: replaced, not added"
        );
        assert_eq!(store.inventories(Some(&a.id)).unwrap()[0].components, 3);
        assert_eq!(store.inventories(None).unwrap().len(), 2);

        let row = |org: &str, asset: &str, status: &str| FindingRow {
            org_id: org.into(),
            asset: asset.into(),
            component_index: 0,
            component: "openssl@3.0.1".into(),
            publisher: "P".into(),
            tracking_id: "T-1".into(),
            vulnerability: "CVE-2026-0001".into(),
            product_id: "PID".into(),
            status: status.into(),
            max_score: Some(98),
            detail: json!({"remediations": []}),
            first_seen: Timestamp(0),
            changed: Timestamp(0),
        };
        let by_advisory = FindingScope::Advisory {
            publisher: "P".into(),
            tracking_id: "T-1".into(),
        };
        let fresh = store
            .replace_findings(
                &by_advisory,
                vec![
                    row(&a.id, "web-1", "affected"),
                    row(&b.id, "plc-7", "affected"),
                ],
            )
            .unwrap();
        assert_eq!(fresh.len(), 2);
        // A new revision that changes nothing raises nothing (CSAF §9.1.13).
        let fresh = store
            .replace_findings(
                &by_advisory,
                vec![
                    row(&a.id, "web-1", "affected"),
                    row(&b.id, "plc-7", "affected"),
                ],
            )
            .unwrap();
        assert!(fresh.is_empty(), "{name}");
        let fresh = store
            .replace_findings(
                &by_advisory,
                vec![
                    row(&a.id, "web-1", "fixed"),
                    row(&b.id, "plc-7", "affected"),
                ],
            )
            .unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].status, "fixed");
        assert_eq!(store.findings(Some(&a.id)).unwrap().len(), 1);
        let picture = store.affected_by_advisory().unwrap();
        assert_eq!(picture[0]["organizations_affected"], 1);
        assert!(store.delete_inventory(&b.id, "plc-7").unwrap());
        assert!(store.findings(Some(&b.id)).unwrap().is_empty());
        assert!(!store.delete_inventory(&b.id, "plc-7").unwrap());
    }
}

/// A new SQLite store is private to its user: directory 0700, database (and its WAL)
/// 0600.
#[cfg(unix)]
#[test]
fn new_sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let loc = crate::sqlite_location();
    let hinomi_store::Location::Sqlite(path) = &loc else {
        unreachable!()
    };
    let store = open(&loc);
    store.bootstrap("hub", None).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(path), 0o600);
    let wal = path.with_extension("db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
}

/// Runs raw SQL on the store's database, as an operator (or the old code) would.
fn raw(loc: &Location, sql: &str) {
    match loc {
        Location::Sqlite(p) => rusqlite::Connection::open(p)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        Location::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
            .unwrap()
            .batch_execute(sql)
            .unwrap(),
    }
}

/// Schema 15 mends objects received from peers before received audiences were
/// replaced: the audience a peer named goes, the coordinator's grants (read back from
/// the audit log) stay, received AMBER is the coordinator's.
#[test]
fn schema_15_takes_received_objects_back_from_the_audience_a_peer_named() {
    for (name, loc) in backends() {
        eprintln!("received audiences on {name}");
        let store = open(&loc);
        let boot = store.bootstrap("hub", None).unwrap();
        let coord = boot.organization.clone();
        let victim = org(&store, "Victim", OrgKind::Government, &coord.id);
        let granted = org(&store, "Granted", OrgKind::Government, &coord.id);
        let fed = hinomi_store::FEDERATION_COLLECTION;
        // As the old ingest stored them: the peer's audience as sent.
        let amber = indicator(
            1,
            "2026-01-01T00:00:00.000Z",
            Some(Tlp::Amber),
            &[&coord.identity_id, &victim.identity_id],
        );
        let green = indicator(
            2,
            "2026-01-01T00:00:00.000Z",
            Some(Tlp::Amber),
            &[&victim.identity_id],
        );
        let out = store
            .add_objects(fed, "peer-org", vec![new_obj(amber), new_obj(green)])
            .unwrap();
        assert!(out.iter().all(|o| *o == Outcome::Added), "{out:?}");
        let amber_id = "indicator--00000000-0000-4000-8000-000000000001";
        store
            .extend_audience(
                fed,
                amber_id,
                &[coord.identity_id.clone(), granted.identity_id.clone()],
                &coord.id,
            )
            .unwrap();
        // Before schema 14 the grant lived only in the audit log.
        raw(
            &loc,
            "DELETE FROM received_grants; DELETE FROM schema_version WHERE version = 15",
        );
        let sees = |store: &Store, o: &hinomi_store::Organization| -> Vec<String> {
            let scope = reader(store, &o.id);
            let q = ObjectQuery::new(fed, &scope);
            store
                .query_objects(&q)
                .unwrap()
                .items
                .into_iter()
                .map(|i| i.stix_id)
                .collect()
        };
        assert_eq!(
            sees(&store, &victim).len(),
            2,
            "the old state: the peer addressed the victim"
        );
        drop(store);
        let store = open(&loc);
        assert!(
            sees(&store, &victim).is_empty(),
            "{name}: the victim still reads what the peer addressed to it"
        );
        assert_eq!(
            sees(&store, &granted),
            vec![amber_id.to_string()],
            "{name}: the grant is lost"
        );
        assert_eq!(
            sees(&store, &coord).len(),
            2,
            "{name}: the coordinator lost sight"
        );
        let grants = store.received_grants(&[amber_id.to_string()]).unwrap();
        assert!(
            grants[amber_id].contains(&granted.identity_id),
            "{grants:?}"
        );
    }
}

/// A version received from a peer gets the coordinator's grants in the transaction
/// that stores it, even when the caller built it before the grant committed.
#[test]
fn received_versions_get_the_grants_committed_before_them() {
    for (name, loc) in backends() {
        let store = open(&loc);
        let boot = store.bootstrap("hub", None).unwrap();
        let coord = boot.organization.clone();
        let granted = org(&store, "Granted", OrgKind::Government, &coord.id);
        let fed = hinomi_store::FEDERATION_COLLECTION;
        let id = "indicator--00000000-0000-4000-8000-000000000001";
        let v1 = indicator(
            1,
            "2026-01-01T00:00:00.000Z",
            Some(Tlp::Amber),
            &[&coord.identity_id],
        );
        store
            .add_objects(fed, "peer-org", vec![new_obj(v1)])
            .unwrap();
        // The ingest of version 2 was prepared (grants read: none) ...
        let v2 = indicator(
            1,
            "2026-01-02T00:00:00.000Z",
            Some(Tlp::Amber),
            &[&coord.identity_id],
        );
        let prepared = new_obj(v2);
        // ... when the coordinator's grant committed.
        store
            .extend_audience(
                fed,
                id,
                &[coord.identity_id.clone(), granted.identity_id.clone()],
                &coord.id,
            )
            .unwrap();
        store.add_objects(fed, "peer-org", vec![prepared]).unwrap();
        let scope = reader(&store, &granted.id);
        let mut q = ObjectQuery::new(fed, &scope);
        q.versions = VersionFilter {
            all: true,
            ..VersionFilter::default()
        };
        let got = store.query_objects(&q).unwrap().items;
        assert_eq!(got.len(), 2, "{name}: the new version missed the grant");
    }
}
