//! Operations endpoints: `/healthz` for load balancers and `/metrics` for Prometheus.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::{viewer, ApiResult};
use crate::service;
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
}

async fn healthz(State(s): State<Shared>) -> Response {
    match s.call_health(service::health).await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"status\":\"ok\",\"schema_version\":{v}}}"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"unavailable\",\"reason\":\"database\"}",
        )
            .into_response(),
    }
}

async fn metrics_text(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    let text = s
        .call_health(move |s| service::metrics_text(s, &who))
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
