//! Matching advisories against inventories; CVSS and KEV against the shared
//! corpora.

use hinomi_csaf::inventory::{Component, Inventory};
use hinomi_csaf::matching::{InventoryIndex, MatchedBy, Matcher, Status};
use serde_json::{json, Value};

use crate::corpora::json_files;
use crate::{load, shared};

fn advisory() -> Value {
    json!({
        "product_tree": {
            "branches": [{"category": "vendor", "name": "lodash", "branches": [
                {"category": "product_name", "name": "lodash", "branches": [
                    {"category": "product_version_range", "name": "vers:npm/<4.17.21",
                     "product": {"product_id": "LODASH-OLD", "name": "lodash < 4.17.21",
                        "product_identification_helper": {"purl": "pkg:npm/lodash"}}},
                    {"category": "product_version", "name": "4.17.21",
                     "product": {"product_id": "LODASH-FIXED", "name": "lodash 4.17.21",
                        "product_identification_helper": {"purl": "pkg:npm/lodash@4.17.21"}}}]}]},
              {"category": "vendor", "name": "Siemens", "branches": [
                {"category": "product_name", "name": "SIMATIC S7", "branches": [
                    {"category": "product_version_range", "name": "vers:generic/>=2.0|<3.0",
                     "product": {"product_id": "S7-2", "name": "SIMATIC S7 2.x",
                        "product_identification_helper": {"cpe": "cpe:2.3:o:siemens:simatic_s7_firmware:2.*:*:*:*:*:*:*:*"}}},
                    {"category": "product_version", "name": "3.1",
                     "product": {"product_id": "S7-3", "name": "SIMATIC S7 3.1",
                        "product_identification_helper": {"cpe": "cpe:2.3:o:siemens:simatic_s7_firmware:3.1:*:*:*:*:*:*:*"}}}]}]},
              {"category": "vendor", "name": "Delta Electronics", "branches": [
                {"category": "product_name", "name": "ISPSoft", "branches": [
                    {"category": "product_version_range", "name": "<= 3.0.5",
                     "product": {"product_id": "ISP", "name": "ISPSoft 3.0.5 and prior"}}]}]}],
            "product_groups": [{"group_id": "G-LODASH", "product_ids": ["LODASH-OLD"]}]
        },
        "vulnerabilities": [
            {"cve": "CVE-2021-23337", "cwe": {"id": "CWE-94", "name": "Improper Control of Generation of Code ('Code Injection')"},
             "product_status": {"known_affected": ["LODASH-OLD", "S7-2"], "fixed": ["LODASH-FIXED"],
                                "known_not_affected": ["S7-3"]},
             "remediations": [{"category": "vendor_fix", "details": "Update to 4.17.21",
                               "url": "https://example.com/fix", "group_ids": ["G-LODASH"]},
                              {"category": "mitigation", "details": "Isolate the PLC", "product_ids": ["S7-2"]}],
             "scores": [{"products": ["LODASH-OLD"], "cvss_v3": {"version": "3.1",
                 "vectorString": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "baseScore": 7.2, "baseSeverity": "HIGH"}}]},
            {"product_status": {"under_investigation": ["ISP"]}}
        ]
    })
}

fn comp(name: &str, version: &str, purl: Option<&str>, cpe: Option<&str>) -> Component {
    Inventory::from_json(&json!({"components": [{
        "name": name, "version": version, "purl": purl, "cpe": cpe}]}))
    .unwrap()
    .components
    .remove(0)
}

fn inventory() -> Inventory {
    Inventory {
        components: vec![
            comp("lodash", "4.17.20", Some("pkg:npm/lodash@4.17.20"), None),
            comp("lodash", "4.17.21", Some("pkg:npm/lodash@4.17.21"), None),
            comp("lodash", "4.17.22", Some("pkg:npm/lodash@4.17.22"), None),
            comp(
                "s7",
                "2.4",
                None,
                Some("cpe:2.3:o:siemens:simatic_s7_firmware:*:*:*:*:*:*:*:*"),
            ),
            comp(
                "s7",
                "3.1",
                None,
                Some("cpe:2.3:o:siemens:simatic_s7_firmware:3.1:*:*:*:*:*:*:*"),
            ),
            comp(
                "s7",
                "4.0",
                None,
                Some("cpe:2.3:o:siemens:simatic_s7_firmware:4.0:*:*:*:*:*:*:*"),
            ),
            comp("ISPSoft", "3.0.4", None, None),
            comp("ISPSoft", "3.0.6", None, None),
            comp("express", "4.18.2", Some("pkg:npm/express@4.18.2"), None),
        ],
    }
}

#[test]
fn affected_fixed_and_not_affected_components_give_exactly_those_findings() {
    let m = Matcher::new(&advisory());
    let found: Vec<(usize, String, String, Status, MatchedBy)> = m
        .findings(&inventory())
        .into_iter()
        .map(|f| {
            (
                f.component,
                f.vulnerability,
                f.product_id,
                f.status,
                f.matched_by,
            )
        })
        .collect();
    let cve = "CVE-2021-23337".to_string();
    assert_eq!(
        found,
        vec![
            (
                0,
                cve.clone(),
                "LODASH-OLD".into(),
                Status::Affected,
                MatchedBy::Purl
            ),
            (
                1,
                cve.clone(),
                "LODASH-FIXED".into(),
                Status::Fixed,
                MatchedBy::Purl
            ),
            (
                3,
                cve.clone(),
                "S7-2".into(),
                Status::Affected,
                MatchedBy::Cpe
            ),
            (4, cve, "S7-3".into(), Status::NotAffected, MatchedBy::Cpe),
            (
                6,
                "vulnerabilities[1]".into(),
                "ISP".into(),
                Status::UnderInvestigation,
                MatchedBy::Name
            ),
        ]
    );
}

#[test]
fn findings_carry_remediations_from_groups_cvss_and_cwe() {
    let m = Matcher::new(&advisory());
    let f = m.findings(&inventory());
    let lodash = &f[0];
    assert_eq!(lodash.remediations.len(), 1);
    assert_eq!(lodash.remediations[0].category, "vendor_fix");
    assert_eq!(
        lodash.remediations[0].url.as_deref(),
        Some("https://example.com/fix")
    );
    let cvss = lodash.cvss.as_ref().unwrap();
    assert_eq!(
        (
            cvss.version.as_str(),
            cvss.base_score,
            cvss.severity.as_str()
        ),
        ("3.1", 7.2, "HIGH")
    );
    assert_eq!(lodash.cwe.as_ref().unwrap().0, "CWE-94");
    assert!(lodash.version_certain);
    let plc = &f[2];
    assert_eq!(plc.remediations[0].details, "Isolate the PLC");
    assert!(plc.cvss.is_none());
    // Serializes for the hub.
    let j = serde_json::to_value(lodash).unwrap();
    assert_eq!(j["status"], "affected");
    assert_eq!(j["matched_by"], "purl");
}

#[test]
fn version_ranges_and_cpe_wildcards() {
    let m = Matcher::new(&advisory());
    let status_of = |c: Component| -> Vec<Status> {
        let mut out = Vec::new();
        m.match_component(0, &c, &mut out);
        out.iter().map(|x| x.status).collect()
    };
    // vers:npm/<4.17.21 with npm ordering (pre-releases sort below).
    assert_eq!(
        status_of(comp(
            "lodash",
            "4.17.21-rc.1",
            Some("pkg:npm/lodash@4.17.21-rc.1"),
            None
        )),
        [Status::Affected]
    );
    assert_eq!(
        status_of(comp(
            "lodash",
            "3.10.1",
            Some("pkg:npm/lodash@3.10.1"),
            None
        )),
        [Status::Affected]
    );
    // Purl names are matched on type/namespace/name, not on the name alone.
    assert!(status_of(comp(
        "lodash",
        "4.17.20",
        Some("pkg:pypi/lodash@4.17.20"),
        None
    ))
    .is_empty());
    // CPE 2.* matches 2.0 and 2.9.1 but not 20.1 or 1.9 (and the range agrees).
    for (v, hit) in [
        ("2.0", true),
        ("2.9.1", true),
        ("20.1", false),
        ("1.9", false),
    ] {
        let c = comp(
            "x",
            v,
            None,
            Some("cpe:2.3:o:siemens:simatic_s7_firmware:*:*:*:*:*:*:*:*"),
        );
        assert_eq!(!status_of(c).is_empty(), hit, "{v}");
    }
    // A different vendor in the CPE does not match.
    assert!(status_of(comp(
        "x",
        "2.0",
        None,
        Some("cpe:2.3:o:acme:simatic_s7_firmware:2.0:*:*:*:*:*:*:*")
    ))
    .is_empty());
    // CISA-style free text `<= 3.0.5`, and a leading v.
    assert_eq!(
        status_of(comp("ispsoft", "v3.0.5", None, None)),
        [Status::UnderInvestigation]
    );
    assert!(status_of(comp("ISPSoft", "3.0.10", None, None)).is_empty());
}

#[test]
fn inventory_index_agrees_with_matcher() {
    let m = Matcher::new(&advisory());
    let mut index = InventoryIndex::new();
    let invs = [
        inventory(),
        Inventory {
            components: inventory().components[3..].to_vec(),
        },
    ];
    for inv in &invs {
        index.insert(inv.clone());
    }
    let mut expected = Vec::new();
    for (i, inv) in invs.iter().enumerate() {
        expected.extend(m.match_inventory(inv).into_iter().map(|x| (i, x)));
    }
    expected.sort_unstable();
    assert_eq!(index.match_advisory(&m), expected);
    assert_eq!(expected.len(), 5 + 3);
}

/// Every product a CISA advisory gives a status is found in an inventory
/// made of the advisory's own product names and versions.
#[test]
fn cisa_advisories_match_an_inventory_of_their_own_products() {
    let mut total = 0;
    for f in json_files("csaf/cisa-sample") {
        let doc = load(&f);
        let products = hinomi_csaf::product_tree::flatten(&doc);
        let m = Matcher::new(&doc);
        let mut expected = Vec::new();
        let mut inv = Inventory::default();
        for v in doc["vulnerabilities"].as_array().unwrap() {
            for ids in v["product_status"].as_object().unwrap().values() {
                for id in ids.as_array().unwrap() {
                    let id = id.as_str().unwrap();
                    let p = &products[id];
                    let base = p.relationship.as_ref().map_or(p, |(_, r, _)| &products[r]);
                    // A version list such as `4.00 | 4.01`: its first version.
                    let listed = base
                        .version
                        .as_deref()
                        .map(|v| v.split('|').next().unwrap().trim().to_string());
                    let version = listed.or_else(|| {
                        base.product_version_range
                            .as_deref()
                            .and_then(|r| r.trim().strip_prefix("<="))
                            .map(|v| v.trim().to_string())
                    });
                    expected.push((inv.components.len(), id.to_string()));
                    inv.components.push(Component {
                        name: base.product.clone().unwrap_or_else(|| base.name.clone()),
                        version,
                        vendor: base.vendor.clone(),
                        purl: None,
                        cpe: None,
                    });
                }
            }
        }
        let found = m.findings(&inv);
        for (ci, id) in &expected {
            assert!(
                found
                    .iter()
                    .any(|x| x.component == *ci && x.product_id == *id),
                "{}: {id} not matched by component {:?}",
                f.display(),
                inv.components[*ci]
            );
        }
        total += expected.len();
    }
    assert!(total > 300, "{total}");
}

#[test]
fn cvss_v3_scores_of_cisa_advisories_match_their_vectors() {
    let mut n = 0;
    let mut crosschecked = 0;
    for f in json_files("csaf/cisa-sample") {
        let doc = load(&f);
        for v in doc["vulnerabilities"].as_array().unwrap() {
            for s in v["scores"].as_array().into_iter().flatten() {
                let c = &s["cvss_v3"];
                let vector = c["vectorString"].as_str().unwrap();
                let b = hinomi_csaf::cvss::base_score(vector).unwrap();
                assert_eq!(
                    b.base_score,
                    c["baseScore"].as_f64().unwrap(),
                    "{}: {vector}",
                    f.display()
                );
                assert_eq!(b.severity, c["baseSeverity"].as_str().unwrap(), "{vector}");
                assert_eq!(b.version, c["version"].as_str().unwrap());
                // Cross-check with RustSec's cvss crate (3.1 base-only vectors: it
                // parses base metrics only).
                if b.version == "3.1" && vector.matches('/').count() == 8 {
                    crosschecked += 1;
                    let theirs: cvss::v3::Base = vector.parse().unwrap();
                    assert_eq!(theirs.score().value(), b.base_score, "cvss crate: {vector}");
                }
                n += 1;
            }
        }
    }
    assert_eq!(n, 319);
    assert_eq!(
        crosschecked, 47,
        "3.1 base-only vectors cross-checked with the cvss crate"
    );
}

#[test]
fn kev_catalog_parses() {
    let doc = load(&shared("vuln/kev/known_exploited_vulnerabilities.json"));
    let kev = hinomi_csaf::kev::KevCatalog::from_json(&doc).unwrap();
    assert_eq!(kev.catalog_version, "2025.08.25");
    assert_eq!(kev.entries.len() as u64, doc["count"].as_u64().unwrap());
    assert_eq!(
        kev.entries
            .iter()
            .filter(|e| e.known_ransomware_campaign_use)
            .count(),
        293
    );
    let git = &kev.entries[0];
    assert_eq!(
        (
            git.cve_id.as_str(),
            git.vendor_project.as_str(),
            git.due_date.as_str()
        ),
        ("CVE-2025-48384", "Git", "2025-09-15")
    );
    assert_eq!(git.cwes, ["CWE-59", "CWE-436"]);
}
