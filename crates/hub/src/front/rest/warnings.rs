//! `/api/v1/warnings` and `/api/v1/deliveries`, over [`crate::service::warnings`].

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{json_body, viewer, ApiResult};
use crate::service::warnings::{
    self, AckLink, DeliveriesQuery, ListQuery, StatusInput, WarningInput, WithdrawInput,
};
use crate::Shared;

/// `POST /api/v1/warnings`: a new draft.
pub async fn create(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    warnings::writer(&who)?;
    let inp: WarningInput = json_body(&s, &headers, body).await?;
    let v = s.call(move |s| warnings::create(s, &who, inp)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/warnings`: the warnings the caller may see, newest change first.
pub async fn list(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let items = s.call(move |s| warnings::list(s, &who, &q)).await?;
    Ok(Json(json!({"warnings": items})))
}

/// `GET /api/v1/warnings/{id}`.
pub async fn get(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(s.call(move |s| warnings::get(s, &who, &id)).await?))
}

/// `PUT /api/v1/warnings/{id}`: edits a draft, or updates a published warning.
pub async fn put(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    warnings::writer(&who)?;
    let inp: WarningInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| warnings::update(s, &who, &id, inp)).await?,
    ))
}

/// `POST /api/v1/warnings/{id}/publish`: a draft becomes version 1 and goes out.
pub async fn publish_draft(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| warnings::publish_draft(s, &who, &id))
            .await?,
    ))
}

/// `POST /api/v1/warnings/{id}/withdraw`: recipients are told; the report is revoked.
pub async fn withdraw(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    warnings::writer(&who)?;
    let inp: WithdrawInput = if headers.get(header::CONTENT_TYPE).is_some() {
        json_body(&s, &headers, body).await?
    } else {
        WithdrawInput::default()
    };
    Ok(Json(
        s.call(move |s| warnings::withdraw(s, &who, &id, inp))
            .await?,
    ))
}

/// `POST /api/v1/warnings/{id}/acknowledgements`: a recipient reports its status.
pub async fn acknowledge(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    warnings::writer(&who)?;
    let inp: StatusInput = json_body(&s, &headers, body).await?;
    let (added, v) = s
        .call(move |s| warnings::acknowledge(s, &who, &id, inp))
        .await?;
    let code = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(v)).into_response())
}

/// `GET /api/v1/warnings/{id}/acknowledgements`: the status history.
pub async fn acknowledgements(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| warnings::acknowledgements(s, &who, &id))
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct LinkQuery {
    org: String,
    sig: String,
}

/// `GET /api/v1/warnings/{id}/ack?org=…&sig=…`: the one-click acknowledgement link of
/// the e-mails; answers a small page in English and Japanese.
pub async fn ack_link(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let page = |code: StatusCode, en: &str, ja: &str| {
        (
            code,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>hinomi</title></head><body><p lang=\"en\">{en}</p><p lang=\"ja\">{ja}</p></body></html>"),
        )
            .into_response()
    };
    match s
        .call(move |s| warnings::ack_link(s, &id, &q.org, &q.sig))
        .await
    {
        Ok(AckLink::Recorded) => page(
            StatusCode::OK,
            "Thank you: your organization's acknowledgement is recorded.",
            "ありがとうございます。貴組織の受領確認を記録しました。",
        ),
        Ok(AckLink::Invalid) => page(
            StatusCode::FORBIDDEN,
            "This acknowledgement link is not valid.",
            "この確認リンクは無効です。",
        ),
        Ok(AckLink::NoWarning) => page(
            StatusCode::NOT_FOUND,
            "This warning does not exist.",
            "この警報は存在しません。",
        ),
        Ok(AckLink::Withdrawn) => page(
            StatusCode::CONFLICT,
            "This warning has been withdrawn.",
            "この警報は取り下げられました。",
        ),
        Err(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again in a moment.",
            "しばらくしてから再度お試しください。",
        ),
    }
}

/// `GET /api/v1/warnings/{id}/tracking`: for the issuer and the coordinator.
pub async fn tracking(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| warnings::tracking(s, &who, &id)).await?,
    ))
}

/// `GET /api/v1/deliveries`: the outbox for the coordinator.
pub async fn deliveries(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| warnings::deliveries(s, &who, &q)).await?,
    ))
}
