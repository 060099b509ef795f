//! Who is calling: `Authorization: Bearer <token>` or HTTP Basic with the token as
//! password, turned into the operation's [`Viewer`].

use axum::http::{header, HeaderMap};
use base64::Engine;

use super::{ApiError, ApiResult, Code};
use crate::service::Viewer;
use crate::Shared;

/// Extracts the token of a request, if any. A malformed header is an error, not
/// anonymity.
pub(crate) fn token_of(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = |m: &str| ApiError::new(Code::Unauthorized, m.to_string());
    let v = v
        .to_str()
        .map_err(|_| bad("the Authorization header is not ASCII"))?;
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        if rest.is_empty() {
            return Err(bad("the Bearer token is empty"));
        }
        Ok(Some(rest.to_string()))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| bad("the Basic credentials are not base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("the Basic credentials are not UTF-8"))?;
        let (user, pass) = raw.split_once(':').unwrap_or((&raw, ""));
        let t = if pass.is_empty() { user } else { pass };
        if t.is_empty() {
            return Err(bad("the Basic credentials carry no token"));
        }
        Ok(Some(t.to_string()))
    } else {
        Err(bad("unsupported Authorization scheme; use Bearer or Basic"))
    }
}

/// Authenticates a request and builds its caller. No header: the public; a wrong or
/// revoked token: 401. A peer hub's export view is loaded in the same store call.
pub async fn viewer(state: &Shared, headers: &HeaderMap) -> ApiResult<Viewer> {
    let Some(token) = token_of(headers)? else {
        return Ok(Viewer::anonymous());
    };
    let found = state
        .db(move |s| match s.authenticate(&token)? {
            Some(p) => Viewer::of(s, Some(p)).map(Some),
            None => Ok(None),
        })
        .await?;
    let v = found.ok_or_else(|| {
        ApiError::new(
            Code::Unauthorized,
            "the token is not valid or has been revoked",
        )
    })?;
    let cert = headers
        .get(crate::conn::CLIENT_CERT_HEADER)
        .and_then(|c| c.to_str().ok());
    v.check_client_certificate(cert)?;
    Ok(v)
}
