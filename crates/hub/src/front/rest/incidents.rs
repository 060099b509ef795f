//! `/api/v1/incidents` and `/api/v1/correlation`, over [`crate::service::incidents`]
//! and [`crate::service::correlation`].

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::{answer, change};
use crate::http::{viewer, ApiResult};
use crate::service::correlation;
use crate::service::incidents::{
    self, CaseInput, ConsentInput, ListQuery, ReportInput, StateInput, SupplementInput, TaskInput,
};
use crate::Shared;

/// `POST /api/v1/incidents/reports`: a member files a report.
pub async fn file_report(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        |st, who, inp: ReportInput| incidents::report(st, who, inp),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    before: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/incidents/reports`: the caller's organization's reports.
pub async fn my_reports(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        incidents::my_reports(st, who, q.before.as_deref(), q.limit.unwrap_or(100))
    })
    .await
}

/// `GET /api/v1/incidents/reports/{id}`.
pub async fn get_report(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        incidents::report_view(st, who, &id)
    })
    .await
}

/// `POST /api/v1/incidents/reports/{id}/supplements`.
pub async fn supplement(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: SupplementInput| incidents::supplement(st, who, &id, inp),
    )
    .await
}

/// `PUT /api/v1/incidents/reports/{id}/consent`.
pub async fn consent(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: ConsentInput| incidents::set_consent(st, who, &id, inp),
    )
    .await
}

/// `GET /api/v1/incidents/reports/{id}/attachments/{attachment}`: always a download,
/// never rendered: `application/octet-stream`, `Content-Disposition: attachment`,
/// `nosniff` and a sandboxing Content-Security-Policy.
pub async fn attachment(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, aid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    let (a, bytes) = s
        .call(move |s| incidents::attachment(s, &who, &id, &aid))
        .await?;
    let ascii: String = a
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = a
        .name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("sha-256={}", a.sha256)) {
        h.insert("x-content-sha256", v);
    }
    Ok(r)
}

/// `GET /api/v1/incidents/reports/{id}/correlation`.
pub async fn report_correlation(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        incidents::report_correlation(st, who, &id)
    })
    .await
}

/// `GET /api/v1/incidents`.
pub async fn list(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| incidents::list(st, who, &q)).await
}

/// `GET /api/v1/incidents/overdue`.
pub async fn overdue(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    answer(s, headers, incidents::overdue).await
}

/// `PATCH /api/v1/incidents/{id}`: title, severity, assignee.
pub async fn update(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: CaseInput| incidents::update(st, who, &id, inp),
    )
    .await
}

/// `POST /api/v1/incidents/{id}/state`.
pub async fn set_state(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: StateInput| incidents::set_state(st, who, &id, inp),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    incidents: Vec<String>,
}

/// `POST /api/v1/incidents/{id}/merge`: `{"incidents": [...]}` merge into this one.
pub async fn merge(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: MergeInput| incidents::merge(st, who, &id, &inp.incidents),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    incident: String,
}

/// `POST /api/v1/incidents/{id}/links`.
pub async fn link(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: LinkInput| incidents::link(st, who, &id, &inp.incident),
    )
    .await
}

/// `POST /api/v1/incidents/{id}/tasks`.
pub async fn add_task(
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
        move |st, who, inp: TaskInput| incidents::add_task(st, who, &id, inp),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDone {
    done: bool,
}

/// `PATCH /api/v1/incidents/tasks/{task}`: `{"done": true}`.
pub async fn task_done(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(task): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::OK,
        move |st, who, inp: TaskDone| incidents::set_task_done(st, who, &task, inp.done),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    body: String,
}

/// `POST /api/v1/incidents/{id}/notes`.
pub async fn add_note(
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
        move |st, who, inp: NoteInput| incidents::add_note(st, who, &id, &inp.body),
    )
    .await
}

/// `GET /api/v1/correlation/exclusions`.
pub async fn exclusions(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    answer(s, headers, correlation::exclusions).await
}

/// `PUT /api/v1/correlation/exclusions/{value}`.
pub async fn exclude(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(value): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        correlation::set_exclusion(st, who, &value, true)
    })
    .await
}

/// `DELETE /api/v1/correlation/exclusions/{value}`.
pub async fn include(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(value): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        correlation::set_exclusion(st, who, &value, false)
    })
    .await
}

/// `POST /api/v1/correlation/rebuild` (coordinator admins): rebuilds the index.
pub async fn rebuild(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    answer(s, headers, correlation::rebuild_for).await
}
