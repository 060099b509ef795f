//! The CSAF 2.0 provider tree under `/.well-known/csaf/`, as `hinomi csaf publish`
//! wrote it, for everyone.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::service;
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new().route("/.well-known/csaf/{*path}", get(serve_file))
}

async fn serve_file(State(s): State<Shared>, Path(path): Path<String>) -> Response {
    match s
        .call(move |s| service::provider::published_file(s, &path))
        .await
    {
        Ok((bytes, ctype)) => ([(header::CONTENT_TYPE, ctype)], bytes).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.message).into_response(),
    }
}
