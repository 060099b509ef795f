//! `POST /api/v1/observations[?tlp=…]`: a STIX bundle (or `{"objects": […]}`) of
//! observed-data and the objects they reference, matched by
//! [`crate::service::matching::observe`].

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;

use hinomi_stix::Tlp;

use crate::http::{content_type, read_body, viewer, ApiError, ApiResult, Code};
use crate::service::matching;
use crate::Shared;

pub async fn post_observations(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    matching::may_observe(&who)?;
    let requested = match query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("tlp=").map(str::to_string))
    }) {
        Some(t) => Some(
            t.parse::<Tlp>()
                .map_err(|e| ApiError::new(Code::InvalidFilter, format!("tlp: {e}")))?,
        ),
        None => None,
    };
    let ct = content_type(&headers);
    if !(ct.starts_with("application/json")
        || ct.starts_with("application/stix+json")
        || ct.starts_with("application/taxii+json"))
    {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send a STIX bundle as application/json, not '{ct}'"),
        ));
    }
    let bytes = read_body(&s, body, &headers).await?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("request body: {e}")))?;
    let objects = match doc {
        Value::Object(mut m) => match m.remove("objects") {
            Some(Value::Array(a)) => a,
            _ => return Err(not_a_bundle()),
        },
        _ => return Err(not_a_bundle()),
    };
    let out = s
        .call(move |s| matching::observe(s, &who, objects, requested))
        .await?;
    Ok(Json(out))
}

fn not_a_bundle() -> ApiError {
    ApiError::new(
        Code::Unprocessable,
        "the body must be a STIX bundle or an object with an 'objects' list",
    )
}
