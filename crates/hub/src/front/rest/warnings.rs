//! `/api/v1/warnings` and `/api/v1/deliveries`, over [`crate::service::warnings`].

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::http::{json_body, viewer, ApiResult};
use crate::service::warnings::{
    self, AckLink, AckLinkQuery, DeliveriesQuery, ListQuery, StatusInput, WarningInput,
    WithdrawInput,
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
    let (items, next) = s.call(move |s| warnings::list(s, &who, &q)).await?;
    Ok(Json(json!({"warnings": items, "next": next})))
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

/// `POST /api/v1/warnings/{id}/approve`: the coordinator releases a member's warning
/// that names more organizations than the member may reach alone.
pub async fn approve(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| warnings::approve(s, &who, &id)).await?,
    ))
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

/// `GET /api/v1/warnings/{id}/ack?org=…&v=…&exp=…&sig=…`: the one-click link of e-mails
/// and webhooks opens a confirmation page (in English and Japanese); nothing is recorded
/// until its button posts.
pub async fn ack_link(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<AckLinkQuery>,
) -> Response {
    ack_page(s, id, q, false).await
}

/// `POST` of the same URL: records the acknowledgement.
pub async fn ack_confirm(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<AckLinkQuery>,
) -> Response {
    ack_page(s, id, q, true).await
}

async fn ack_page(s: Shared, id: String, q: AckLinkQuery, record: bool) -> Response {
    let action = format!(
        "/api/v1/warnings/{}/ack?org={}&v={}&exp={}&sig={}",
        crate::http::escape_html(&id),
        crate::http::escape_html(&q.org),
        q.v,
        q.exp,
        crate::http::escape_html(&q.sig)
    );
    let page = |code: StatusCode, en: &str, ja: &str, extra: String| {
        (
            code,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
                ),
            ],
            format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>hinomi</title></head><body><p lang=\"en\">{en}</p><p lang=\"ja\">{ja}</p>{extra}</body></html>"),
        )
            .into_response()
    };
    let plain = |code, en: &str, ja: &str| page(code, en, ja, String::new());
    match s
        .call(move |s| warnings::ack_link(s, &id, &q, record))
        .await
    {
        Ok(AckLink::Confirm { en, ja }) => page(
            StatusCode::OK,
            &format!(
                "Acknowledge receipt of the warning “{}” for your organization?",
                crate::http::escape_html(&en)
            ),
            &format!(
                "警報「{}」の受領を貴組織として確認しますか。",
                crate::http::escape_html(&ja)
            ),
            format!(
                "<form method=\"post\" action=\"{action}\"><button type=\"submit\">Acknowledge / 受領を確認</button></form>"
            ),
        ),
        Ok(AckLink::Recorded) => plain(
            StatusCode::OK,
            "Thank you: your organization's acknowledgement is recorded.",
            "ありがとうございます。貴組織の受領確認を記録しました。",
        ),
        Ok(AckLink::Invalid) => plain(
            StatusCode::FORBIDDEN,
            "This acknowledgement link is not valid.",
            "この確認リンクは無効です。",
        ),
        Ok(AckLink::Expired) => plain(
            StatusCode::GONE,
            "This acknowledgement link has expired. Acknowledge through the hub's API or web interface.",
            "この確認リンクは有効期限が切れています。ハブのAPIまたはウェブ画面から確認してください。",
        ),
        Ok(AckLink::Superseded) => plain(
            StatusCode::CONFLICT,
            "This warning has been updated since this message. Use the link in the newest message.",
            "このメッセージの後に警報が更新されました。最新のメッセージのリンクを使用してください。",
        ),
        Ok(AckLink::NoWarning) => plain(
            StatusCode::NOT_FOUND,
            "This warning does not exist.",
            "この警報は存在しません。",
        ),
        Ok(AckLink::Withdrawn) => plain(
            StatusCode::CONFLICT,
            "This warning has been withdrawn.",
            "この警報は取り下げられました。",
        ),
        Err(_) => plain(
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
