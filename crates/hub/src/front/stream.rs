//! `GET /api/v1/stream`: the organization's live feed as Server-Sent Events. Each event
//! carries its feed sequence number as `id`; a client that reconnects with
//! `Last-Event-ID` (header, or `?last_event_id=`) gets everything after it, nothing
//! twice. Without it the feed starts at the newest event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use axum::routing::get;
use axum::Router;
use hinomi_store::StreamEvent;

use crate::http::{viewer, ApiError, ApiResult, Code};
use crate::service::{feed, Kind, Viewer};
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new().route("/api/v1/stream", get(stream))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    last_event_id: Option<String>,
}

fn parse_id(v: &str) -> ApiResult<i64> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::new(
                Code::BadRequest,
                format!(
                    "Last-Event-ID: '{v}' is not an event id of this feed (a non-negative integer)"
                ),
            )
        })
}

/// Formats one event in the `text/event-stream` format.
pub fn sse_frame(e: &StreamEvent) -> String {
    let mut data = serde_json::json!({"seq": e.seq, "at": hinomi_stix::Timestamp(e.at).to_string(), "event": e.event});
    data["data"] = e.data.clone();
    format!("id: {}\nevent: {}\ndata: {}\n\n", e.seq, e.event, data)
}

struct Feed {
    s: Shared,
    who: Viewer,
    last: i64,
    queue: VecDeque<StreamEvent>,
    started: bool,
    /// Seconds without an event.
    idle: u64,
}

const KEEPALIVE: Duration = Duration::from_secs(15);

/// The SSE handler.
async fn stream(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    who.require()?;
    let from_header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let resume = match from_header.or(q.last_event_id) {
        Some(v) => Some(parse_id(&v)?),
        None => None,
    };
    let w = who.clone();
    let last = s.call(move |s| feed::start(s, &w, resume)).await?;
    let feed = Feed {
        s,
        who,
        last,
        queue: VecDeque::new(),
        started: false,
        idle: 0,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        if !f.started {
            f.started = true;
            return Some((Ok::<Bytes, Infallible>(Bytes::from("retry: 2000\n\n")), f));
        }
        loop {
            if f.s.closing() {
                return None; // shutdown: end the stream so the server can stop
            }
            if let Some(e) = f.queue.pop_front() {
                f.last = e.seq;
                return Some((Ok(Bytes::from(sse_frame(&e))), f));
            }
            // Arm the wake-up before looking, so an event written meanwhile is not missed.
            let shared = f.s.clone();
            let notified = shared.stream_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (who, last) = (f.who.clone(), f.last);
            match f
                .s
                .call_stream(move |s| feed::events(s, &who, last, 200))
                .await
            {
                Ok(events) if !events.is_empty() => {
                    f.idle = 0;
                    f.queue.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) if e.kind == Kind::Unauthorized => return None,
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            // Other nodes write to the same feed: look again at least every second.
            let waited = tokio::time::timeout(Duration::from_secs(1), notified).await;
            if waited.is_err() {
                // Idle: a comment line now and then keeps proxies from closing the stream.
                f.idle += 1;
                if f.idle % KEEPALIVE.as_secs() == 0 {
                    return Some((Ok(Bytes::from(":\n\n")), f));
                }
            }
        }
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
