//! What follows triage, over [`crate::service::referral`], [`crate::service::recovery`],
//! [`crate::service::redistribution`] and [`crate::service::cases`]: law-enforcement
//! referrals, recovery plans and tracking, sanitized warnings, the whole case view and
//! the statistics.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::{answer, change};
use crate::http::ApiResult;
use crate::service::{cases, recovery, redistribution, referral};
use crate::Shared;

/// `GET /api/v1/incidents/{id}`: the case (for the coordinator with its referrals,
/// recovery and sanitized warnings).
pub async fn case(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| cases::get(st, who, &id)).await
}

/// `GET /api/v1/incidents/stats`.
pub async fn stats(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    answer(s, headers, cases::stats).await
}

/// `POST /api/v1/incidents/{id}/referrals`.
pub async fn refer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        move |st, who, inp| referral::create(st, who, &id, inp),
    )
    .await
}

/// `GET /api/v1/referrals`.
pub async fn referrals(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<referral::ListQuery>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| referral::list(st, who, &q)).await
}

/// `GET /api/v1/referrals/{id}`.
pub async fn referral_one(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| referral::get(st, who, &id)).await
}

/// `POST /api/v1/referrals/{id}/consent`: a reporter's answer.
pub async fn referral_consent(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        referral::answer(st, who, &id, inp)
    })
    .await
}

/// `PUT /api/v1/referrals/{id}/preservation`.
pub async fn preservation(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        referral::set_preservation(st, who, &id, inp)
    })
    .await
}

/// `POST /api/v1/referrals/{id}/outcome`.
pub async fn outcome(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        referral::set_outcome(st, who, &id, inp)
    })
    .await
}

/// `GET /api/v1/recovery/plans/{org}`.
pub async fn plan(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        recovery::plan_view(st, who, &org)
    })
    .await
}

/// `PUT /api/v1/recovery/plans/{org}`.
pub async fn set_plan(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        recovery::set_plan(st, who, &org, inp)
    })
    .await
}

/// `GET /api/v1/recovery`: the coordinator's overview.
pub async fn recovery_overview(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<recovery::OverviewQuery>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| recovery::overview(st, who, &q)).await
}

/// `GET /api/v1/incidents/{id}/recovery`.
pub async fn case_recovery(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        recovery::case_recovery(st, who, &id)
    })
    .await
}

/// `PUT /api/v1/incidents/{id}/recovery/{org}`: an organization's recovery status.
pub async fn recovery_status(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, org)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        recovery::set_status(st, who, &id, &org, inp)
    })
    .await
}

/// `POST /api/v1/incidents/{id}/recovery/{org}/tasks`.
pub async fn recovery_task(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, org)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        move |st, who, inp| recovery::add_task(st, who, &id, &org, inp),
    )
    .await
}

/// `PATCH /api/v1/recovery/tasks/{task}`: `{"status": …}`.
pub async fn recovery_task_status(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(task): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        recovery::set_task_status(st, who, &task, inp)
    })
    .await
}

/// `POST /api/v1/incidents/{id}/recovery/{org}/impacts`.
pub async fn impact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, org)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        move |st, who, inp| recovery::add_impact(st, who, &id, &org, inp),
    )
    .await
}

/// `POST /api/v1/incidents/{id}/warning/preview`: exactly what a sanitized warning
/// would hold, nothing stored.
pub async fn warning_preview(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(s, headers, body, StatusCode::OK, move |st, who, inp| {
        redistribution::preview(st, who, &id, inp)
    })
    .await
}

/// `POST /api/v1/incidents/{id}/warning`: drafts the sanitized warning.
pub async fn warning(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        move |st, who, inp| redistribution::create(st, who, &id, inp),
    )
    .await
}
