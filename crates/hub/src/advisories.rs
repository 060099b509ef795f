//! CSAF advisories in the hub: validation on the way in, every revision stored with its
//! search facts and TLP, search under the access rule; the known-exploited catalog.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use hinomi_stix::{Timestamp, Tlp};
use hinomi_store::{
    AdvisoryOutcome, AdvisoryProduct, AdvisoryQuery, AdvisoryVulnerability, Cursor, KevEntry,
    NewAdvisory,
};

use crate::auth::caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::taxii::read_body;
use crate::Shared;

/// Why a document cannot be stored as an advisory.
#[derive(Debug)]
pub enum AdvisoryError {
    /// It is not valid CSAF 2.0: the validator's findings.
    Invalid(Vec<hinomi_csaf::Finding>),
    /// Valid, but something the hub needs is unusable.
    Unusable(String),
}

fn text(doc: &Value, pointer: &str) -> Option<String> {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn instant(doc: &Value, pointer: &str) -> Result<Timestamp, AdvisoryError> {
    let s =
        text(doc, pointer).ok_or_else(|| AdvisoryError::Unusable(format!("{pointer}: missing")))?;
    let i = hinomi_csaf::datetime::parse(&s).ok_or_else(|| {
        AdvisoryError::Unusable(format!("{pointer}: '{s}' is not an RFC 3339 date-time"))
    })?;
    Ok(Timestamp(i.seconds * 1_000_000 + i64::from(i.nanos / 1000)))
}

/// Validates a CSAF document and extracts what the hub stores and searches. The TLP is
/// `/document/distribution/tlp/label` (CSAF 2.0 uses TLP 1.0 labels: WHITE is CLEAR);
/// without one the hub's default applies.
pub fn advisory_from_csaf(doc: &Value, default_tlp: Tlp) -> Result<NewAdvisory, AdvisoryError> {
    let findings = hinomi_csaf::validate(doc);
    if !findings.is_empty() {
        return Err(AdvisoryError::Invalid(findings));
    }
    let tlp = match text(doc, "/document/distribution/tlp/label") {
        Some(l) => l.parse::<Tlp>().map_err(|e| {
            AdvisoryError::Unusable(format!("/document/distribution/tlp/label: {e}"))
        })?,
        None => default_tlp,
    };
    let mut vulnerabilities = Vec::new();
    for v in doc
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut best: Option<(i64, Option<String>)> = None;
        for s in v
            .get("scores")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for key in ["cvss_v3", "cvss_v2"] {
                if let Some(score) = s
                    .pointer(&format!("/{key}/baseScore"))
                    .and_then(Value::as_f64)
                {
                    let score10 = (score * 10.0).round() as i64;
                    let sev = s
                        .pointer(&format!("/{key}/baseSeverity"))
                        .and_then(Value::as_str)
                        .map(str::to_lowercase);
                    if best.as_ref().is_none_or(|(b, _)| score10 > *b) {
                        best = Some((score10, sev));
                    }
                }
            }
        }
        vulnerabilities.push(AdvisoryVulnerability {
            cve: v.get("cve").and_then(Value::as_str).map(str::to_uppercase),
            cwe: v
                .pointer("/cwe/id")
                .and_then(Value::as_str)
                .map(str::to_string),
            max_score: best.as_ref().map(|b| b.0),
            severity: best
                .and_then(|b| b.1.or_else(|| Some(hinomi_store::severity_of(b.0).into()))),
        });
    }
    let products = hinomi_csaf::product_tree::flatten(doc)
        .into_values()
        .map(|p| AdvisoryProduct {
            product_id: p.product_id,
            vendor: p.vendor,
            product: p.product.or(Some(p.name)),
            version: p.version.or(p.product_version_range),
            purl: p.purl,
            cpe: p.cpe,
        })
        .collect();
    Ok(NewAdvisory {
        publisher: text(doc, "/document/publisher/name").unwrap_or_default(),
        tracking_id: text(doc, "/document/tracking/id").unwrap_or_default(),
        version: text(doc, "/document/tracking/version").unwrap_or_default(),
        title: text(doc, "/document/title").unwrap_or_default(),
        initial_release: instant(doc, "/document/tracking/initial_release_date")?,
        current_release: instant(doc, "/document/tracking/current_release_date")?,
        tlp,
        vulnerabilities,
        products,
        json: serde_json::to_string(doc).unwrap_or_default(),
    })
}

/// Reads the CISA Known Exploited Vulnerabilities catalog format into store entries.
pub fn kev_from_json(doc: &Value) -> Result<Vec<KevEntry>, String> {
    let catalog = hinomi_csaf::kev::KevCatalog::from_json(doc).map_err(|e| e.to_string())?;
    let raw = doc.get("vulnerabilities").and_then(Value::as_array);
    Ok(catalog
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| KevEntry {
            cve: e.cve_id,
            vendor_project: e.vendor_project,
            product: e.product,
            name: e.vulnerability_name,
            date_added: e.date_added,
            due_date: Some(e.due_date).filter(|d| !d.is_empty()),
            ransomware: Some(
                if e.known_ransomware_campaign_use {
                    "Known"
                } else {
                    "Unknown"
                }
                .to_string(),
            ),
            json: raw
                .and_then(|r| r.get(i))
                .map(Value::to_string)
                .unwrap_or_default(),
        })
        .collect())
}

fn findings_response(findings: &[hinomi_csaf::Finding]) -> Response {
    let list: Vec<Value> = findings
        .iter()
        .map(|f| json!({"test": f.test, "path": f.path, "message": f.message}))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": {"code": "unprocessable", "message": format!("not a valid CSAF 2.0 document: {} finding(s), first: {}", findings.len(), findings[0])},
            "findings": list,
        })),
    )
        .into_response()
}

async fn json_doc(s: &Shared, headers: &HeaderMap, body: Body) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON with Content-Type: application/json, not '{ct}'"),
        ));
    }
    let bytes = read_body(body, headers, s.config.max_content_length).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("request body: {e}")))
}

/// `POST /api/v1/advisories`: a CSAF 2.0 document.
pub async fn post_advisory(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?.clone();
    if !p.role.can_write() || !p.org.kind.is_member() {
        return Err(ApiError::new(
            Code::Forbidden,
            "this token may not submit advisories",
        ));
    }
    let doc = json_doc(&s, &headers, body).await?;
    let adv = match advisory_from_csaf(&doc, s.config.default_tlp) {
        Ok(a) => a,
        Err(AdvisoryError::Invalid(f)) => return Ok(findings_response(&f)),
        Err(AdvisoryError::Unusable(m)) => return Err(ApiError::new(Code::Unprocessable, m)),
    };
    let cves: Vec<String> = adv
        .vulnerabilities
        .iter()
        .filter_map(|v| v.cve.clone())
        .collect();
    let org = p.org.id.clone();
    let summary = json!({
        "publisher": adv.publisher, "tracking_id": adv.tracking_id, "version": adv.version,
        "title": adv.title, "tlp": adv.tlp.label(), "cves": cves,
        "max_cvss": adv.max_score().map(|s| s as f64 / 10.0),
    });
    let (outcome, kev, fresh) = s
        .db(move |st| {
            let o = st.add_advisory(&org, &adv)?;
            let fresh = if o == AdvisoryOutcome::Added {
                crate::inventory::rematch_advisory(st, &adv.publisher, &adv.tracking_id)?
            } else {
                vec![]
            };
            Ok((o, st.known_exploited(&cves)?, fresh))
        })
        .await?;
    let targeted = crate::targeted::after_matching(&s, fresh.clone()).await;
    let fresh = fresh.len();
    let mut body = summary;
    body["known_exploited"] = json!(kev);
    body["new_findings"] = json!(fresh);
    body["targeted_warnings"] = json!(targeted);
    match outcome {
        AdvisoryOutcome::Added => Ok((StatusCode::CREATED, Json(body)).into_response()),
        AdvisoryOutcome::Duplicate => {
            body["message"] = json!("this revision was already stored; nothing changed");
            Ok((StatusCode::OK, Json(body)).into_response())
        }
        AdvisoryOutcome::Refused(m) => Err(ApiError::new(Code::Conflict, m)),
    }
}

fn query_pairs(q: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::new(Code::InvalidFilter, format!("query string: {e}")))
}

fn ts_param(k: &str, v: &str) -> ApiResult<Timestamp> {
    hinomi_csaf::datetime::parse(v)
        .map(|i| Timestamp(i.seconds * 1_000_000 + i64::from(i.nanos / 1000)))
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidFilter,
                format!("{k}: '{v}' is not an RFC 3339 date-time"),
            )
        })
}

/// `GET /api/v1/advisories`: search the advisories the caller may see.
pub async fn list_advisories(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let mut query = AdvisoryQuery {
        limit: 100,
        ..AdvisoryQuery::default()
    };
    for (k, v) in query_pairs(q.as_deref())? {
        match k.as_str() {
            "cve" => query.cve = Some(v),
            "vendor" => query.vendor = Some(v),
            "product" => query.product = Some(v),
            "severity" => query.min_severity = Some(v.to_lowercase()),
            "released_after" => query.released_after = Some(ts_param(&k, &v)?),
            "released_before" => query.released_before = Some(ts_param(&k, &v)?),
            "tracking_id" => query.tracking_id = Some(v),
            "all_revisions" => query.all_revisions = v == "true",
            "limit" => {
                query.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError::new(Code::InvalidFilter, format!("limit: '{v}' is not from 1 to 1000")))?
            }
            "next" => {
                query.after = Some(Cursor::decode(&v).ok_or_else(|| ApiError::new(Code::InvalidFilter, format!("next: '{v}' is not a token this server issued")))?)
            }
            other => return Err(ApiError::new(Code::InvalidFilter, format!("unknown parameter '{other}' (cve, vendor, product, severity, released_after, released_before, tracking_id, all_revisions, limit, next)"))),
        }
    }
    let scope = c.scope();
    let (items, next) = s.db(move |st| st.query_advisories(&scope, &query)).await?;
    Ok(Json(json!({
        "advisories": items.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        "next": next.map(Cursor::encode),
    })))
}

/// `GET /api/v1/advisories/{tracking_id}[?version=]`: the CSAF document.
pub async fn get_advisory(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let version = query_pairs(q.as_deref())?
        .into_iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v);
    let scope = c.scope();
    let tid = id.clone();
    let doc = s
        .db(move |st| st.advisory_document(&scope, &tid, version.as_deref()))
        .await?;
    match doc {
        Some(d) => Ok(([(header::CONTENT_TYPE, "application/json")], d).into_response()),
        None => Err(ApiError::new(
            Code::NotFound,
            format!("no advisory '{id}' for this organization"),
        )),
    }
}

/// `POST /api/v1/kev`: import a known-exploited catalog (admin); idempotent.
pub async fn post_kev(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    let doc = json_doc(&s, &headers, body).await?;
    let entries = kev_from_json(&doc).map_err(|m| ApiError::new(Code::Unprocessable, m))?;
    let n = entries.len();
    let r = s.db(move |st| st.import_kev(&entries, &admin)).await?;
    Ok(Json(
        json!({"entries": n, "added": r.added, "updated": r.updated, "unchanged": r.unchanged}),
    ))
}
