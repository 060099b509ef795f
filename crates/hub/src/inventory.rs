//! Members' asset inventories and findings: which of an organization's components are
//! affected, fixed, not affected or under investigation by which advisory.
//!
//! Invariant: an organization gets findings only from advisories it may see, and its
//! inventories and findings are read only by itself and the coordinator.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use hinomi_access::{OrgKind, Scope};
use hinomi_csaf::inventory::Inventory;
use hinomi_csaf::matching::Matcher;
use hinomi_stix::Timestamp;
use hinomi_store::{
    AdvisoryQuery, Community, FindingRow, FindingScope, Organization, Store, StoreError,
};

use crate::auth::caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::taxii::read_body;
use crate::Shared;

/// The access-rule scope of an organization (for matching on its behalf).
pub fn scope_of(org: &Organization, communities: &[Community]) -> Scope {
    Scope::for_reader(&crate::auth::org_reader(
        &org.id,
        org.kind,
        &org.identity_id,
        communities,
        false,
    ))
}

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

/// `PUT /api/v1/inventories/{asset}`: a CycloneDX 1.4–1.6 JSON SBOM or
/// `{"components": [{"name", "version", "purl", "cpe", "vendor"}]}`.
pub async fn put_inventory(
    State(s): State<Shared>,
    Path(asset): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?.clone();
    if !p.role.can_write() || p.org.kind == OrgKind::PeerHub {
        return Err(ApiError::new(
            Code::Forbidden,
            "this token may not upload inventories",
        ));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with("application/json") || ct.starts_with("application/vnd.cyclonedx+json")) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON (CycloneDX or a component list), not '{ct}'"),
        ));
    }
    let bytes = read_body(body, &headers, s.config.max_content_length).await?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("request body: {e}")))?;
    let inv = Inventory::from_json(&doc)
        .map_err(|e| ApiError::new(Code::Unprocessable, format!("inventory: {e}")))?;
    let format = if doc.get("bomFormat").is_some() {
        "cyclonedx"
    } else {
        "components"
    };
    let n = inv.components.len() as i64;
    let text = doc.to_string();
    let (org, a) = (p.org.clone(), asset.clone());
    let fresh = s
        .db(move |st| {
            st.put_inventory(&org.id, &a, format, n, &text)?;
            rematch_asset(st, &org, &a, &inv)
        })
        .await?;
    crate::targeted::after_matching(&s, fresh.clone()).await;
    Ok((
        StatusCode::OK,
        Json(json!({"asset": asset, "format": format, "components": n, "new_findings": fresh.iter().map(|f| f.to_json()).collect::<Vec<_>>()})),
    )
        .into_response())
}

/// Whose data a request reads: the caller's organization, or for the coordinator
/// `?organization=ID` (or everyone with `all=true`).
fn target_org(c: &crate::auth::Caller, q: Option<&str>) -> ApiResult<Option<String>> {
    let p = c.require()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::new(Code::InvalidFilter, format!("query string: {e}")))?;
    let org = pairs
        .iter()
        .find(|(k, _)| k == "organization")
        .map(|(_, v)| v.clone());
    let all = pairs.iter().any(|(k, v)| k == "all" && v == "true");
    let coordinator = p.org.kind == OrgKind::Coordinator;
    match (org, all) {
        (_, true) if coordinator => Ok(None),
        (Some(o), _) if coordinator => Ok(Some(o)),
        (Some(o), _) if o == p.org.id => Ok(Some(o)),
        (Some(_), _) | (_, true) => Err(ApiError::new(
            Code::Forbidden,
            "only the coordinator reads other organizations' inventories and findings",
        )),
        (None, false) => Ok(Some(p.org.id.clone())),
    }
}

/// `GET /api/v1/inventories`.
pub async fn list_inventories(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let org = target_org(&c, q.as_deref())?;
    let list = s.db(move |st| st.inventories(org.as_deref())).await?;
    Ok(Json(json!({"inventories": list.iter().map(|i| json!({
        "organization_id": i.org_id, "asset": i.asset, "format": i.format,
        "components": i.components, "updated": i.updated.to_string(),
    })).collect::<Vec<_>>()})))
}

/// `DELETE /api/v1/inventories/{asset}`.
pub async fn delete_inventory(
    State(s): State<Shared>,
    Path(asset): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?.clone();
    if !p.role.can_write() {
        return Err(ApiError::new(
            Code::Forbidden,
            "this token may not delete inventories",
        ));
    }
    let a = asset.clone();
    if s.db(move |st| st.delete_inventory(&p.org.id, &a)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            Code::NotFound,
            format!("no inventory for asset '{asset}'"),
        ))
    }
}

/// `GET /api/v1/findings`: the caller's findings (coordinator: `?organization=` or
/// `?all=true`), most severe first, each with the known-exploited flag.
pub async fn list_findings(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let org = target_org(&c, q.as_deref())?;
    let (rows, kev) = s
        .db(move |st| {
            let rows = st.findings(org.as_deref())?;
            let cves: Vec<String> = rows
                .iter()
                .map(|r| r.vulnerability.clone())
                .filter(|v| v.starts_with("CVE-"))
                .collect();
            let kev = st.known_exploited(&cves)?;
            Ok((rows, kev))
        })
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.to_json();
            v["known_exploited"] = json!(kev.contains(&r.vulnerability));
            v
        })
        .collect();
    Ok(Json(json!({"findings": list})))
}

/// `GET /api/v1/findings/summary`: per advisory, how many organizations and assets are
/// affected (coordinator only).
pub async fn findings_summary(
    State(s): State<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?;
    if p.org.kind != OrgKind::Coordinator {
        return Err(ApiError::new(
            Code::Forbidden,
            "the national picture is the coordinator's",
        ));
    }
    let list = s.db(|st| st.affected_by_advisory()).await?;
    Ok(Json(json!({"advisories": list})))
}
