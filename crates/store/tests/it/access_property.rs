//! Property test of the access rule at the storage level: random organizations,
//! communities and objects with random TLP and audience; for every reader, what a query
//! returns equals what DESIGN.md's table says, written out independently here.

use std::collections::BTreeSet;

use serde_json::json;

use hinomi_access::{OrgKind, Reader, Scope};
use hinomi_stix::{check_object, Tlp};
use hinomi_store::{NewObject, NewOrganization, ObjectQuery, Organization, SHARED_COLLECTION};

use crate::{backends, open};

/// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct World {
    orgs: Vec<Organization>,
    /// community identity → member org ids
    communities: Vec<(String, Vec<String>)>,
}

/// DESIGN.md's table, spelled out without the access crate.
fn oracle(
    world: &World,
    reader: &Organization,
    owner: &str,
    tlp: Tlp,
    audience: &[String],
) -> bool {
    if reader.id == owner {
        return true;
    }
    let named = audience.iter().any(|a| {
        *a == reader.identity_id
            || world
                .communities
                .iter()
                .any(|(id, members)| id == a && members.contains(&reader.id))
    });
    let peer = reader.kind == OrgKind::PeerHub;
    let coordinator = reader.kind == OrgKind::Coordinator;
    match tlp {
        Tlp::Clear => true,
        Tlp::Green => !peer,
        Tlp::Amber => named || (coordinator && audience.is_empty()),
        Tlp::AmberStrict => !peer && (named || (coordinator && audience.is_empty())),
        Tlp::Red => !peer && named,
    }
}

#[test]
fn query_results_equal_the_table() {
    for (name, loc) in backends() {
        for seed in [1u64, 7, 42] {
            run(&name, &loc_for(&loc, seed), seed);
        }
    }
}

fn loc_for(loc: &hinomi_store::Location, _seed: u64) -> hinomi_store::Location {
    match loc {
        hinomi_store::Location::Sqlite(_) => crate::sqlite_location(),
        hinomi_store::Location::Postgres(_) => {
            crate::postgres_location(&std::env::var("HINOMI_TEST_DATABASE_URL").unwrap_or_default())
        }
    }
}

fn run(backend: &str, loc: &hinomi_store::Location, seed: u64) {
    let store = open(loc);
    let mut rng = Rng::new(seed);
    let boot = store.bootstrap("coordinator", None).unwrap();
    let coord = boot.organization.id.clone();
    let kinds = [
        OrgKind::Government,
        OrgKind::LocalGovernment,
        OrgKind::Private,
        OrgKind::Isac,
        OrgKind::LawEnforcement,
        OrgKind::PeerHub,
    ];
    let mut orgs = vec![boot.organization.clone()];
    for i in 0..7 {
        let kind = kinds[rng.below(kinds.len())];
        orgs.push(
            store
                .create_organization(
                    &NewOrganization {
                        name: format!("org {i}"),
                        kind,
                        sectors: vec![],
                        country: None,
                    },
                    &coord,
                )
                .unwrap(),
        );
    }
    let mut communities = Vec::new();
    for i in 0..3 {
        let members: Vec<String> = orgs
            .iter()
            .filter(|_| rng.below(3) == 0)
            .map(|o| o.id.clone())
            .collect();
        let c = store
            .create_community(&format!("community {i}"), &members, &coord)
            .unwrap();
        communities.push((c.identity_id, members));
    }
    let world = World { orgs, communities };
    let audience_pool: Vec<String> = world
        .orgs
        .iter()
        .map(|o| o.identity_id.clone())
        .chain(world.communities.iter().map(|c| c.0.clone()))
        .collect();

    // Random objects from random owners.
    let mut expected_objects = Vec::new();
    for n in 0..120u32 {
        let owner = &world.orgs[rng.below(world.orgs.len())];
        let tlp = Tlp::ALL[rng.below(5)];
        let mut audience: Vec<String> = Vec::new();
        for _ in 0..rng.below(3) {
            let a = audience_pool[rng.below(audience_pool.len())].clone();
            if !audience.contains(&a) {
                audience.push(a);
            }
        }
        if tlp == Tlp::Red && audience.is_empty() {
            audience.push(audience_pool[rng.below(audience_pool.len())].clone());
        }
        let mut v = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--10000000-0000-4000-8000-{n:012}"),
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[domain-name:value = 'example.org']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "object_marking_refs": [tlp.marking_id()],
        });
        if !audience.is_empty() {
            v["extensions"] = json!({hinomi_stix::HUB_EXTENSION_ID: {"extension_type": "property-extension", "audience": audience}});
        }
        let c = check_object(v).unwrap();
        store
            .add_objects(SHARED_COLLECTION, &owner.id, vec![NewObject::new(c, tlp)])
            .unwrap();
        expected_objects.push((
            format!("indicator--10000000-0000-4000-8000-{n:012}"),
            owner.id.clone(),
            tlp,
            audience,
        ));
    }

    for reader in &world.orgs {
        let keys: Vec<String> = std::iter::once(reader.identity_id.clone())
            .chain(
                world
                    .communities
                    .iter()
                    .filter(|c| c.1.contains(&reader.id))
                    .map(|c| c.0.clone()),
            )
            .collect();
        let scope = Scope::for_reader(&Reader::Organization {
            org_id: reader.id.clone(),
            kind: reader.kind,
            audience_keys: keys,
            peer_green: false,
        });
        let want: BTreeSet<String> = expected_objects
            .iter()
            .filter(|(_, owner, tlp, aud)| oracle(&world, reader, owner, *tlp, aud))
            .map(|(id, ..)| id.clone())
            .collect();
        let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope);
        q.types = vec!["indicator".into()];
        q.limit = 10_000;
        let got: BTreeSet<String> = store
            .query_objects(&q)
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.stix_id)
            .collect();
        let leaked: Vec<_> = got.difference(&want).collect();
        let missing: Vec<_> = want.difference(&got).collect();
        assert!(
            leaked.is_empty() && missing.is_empty(),
            "{backend} seed {seed}: reader {} ({:?}) leaked {leaked:?} missing {missing:?}",
            reader.name,
            reader.kind
        );
        // Single-object reads agree too.
        for (id, ..) in expected_objects.iter().take(30) {
            let mut q = ObjectQuery::new(SHARED_COLLECTION, &scope);
            q.ids = vec![id.clone()];
            let visible = !store.query_objects(&q).unwrap().items.is_empty();
            assert_eq!(
                visible,
                want.contains(id),
                "{backend} seed {seed}: single read of {id} by {}",
                reader.name
            );
        }
    }
}
