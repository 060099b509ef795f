//! Per-credential limits on writes: a token bucket keyed by the SHA-256 of the
//! credential the request carries (a token however it is sent: Bearer, or Basic with
//! any user name; else a web session cookie; else, for the anonymous, the client's
//! address), so the limiter holds no secret and also slows guessing. Sign-in forms
//! (password, code, invitation) have their own, smaller bucket per client address.
//! Buckets that have refilled are dropped (a full bucket is the same as none), so the
//! map holds only the credentials of the last refill period.
//!
//! Behind a reverse proxy every connection comes from the proxy: with the proxy's
//! networks in `trusted_proxies`, the client is the last `X-Forwarded-For` address not
//! in them ([`client_ip`]); from anywhere else the header is ignored (it is the
//! client's own claim).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{ApiError, Code};
use crate::Shared;

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl Limiter {
    /// Takes one write from `key`'s bucket; false when it is empty.
    fn allow(&self, key: [u8; 32], per_minute: u32) -> bool {
        let now = Instant::now();
        let cap = f64::from(per_minute);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            let refill = 60.0 / cap.max(1.0);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() / refill < cap);
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * cap / 60.0).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub async fn limit_writes(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let per_minute = s.config.write_rate_per_minute;
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if per_minute > 0 && write {
        let ip = client_ip(&s.config.trusted_proxies, &req)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let path = req.uri().path();
        let sign_in = path == "/login" || path == "/login/code" || path.starts_with("/invite/");
        let sign_in_rate = s.config.accounts.sign_in_rate_per_minute;
        if sign_in && sign_in_rate > 0 {
            let key: [u8; 32] = Sha256::digest(format!("sign-in|{ip}").as_bytes()).into();
            if !s.limiter.allow(key, sign_in_rate) {
                return ApiError::new(
                    Code::TooManyRequests,
                    format!("more than {sign_in_rate} sign-in attempts per minute from this address; retry later"),
                )
                .into_response();
            }
        }
        // A malformed header shares its client's anonymous bucket; authentication
        // refuses it.
        let cred = super::auth::token_of(req.headers())
            .ok()
            .flatten()
            .map(|t| format!("token|{t}"))
            .or_else(|| session_cookie(req.headers()).map(|c| format!("session|{c}")))
            .unwrap_or_else(|| format!("anonymous|{ip}"));
        let key: [u8; 32] = Sha256::digest(cred.as_bytes()).into();
        if !s.limiter.allow(key, per_minute) {
            let e = ApiError::new(
                Code::TooManyRequests,
                format!(
                    "more than {per_minute} writes per minute with this credential; retry later"
                ),
            );
            let e = if req.uri().path().starts_with("/taxii2") {
                e.taxii()
            } else {
                e
            };
            return e.into_response();
        }
    }
    next.run(req).await
}

/// The address a request comes from: the connection's peer, or, when the peer is a
/// trusted proxy, the rightmost `X-Forwarded-For` hop (proxies append from the right)
/// that is not itself a trusted proxy. Hops may carry a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`); IPv4-mapped IPv6 addresses count as IPv4. What a client wrote
/// to the left of that hop is never read, so it cannot pick its own bucket. None when a
/// trusted proxy's own hop is unreadable (`unknown`, garbage): such clients share one
/// bucket rather than the proxy's, which every client behind it would exhaust.
pub fn client_ip(trusted: &[crate::outbound::Net], req: &Request) -> Option<std::net::IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<crate::conn::ClientAddr>>()?
        .0
         .0
        .ip()
        .to_canonical();
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|h| h.as_bytes().rsplit(|b| *b == b','));
    let mut last = peer;
    for hop in hops {
        let ip = std::str::from_utf8(hop).ok().and_then(forwarded_hop)?;
        if !is_trusted(ip) {
            return Some(ip);
        }
        last = ip;
    }
    // Every hop a trusted proxy: the first of them made the request.
    Some(last)
}

/// One `X-Forwarded-For` hop: an address, optionally with a port.
fn forwarded_hop(hop: &str) -> Option<std::net::IpAddr> {
    use std::net::{IpAddr, SocketAddr};
    let hop = hop.trim();
    let ip = if let Ok(ip) = hop.parse::<IpAddr>() {
        ip
    } else if let Ok(sa) = hop.parse::<SocketAddr>() {
        sa.ip()
    } else {
        hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?
    };
    Some(ip.to_canonical())
}

/// The web session cookie of a request, if any.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "hinomi_session" || *k == "__Host-hinomi_session")
        .map(|(_, v)| v)
}
