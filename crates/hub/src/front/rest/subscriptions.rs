//! `/api/v1/subscription`: delivery settings, webhooks and contacts, over
//! [`crate::service::subscriptions`]. `?organization=ID` lets the coordinator's admin
//! manage another organization's.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::http::{json_body, viewer, ApiResult};
use crate::service::subscriptions::{
    self, ContactInput, Endpoint, SettingsInput, Target, WebhookInput,
};
use crate::Shared;

/// `GET /api/v1/subscription`.
pub async fn get(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| subscriptions::get(s, &who, &t)).await?,
    ))
}

/// `PUT /api/v1/subscription`: language and filters.
pub async fn put(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    subscriptions::may_change(&who, &t)?;
    let inp: SettingsInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| subscriptions::put(s, &who, &t, inp))
            .await?,
    ))
}

/// `POST /api/v1/subscription/webhooks`: the secret is returned once.
pub async fn add_webhook(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    subscriptions::may_change(&who, &t)?;
    let inp: WebhookInput = json_body(&s, &headers, body).await?;
    let v = s
        .call(move |s| subscriptions::add_webhook(s, &who, &t, inp))
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /api/v1/subscription/webhooks/{id}`.
pub async fn delete_webhook(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(t): Query<Target>,
) -> ApiResult<StatusCode> {
    remove(s, headers, id, t, Endpoint::Webhook).await
}

/// `POST /api/v1/subscription/contacts`.
pub async fn add_contact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    subscriptions::may_change(&who, &t)?;
    let inp: ContactInput = json_body(&s, &headers, body).await?;
    let v = s
        .call(move |s| subscriptions::add_contact(s, &who, &t, inp))
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /api/v1/subscription/contacts/{id}`.
pub async fn delete_contact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(t): Query<Target>,
) -> ApiResult<StatusCode> {
    remove(s, headers, id, t, Endpoint::Contact).await
}

async fn remove(
    s: Shared,
    headers: HeaderMap,
    id: String,
    t: Target,
    what: Endpoint,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| subscriptions::remove(s, &who, &t, &id, what))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
