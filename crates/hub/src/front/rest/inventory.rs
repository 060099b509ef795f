//! `/api/v1/inventories` and `/api/v1/findings`, over [`crate::service::inventory`].

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::http::{
    content_type, parse_json, query_pairs, read_body, viewer, ApiError, ApiResult, Code,
};
use crate::service::inventory;
use crate::Shared;

/// `PUT /api/v1/inventories/{asset}`: a CycloneDX 1.4–1.6 JSON SBOM or a component
/// list.
pub async fn put_inventory(
    State(s): State<Shared>,
    Path(asset): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    inventory::may_upload(&who)?;
    let ct = content_type(&headers);
    if !(ct.starts_with("application/json") || ct.starts_with("application/vnd.cyclonedx+json")) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON (CycloneDX or a component list), not '{ct}'"),
        ));
    }
    let bytes = read_body(&s, body, &headers).await?;
    let doc: Value = parse_json(&bytes)?;
    Ok(Json(
        s.call(move |s| inventory::put(s, &who, &asset, &doc))
            .await?,
    ))
}

/// `GET /api/v1/inventories`.
pub async fn list_inventories(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let terms = query_pairs(q.as_deref())?;
    Ok(Json(
        s.call(move |s| inventory::list(s, &who, &terms)).await?,
    ))
}

/// `DELETE /api/v1/inventories/{asset}`.
pub async fn delete_inventory(
    State(s): State<Shared>,
    Path(asset): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| inventory::delete(s, &who, &asset)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/findings`: the caller's findings (coordinator: `?organization=` or
/// `?all=true`).
pub async fn list_findings(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let terms = query_pairs(q.as_deref())?;
    Ok(Json(
        s.call(move |s| inventory::findings(s, &who, &terms))
            .await?,
    ))
}

/// `GET /api/v1/findings/summary`: per advisory, how many organizations and assets are
/// affected (coordinator only).
pub async fn findings_summary(
    State(s): State<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(s.call(move |s| inventory::summary(s, &who)).await?))
}
