//! `/api/v1/peers` and `/api/v1/federation/…`, over [`crate::service::federation`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::http::{json_body, viewer, ApiResult};
use crate::service::federation::{self, AudienceInput, PeerInput};
use crate::Shared;

/// `POST /api/v1/peers` (admin): registers a peer; the token is shown once.
pub async fn create_peer(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let inp: PeerInput = json_body(&s, &headers, body).await?;
    let v = s
        .call(move |s| federation::create_peer(s, &who, inp))
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/peers` (admin): the peers with their status.
pub async fn list_peers(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| federation::list_peers(s, &who)).await?,
    ))
}

/// `GET /api/v1/peers/{id}` (admin).
pub async fn get_peer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| federation::get_peer(s, &who, &id)).await?,
    ))
}

/// `PUT /api/v1/peers/{id}` (admin): replaces settings and agreement.
pub async fn put_peer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let inp: PeerInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| federation::update_peer(s, &who, &id, inp))
            .await?,
    ))
}

/// `DELETE /api/v1/peers/{id}` (admin): disconnects the peer.
pub async fn delete_peer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| federation::delete_peer(s, &who, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/peers/{id}/sync` (admin): pull and push now; answers what moved.
pub async fn sync_peer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| federation::sync_peer(s, &who, &id)).await?,
    ))
}

/// `POST /api/v1/federation/objects/{id}/audience` (coordinator): extends the audience
/// of an object received from a peer.
pub async fn extend_audience(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    federation::may_extend(&who)?;
    let inp: AudienceInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| federation::extend_audience(s, &who, &id, inp))
            .await?,
    ))
}
