//! `/api/v1/advisories` (CSAF 2.0 documents) and `/api/v1/kev`, over
//! [`crate::service::advisories`].

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::http::{json_body, query_pairs, viewer, ApiResult, Code};
use crate::service::advisories::{self, Submitted};
use crate::Shared;

/// `POST /api/v1/advisories`: a CSAF 2.0 document.
pub async fn post_advisory(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    advisories::may_submit(&who)?;
    let doc: Value = json_body(&s, &headers, body).await?;
    match s.call(move |s| advisories::submit(s, &who, doc)).await? {
        Submitted::Invalid(findings) => {
            let list: Vec<Value> = findings
                .iter()
                .map(|f| json!({"test": f.test, "path": f.path, "message": f.message}))
                .collect();
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": {"code": Code::Unprocessable.as_str(), "message": format!("not a valid CSAF 2.0 document: {} finding(s), first: {}", findings.len(), findings[0])},
                    "findings": list,
                })),
            )
                .into_response())
        }
        Submitted::Stored { added, summary } => {
            let code = if added {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((code, Json(summary)).into_response())
        }
    }
}

/// `GET /api/v1/advisories`: search the advisories the caller may see.
pub async fn list_advisories(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let terms = query_pairs(q.as_deref())?;
    Ok(Json(
        s.call(move |s| advisories::search(s, &who, terms)).await?,
    ))
}

/// `GET /api/v1/advisories/{tracking_id}[?version=]`: the CSAF document.
pub async fn get_advisory(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    let version = query_pairs(q.as_deref())?
        .into_iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v);
    let doc = s
        .call(move |s| advisories::document(s, &who, &id, version.as_deref()))
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], doc).into_response())
}

/// `POST /api/v1/kev`: import a known-exploited catalog (admin); idempotent.
pub async fn post_kev(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let doc: Value = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| advisories::import_kev(s, &who, &doc))
            .await?,
    ))
}

/// `GET /api/v1/publishers`: the bound publisher namespaces (coordinator).
pub async fn list_publishers(
    State(s): State<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| advisories::publishers(s, &who)).await?,
    ))
}

/// `PUT /api/v1/publishers`: `{"namespace", "organization"}` binds a namespace.
pub async fn put_publisher(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let inp: advisories::BindingInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| advisories::bind_publisher(s, &who, inp))
            .await?,
    ))
}

/// `DELETE /api/v1/publishers?namespace=…`: removes a binding.
pub async fn delete_publisher(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    let ns = query_pairs(q.as_deref())?
        .into_iter()
        .find(|(k, _)| k == "namespace")
        .map(|(_, v)| v)
        .ok_or_else(|| {
            crate::http::ApiError::new(
                Code::InvalidFilter,
                "namespace: give the namespace to unbind",
            )
        })?;
    s.call(move |s| advisories::unbind_publisher(s, &who, &ns))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
