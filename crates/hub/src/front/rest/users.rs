//! People of an organization over the API: invitations (a link to accept in the web UI)
//! and the list of users. For admins' automation; people sign in through the web UI.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, change};
use crate::http::ApiResult;
use crate::service::accounts;
use crate::Shared;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    email: String,
    role: String,
}

pub async fn invite(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    change(
        s,
        headers,
        body,
        StatusCode::CREATED,
        move |st, who, inp: InviteInput| {
            let i = accounts::invite(st, who, None, &org, &inp.email, &inp.role)?;
            Ok(json!({"link": i.link, "expires": i.expires.to_string()}))
        },
    )
    .await
}

pub async fn list(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    answer(s, headers, move |st, who| {
        Ok(json!({"users": accounts::users(st, who, &org)?}))
    })
    .await
}
