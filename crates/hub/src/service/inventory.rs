//! Members' asset inventories and findings: which of an organization's components are
//! affected, fixed, not affected or under investigation by which advisory.
//!
//! Invariant: an organization gets findings only from advisories it may see, and its
//! inventories and findings are read only by itself and the coordinator.

use std::collections::HashMap;

use serde_json::{json, Value};

use base64::Engine;
use hinomi_access::{OrgKind, Scope};
use hinomi_csaf::inventory::Inventory;
use hinomi_csaf::matching::Matcher;
use hinomi_stix::Timestamp;
use hinomi_store::{
    AdvisoryQuery, FindingKey, FindingRow, FindingScope, Organization, Store, StoreError,
};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

use super::org_scope as scope_of;

fn rows_for(
    org_id: &str,
    asset: &str,
    inv: &Inventory,
    publisher: &str,
    tracking_id: &str,
    m: &Matcher,
) -> Vec<FindingRow> {
    m.findings(inv)
        .into_iter()
        .map(|f| {
            let c = &inv.components[f.component];
            let component = match &c.version {
                Some(v) => format!("{}@{v}", c.name),
                None => c.name.clone(),
            };
            FindingRow {
                org_id: org_id.to_string(),
                asset: asset.to_string(),
                component_index: f.component as i64,
                component,
                publisher: publisher.to_string(),
                tracking_id: tracking_id.to_string(),
                vulnerability: f.vulnerability.clone(),
                product_id: f.product_id.clone(),
                status: serde_json::to_value(f.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                max_score: f
                    .cvss
                    .as_ref()
                    .map(|c| (c.base_score * 10.0).round() as i64),
                detail: serde_json::to_value(&f).unwrap_or(Value::Null),
                first_seen: Timestamp(0),
                changed: Timestamp(0),
            }
        })
        .collect()
}

/// The current advisories `scope` may see, compiled.
fn visible_advisories(
    store: &Store,
    scope: &Scope,
) -> Result<Vec<(String, String, Matcher)>, StoreError> {
    let mut out = Vec::new();
    let mut q = AdvisoryQuery {
        limit: 1000,
        ..AdvisoryQuery::default()
    };
    loop {
        let (page, next) = store.query_advisories(scope, &q)?;
        for a in page {
            if let Some(doc) = store.advisory_document(scope, &a.tracking_id, Some(&a.version))? {
                let v: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
                out.push((a.publisher, a.tracking_id, Matcher::new(&v)));
            }
        }
        match next {
            Some(n) => q.after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Re-matches one asset against every advisory its organization may see.
pub fn rematch_asset(
    store: &Store,
    org: &Organization,
    asset: &str,
    inv: &Inventory,
) -> Result<Vec<FindingRow>, StoreError> {
    let scope = scope_of(org, &store.communities()?);
    let mut rows = Vec::new();
    for (publisher, tracking_id, m) in visible_advisories(store, &scope)? {
        rows.extend(rows_for(&org.id, asset, inv, &publisher, &tracking_id, &m));
    }
    store.replace_findings(
        &FindingScope::Asset {
            org_id: org.id.clone(),
            asset: asset.to_string(),
        },
        rows,
    )
}

/// Re-matches one advisory (its current revision) against every inventory whose
/// organization may see it. Returns the new or changed findings.
pub fn rematch_advisory(
    store: &Store,
    publisher: &str,
    tracking_id: &str,
) -> Result<Vec<FindingRow>, StoreError> {
    let orgs: HashMap<String, Organization> = store
        .organizations()?
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
    let communities = store.communities()?;
    let mut compiled: Option<Matcher> = None;
    let mut rows = Vec::new();
    for stored in store.inventories(None)? {
        let Some(org) = orgs.get(&stored.org_id) else {
            continue;
        };
        let scope = scope_of(org, &communities);
        let Some(doc) = store.advisory_document(&scope, tracking_id, None)? else {
            continue;
        };
        let m = compiled.get_or_insert_with(|| {
            Matcher::new(&serde_json::from_str(&doc).unwrap_or(Value::Null))
        });
        let inv_doc: Value = serde_json::from_str(&stored.json).unwrap_or(Value::Null);
        let Ok(inv) = Inventory::from_json(&inv_doc) else {
            continue;
        };
        rows.extend(rows_for(
            &org.id,
            &stored.asset,
            &inv,
            publisher,
            tracking_id,
            m,
        ));
    }
    store.replace_findings(
        &FindingScope::Advisory {
            publisher: publisher.to_string(),
            tracking_id: tracking_id.to_string(),
        },
        rows,
    )
}

/// The caller, if it may upload inventories.
pub fn may_upload(who: &Viewer) -> Result<&hinomi_store::Principal> {
    let p = who.require()?;
    if !p.role.can_write() || p.org.kind == OrgKind::PeerHub {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not upload inventories",
        ));
    }
    Ok(p)
}

/// Stores the inventory of one asset of the caller's organization (a CycloneDX
/// 1.4–1.6 JSON SBOM or `{"components": [{"name", "version", "purl", "cpe",
/// "vendor"}]}`), re-matches it and acts on new findings.
pub fn put(s: &AppState, who: &Viewer, asset: &str, doc: &Value) -> Result<Value> {
    let p = may_upload(who)?.clone();
    let inv = Inventory::from_json(doc)
        .map_err(|e| Error::new(Kind::Unprocessable, format!("inventory: {e}")))?;
    let format = if doc.get("bomFormat").is_some() {
        "cyclonedx"
    } else {
        "components"
    };
    let n = inv.components.len() as i64;
    s.store
        .put_inventory(&p.org.id, asset, format, n, &doc.to_string())?;
    let fresh = rematch_asset(&s.store, &p.org, asset, &inv)?;
    let out = json!({"asset": asset, "format": format, "components": n, "new_findings": fresh.iter().map(|f| f.to_json()).collect::<Vec<_>>()});
    super::targeted::after_matching(s, fresh);
    Ok(out)
}

/// Whose data a request reads: the caller's organization, or for the coordinator
/// `organization` (or everyone with `all=true`).
fn target_org(who: &Viewer, terms: &[(String, String)]) -> Result<Option<String>> {
    let p = who.require()?;
    let org = terms
        .iter()
        .find(|(k, _)| k == "organization")
        .map(|(_, v)| v.clone());
    let all = terms.iter().any(|(k, v)| k == "all" && v == "true");
    let coordinator = p.org.kind == OrgKind::Coordinator;
    match (org, all) {
        (_, true) if coordinator => Ok(None),
        (Some(o), _) if coordinator => Ok(Some(o)),
        (Some(o), _) if o == p.org.id => Ok(Some(o)),
        (Some(_), _) | (_, true) => Err(Error::new(
            Kind::Forbidden,
            "only the coordinator reads other organizations' inventories and findings",
        )),
        (None, false) => Ok(Some(p.org.id.clone())),
    }
}

/// `limit` (1 to 1000, default `default`) and `after` of a listing's query.
fn page_terms(terms: &[(String, String)], default: usize) -> Result<(usize, Option<&str>)> {
    let limit = match terms.iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                Error::new(
                    Kind::InvalidFilter,
                    format!("limit: '{v}' is not a number from 1 to 1000"),
                )
            })?,
        None => default,
    };
    Ok((
        limit,
        terms
            .iter()
            .find(|(k, _)| k == "after")
            .map(|(_, v)| v.as_str()),
    ))
}

fn bad_cursor(c: &str) -> Error {
    Error::new(
        Kind::InvalidFilter,
        format!("after: '{c}' is not a cursor from a previous page"),
    )
}

/// The inventories the caller may list (its own; the coordinator's choice), a page at a
/// time (`after`: the previous page's `next`).
pub fn list(s: &AppState, who: &Viewer, terms: &[(String, String)]) -> Result<Value> {
    let org = target_org(who, terms)?;
    let (limit, after) = page_terms(terms, 500)?;
    let after = after
        .map(|c| c.split_once('/').ok_or_else(|| bad_cursor(c)))
        .transpose()?;
    let list = s.store.inventory_page(org.as_deref(), after, limit)?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|i| format!("{}/{}", i.org_id, i.asset)))
        .flatten();
    Ok(json!({"inventories": list.iter().map(|i| json!({
        "organization_id": i.org_id, "asset": i.asset, "format": i.format,
        "components": i.components, "updated": i.updated.to_string(),
    })).collect::<Vec<_>>(), "next": next}))
}

fn finding_cursor(k: &FindingKey) -> String {
    let v = json!([
        k.score,
        k.tracking_id,
        k.org_id,
        k.asset,
        k.component_index,
        k.publisher,
        k.vulnerability,
        k.product_id
    ]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn finding_key(c: &str) -> Result<FindingKey> {
    let v: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad_cursor(c))?;
    let t = |i: usize| {
        v[i].as_str()
            .map(str::to_string)
            .ok_or_else(|| bad_cursor(c))
    };
    Ok(FindingKey {
        score: v[0].as_i64().ok_or_else(|| bad_cursor(c))?,
        tracking_id: t(1)?,
        org_id: t(2)?,
        asset: t(3)?,
        component_index: v[4].as_i64().ok_or_else(|| bad_cursor(c))?,
        publisher: t(5)?,
        vulnerability: t(6)?,
        product_id: t(7)?,
    })
}

/// Deletes the inventory of one of the caller's assets.
pub fn delete(s: &AppState, who: &Viewer, asset: &str) -> Result<()> {
    let p = who.require()?;
    if !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not delete inventories",
        ));
    }
    if s.store.delete_inventory(&p.org.id, asset)? {
        Ok(())
    } else {
        Err(Error::new(
            Kind::NotFound,
            format!("no inventory for asset '{asset}'"),
        ))
    }
}

/// The caller's findings (the coordinator's choice), most severe first, each with the
/// known-exploited flag, a page at a time (`after`: the previous page's `next`).
pub fn findings(s: &AppState, who: &Viewer, terms: &[(String, String)]) -> Result<Value> {
    let org = target_org(who, terms)?;
    let (limit, after) = page_terms(terms, 500)?;
    let after = after.map(finding_key).transpose()?;
    let rows = s
        .store
        .findings_page(org.as_deref(), after.as_ref(), limit)?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| finding_cursor(&r.page_key())))
        .flatten();
    let cves: Vec<String> = rows
        .iter()
        .map(|r| r.vulnerability.clone())
        .filter(|v| v.starts_with("CVE-"))
        .collect();
    let kev = s.store.known_exploited(&cves)?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.to_json();
            v["known_exploited"] = json!(kev.contains(&r.vulnerability));
            v
        })
        .collect();
    Ok(json!({"findings": list, "next": next}))
}

/// Per advisory, how many organizations and assets are affected (coordinator only).
pub fn summary(s: &AppState, who: &Viewer) -> Result<Value> {
    let p = who.require()?;
    if p.org.kind != OrgKind::Coordinator {
        return Err(Error::new(
            Kind::Forbidden,
            "the national picture is the coordinator's",
        ));
    }
    Ok(json!({"advisories": s.store.affected_by_advisory()?}))
}
