//! Event analysis across organizations: the observable values of stored objects, kept
//! as a posting list (value → object version; `observable_postings`), and what one
//! reader may learn from it.
//!
//! Values are written with their object, in its transaction (`NewObject::observables`),
//! so the index is never behind the objects. A posting is one row per value and object
//! version — never a row per correlated pair — so the index grows with the data, not
//! with its square.
//!
//! Invariant: a reader learns of a correlation only through objects it may see (the
//! store joins the postings to the objects and applies the reader's scope in SQL, and
//! only collections it may read are searched); counts are computed after that filter.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use hinomi_pattern::ast::{CompareOp, ComparisonExpr, Literal, ObservationExpr, PathStep, Test};
use hinomi_pattern::Pattern;
use hinomi_store::Correlation;

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// SCO types whose `value` property is what correlates.
const VALUE_TYPES: &[&str] = &[
    "ipv4-addr",
    "ipv6-addr",
    "domain-name",
    "url",
    "email-addr",
    "mac-addr",
];

/// The most values one object contributes to the index.
pub const MAX_VALUES_PER_OBJECT: usize = 10_000;

fn normalize(sco_type: &str, v: &str) -> String {
    match sco_type {
        "domain-name" => v.trim_end_matches('.').to_ascii_lowercase(),
        "email-addr" | "mac-addr" | "ipv6-addr" => v.to_ascii_lowercase(),
        _ => v.to_string(),
    }
}

/// `SHA-256`, `SHA256`, `sha256` are one algorithm.
fn hash_key(algo: &str, hex: &str) -> String {
    let a: String = algo
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    format!("hash:{a}:{}", hex.to_ascii_lowercase())
}

/// The index key of a value of an SCO type (`ipv4-addr:198.51.100.7`).
pub fn key(sco_type: &str, value: &str) -> String {
    format!("{sco_type}:{}", normalize(sco_type, value))
}

fn sco_values(o: &Value, out: &mut BTreeSet<String>) {
    let t = o["type"].as_str().unwrap_or_default();
    if VALUE_TYPES.contains(&t) {
        if let Some(v) = o["value"].as_str() {
            out.insert(key(t, v));
        }
    }
    if t == "autonomous-system" {
        if let Some(n) = o["number"].as_i64() {
            out.insert(format!("autonomous-system:{n}"));
        }
    }
    if let Some(h) = o["hashes"].as_object() {
        for (algo, hex) in h {
            if let Some(x) = hex.as_str() {
                out.insert(hash_key(algo, x));
            }
        }
    }
}

fn literal_text(l: &Literal) -> Option<String> {
    match l {
        Literal::Str(s) => Some(s.clone()),
        Literal::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn comparison_values(e: &ComparisonExpr, out: &mut BTreeSet<String>) {
    match e {
        ComparisonExpr::And(v) | ComparisonExpr::Or(v) => {
            v.iter().for_each(|x| comparison_values(x, out))
        }
        ComparisonExpr::Group(x) => comparison_values(x, out),
        ComparisonExpr::Test(c) if !c.negated => {
            let literals: Vec<&Literal> = match &c.test {
                Test::Compare(CompareOp::Eq, l) => vec![l],
                Test::In(ls) => ls.iter().collect(),
                _ => return,
            };
            let t = c.path.object_type.as_str();
            let steps: Vec<&str> = c
                .path
                .steps
                .iter()
                .filter_map(|s| match s {
                    PathStep::Key(k) => Some(k.as_str()),
                    _ => None,
                })
                .collect();
            for l in literals {
                let Some(text) = literal_text(l) else {
                    continue;
                };
                match steps.as_slice() {
                    ["value"] if VALUE_TYPES.contains(&t) => {
                        out.insert(key(t, &text));
                    }
                    ["number"] if t == "autonomous-system" => {
                        out.insert(format!("autonomous-system:{text}"));
                    }
                    [.., "hashes", algo] => {
                        out.insert(hash_key(algo, &text));
                    }
                    _ => {}
                }
            }
        }
        ComparisonExpr::Test(_) => {}
    }
}

fn observation_values(e: &ObservationExpr, out: &mut BTreeSet<String>) {
    match e {
        ObservationExpr::Observation(c) => comparison_values(c, out),
        ObservationExpr::And(v) | ObservationExpr::Or(v) | ObservationExpr::FollowedBy(v) => {
            v.iter().for_each(|x| observation_values(x, out))
        }
        ObservationExpr::Group(x) | ObservationExpr::Qualified(x, _) => observation_values(x, out),
    }
}

/// The observable values of one STIX object: an SCO's value or hashes, the SCOs
/// embedded in an observed-data, the values an indicator's STIX pattern tests for
/// equality, and for a sighting the indicator it is a sighting of (`sighting-of:<id>`),
/// which links sightings to the reports that carry that indicator.
pub fn values_of(o: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    match o["type"].as_str().unwrap_or_default() {
        "indicator" if o["pattern_type"] == "stix" => {
            if let Some(p) = o["pattern"].as_str().and_then(|p| Pattern::parse(p).ok()) {
                return pattern_values(&p);
            }
        }
        "indicator" => {}
        "observed-data" => {
            if let Some(objs) = o["objects"].as_object() {
                for sco in objs.values() {
                    sco_values(sco, &mut out);
                }
            }
        }
        "sighting" => {
            if let Some(r) = o["sighting_of_ref"].as_str() {
                out.insert(format!("sighting-of:{r}"));
            }
        }
        _ => sco_values(o, &mut out),
    }
    bounded(out)
}

/// The values an already parsed STIX pattern tests for equality.
pub fn pattern_values(p: &Pattern) -> Vec<String> {
    let mut out = BTreeSet::new();
    observation_values(p.root(), &mut out);
    bounded(out)
}

fn bounded(out: BTreeSet<String>) -> Vec<String> {
    out.into_iter()
        .filter(|v| v.len() <= 2048)
        .take(MAX_VALUES_PER_OBJECT)
        .collect()
}

/// For the index rebuild: the values of a stored object's JSON and, for objects that
/// came with an incident report, the report it counts as. An observed-data that refers
/// to its observables (a report's) gets their values, looked up by id.
fn values_of_stored(s: &AppState, collection: &str, json: &str) -> (Vec<String>, Option<String>) {
    let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    // A report's observables are indexed through its observed-data, under the report.
    if collection == hinomi_store::INCIDENTS_COLLECTION
        && v.get("created").is_none()
        && v["type"] != "marking-definition"
    {
        return (vec![], None);
    }
    let context = v["extensions"][hinomi_stix::REPORT_EXTENSION_ID]["report_ref"]
        .as_str()
        .map(str::to_string);
    let mut values = values_of(&v);
    if v["type"] == "observed-data" {
        let refs: Vec<String> = v["object_refs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut all: BTreeSet<String> = values.into_iter().collect();
        for sco in s.store.objects_for_index(&refs).unwrap_or_default() {
            let o: Value = serde_json::from_str(&sco).unwrap_or(Value::Null);
            all.extend(values_of(&o));
        }
        values = all.into_iter().take(MAX_VALUES_PER_OBJECT).collect();
    }
    (values, context)
}

/// The collections `who` may read, for the correlation search.
pub(crate) fn readable_collections(s: &AppState, who: &Viewer) -> Result<Vec<String>> {
    Ok(s.store
        .collections()?
        .into_iter()
        .filter(|c| who.can_read(c))
        .map(|c| c.id)
        .collect())
}

/// How `values` correlate for `who`, leaving out the contexts in `own` (the report being
/// looked at). A member sees counts and the contexts it may see anyway; the coordinator
/// also sees which organizations hold them.
pub fn correlate(s: &AppState, who: &Viewer, values: &[String], own: &[String]) -> Result<Value> {
    let p = who.require()?;
    if who.is_peer() {
        return Err(Error::new(
            Kind::Forbidden,
            "correlation is for member organizations and the coordinator",
        ));
    }
    let coordinator = p.org.kind == hinomi_access::OrgKind::Coordinator;
    let k = s.config.incidents.common_after;
    let collections = readable_collections(s, who)?;
    let rows = s
        .store
        .correlate(values, &who.scope, &collections, own, k)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|c| render(c, coordinator, &p.org.id))
            .collect(),
    ))
}

fn render(c: Correlation, coordinator: bool, me: &str) -> Value {
    if c.common {
        return json!({"value": c.value, "common": true});
    }
    let contexts: BTreeSet<&str> = c.hits.iter().map(|h| h.0.as_str()).collect();
    let orgs: BTreeSet<&str> = c
        .hits
        .iter()
        .map(|h| h.1.as_str())
        .filter(|o| *o != me)
        .collect();
    let mut v = json!({
        "value": c.value,
        "common": false,
        "reports": contexts.len(),
        "other_organizations": orgs.len(),
        "seen_in": contexts,
    });
    if coordinator {
        v["organizations"] = json!(orgs);
    }
    v
}

/// Adds (or with `excluded` false removes) a value on the exclusion list (the
/// coordinator's admins).
pub fn set_exclusion(s: &AppState, who: &Viewer, value: &str, excluded: bool) -> Result<Value> {
    who.require_coordinator()?;
    let p = who.require_admin()?;
    if value.is_empty() || value.len() > 2048 || !value.contains(':') {
        return Err(Error::new(
            Kind::BadRequest,
            "value: an index key such as 'ipv4-addr:198.51.100.7' or 'hash:sha256:…' (1 to 2048 bytes)",
        ));
    }
    s.store.set_correlation_exclusion(
        value,
        excluded,
        hinomi_store::Actor {
            org: &p.org.id,
            credential: Some(&p.token_id),
        },
    )?;
    Ok(json!({"value": value, "excluded": excluded}))
}

/// The exclusion list (the coordinator).
pub fn exclusions(s: &AppState, who: &Viewer) -> Result<Value> {
    who.require_coordinator()?;
    Ok(json!({"values": s.store.correlation_exclusions()?}))
}

/// Rebuilds the index from every stored object (console and coordinator admins);
/// `progress` hears the objects done. Answers (objects, postings).
pub fn rebuild(s: &AppState, progress: &mut dyn FnMut(u64)) -> Result<(u64, u64)> {
    Ok(s.store.rebuild_postings(
        5000,
        &|col, _, json| values_of_stored(s, col, json),
        progress,
    )?)
}

/// [`rebuild`] for a coordinator admin over the API.
pub fn rebuild_for(s: &AppState, who: &Viewer) -> Result<Value> {
    who.require_coordinator()?;
    let p = who.require_admin()?;
    let started = std::time::Instant::now();
    let (objects, postings) = rebuild(s, &mut |_| {})?;
    tracing::info!(target: "hinomi::correlation", org = %p.org.id, objects, postings, "correlation index rebuilt");
    Ok(
        json!({"objects": objects, "postings": postings, "seconds": started.elapsed().as_secs_f64()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_scos_patterns_and_sightings() {
        let ind = json!({"type": "indicator", "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '198.51.100.7' OR domain-name:value IN ('Evil.Example.', 'b.example')] AND [file:hashes.'SHA-256' = 'ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB'] AND [url:value != 'http://x']"});
        assert_eq!(
            values_of(&ind),
            vec![
                "domain-name:b.example",
                "domain-name:evil.example",
                "hash:sha256:abababababababababababababababababababababababababababababababab",
                "ipv4-addr:198.51.100.7"
            ]
        );
        let od = json!({"type": "observed-data", "objects": {"0": {"type": "file", "hashes": {"SHA256": "abababababababababababababababababababababababababababababababab"}}, "1": {"type": "autonomous-system", "number": 64500}}});
        assert_eq!(
            values_of(&od),
            vec![
                "autonomous-system:64500".to_string(),
                format!("hash:sha256:{}", "ab".repeat(32))
            ]
        );
        let s = json!({"type": "sighting", "sighting_of_ref": "indicator--x"});
        assert_eq!(values_of(&s), vec!["sighting-of:indicator--x"]);
        assert!(values_of(&json!({"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value NOT = '1.2.3.4']"})).is_empty());
    }
}
