//! HTTP support shared by the front ends: request bodies read with limits, JSON with
//! field-path errors, content negotiation, authentication into a
//! [`crate::service::Viewer`], and the mapping of errors to statuses and bodies.
//! Nothing here decides who may see what.

mod auth;
mod error;
pub(crate) mod ratelimit;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

pub use auth::viewer;
pub use error::{ApiError, ApiResult, Code};

use crate::{Shared, TAXII_MEDIA_TYPE};

/// An error rendered as a TAXII error resource.
pub fn taxii_error(e: impl Into<ApiError>) -> ApiError {
    e.into().taxii()
}

/// Reads a request body of at most `max_content_length` bytes. The whole body must
/// arrive within `body_timeout` (408 otherwise: a slow sender holds nothing for long),
/// and bodies over 1 MiB (declared or unknown length) wait (up to `large_body_wait`,
/// then 503) for one of the `large_bodies` permits, so a few clients posting maximum-size bodies cannot take
/// all memory and CPU.
pub async fn read_body(
    s: &Shared,
    body: Body,
    headers: &HeaderMap,
) -> ApiResult<axum::body::Bytes> {
    read_body_up_to(s, body, headers, s.config.max_content_length).await
}

/// [`read_body`] with a smaller limit than `max_content_length` (web forms).
pub async fn read_body_up_to(
    s: &Shared,
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> ApiResult<axum::body::Bytes> {
    let configured = limit >= s.config.max_content_length;
    let limit = limit.min(s.config.max_content_length);
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            if configured {
                format!("the request body is larger than max_content_length ({limit} bytes)")
            } else {
                format!("the request body is larger than {limit} bytes")
            },
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared {
        if len > limit {
            // Read (and drop) a moderately oversized body before answering, so the
            // client is not cut off mid-send and sees the 413; a body far beyond the
            // limit is refused at once.
            if len <= limit.saturating_add(1 << 20) {
                let _ =
                    tokio::time::timeout(s.config.body_timeout, axum::body::to_bytes(body, len))
                        .await;
            }
            return Err(too_large());
        }
    }
    let timeout = s.config.body_timeout;
    let slow = || {
        ApiError::new(
            Code::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        )
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let _permit = if limit > LARGE_BODY && declared.is_none_or(|l| l > LARGE_BODY) {
        Some(
            tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + s.config.large_body_wait),
                s.large_bodies.acquire(),
            )
            .await
            .map_err(|_| {
                ApiError::new(
                    Code::Unavailable,
                    "too many large uploads at once; retry shortly",
                )
            })?
            .map_err(|_| ApiError::new(Code::Unavailable, "the hub is shutting down"))?,
        )
    } else {
        None
    };
    match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(r) => r.map_err(|_| too_large()),
        Err(_) => Err(slow()),
    }
}

/// Bodies above this size count against `large_bodies`.
const LARGE_BODY: usize = 1 << 20;

/// The pairs of a URL query string; 400 `invalid_filter` when it does not decode.
pub fn query_pairs(q: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::new(Code::InvalidFilter, format!("query string: {e}")))
}

/// The request's Content-Type, or "".
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Parses a JSON body into `T`, with errors that name the field.
pub async fn json_body<T: DeserializeOwned>(
    s: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    let ct = content_type(headers);
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON with Content-Type: application/json, not '{ct}'"),
        ));
    }
    let bytes = read_body(s, body, headers).await?;
    parse_json(&bytes)
}

/// Like [`json_body`], but an empty body (with or without a Content-Type) is
/// `T::default()`.
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    s: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    let bytes = read_body(s, body, headers).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let ct = content_type(headers);
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON with Content-Type: application/json, not '{ct}'"),
        ));
    }
    parse_json(&bytes)
}

/// Parses JSON bytes into `T`, with errors that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // The path of the offending field, not only a line and column.
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ApiError::new(Code::InvalidJson, format!("request body: {at}{inner}"))
    })
}

/// 406 unless the client accepts TAXII 2.1 JSON.
pub fn check_taxii_accept(headers: &HeaderMap) -> ApiResult<()> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("");
    let ok = accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut version_ok = true;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("version") {
                    version_ok = v.trim().trim_matches('"') == "2.1";
                }
            }
        }
        match media.as_str() {
            "application/taxii+json" => version_ok,
            "*/*" | "application/*" => true,
            _ => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(taxii_error(ApiError::new(
            Code::NotAcceptable,
            format!("this server speaks {TAXII_MEDIA_TYPE}; the Accept header '{accept}' does not allow it"),
        )))
    }
}

/// 415 unless the body is TAXII 2.1 JSON.
pub fn check_taxii_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let ct = content_type(headers);
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    let version_ok = parts
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .all(|(_, v)| v.trim().trim_matches('"') == "2.1");
    if media == "application/taxii+json" && version_ok {
        Ok(())
    } else {
        Err(taxii_error(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send the envelope as {TAXII_MEDIA_TYPE}, not '{ct}'"),
        )))
    }
}

/// `s` safe inside HTML text and double-quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
