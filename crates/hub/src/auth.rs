//! Who is calling: `Authorization: Bearer <token>` or HTTP Basic with the token as
//! password, turned into a [`Principal`] and the reader's [`Scope`].

use axum::http::{header, HeaderMap};
use base64::Engine;

use hinomi_access::{Reader, Scope};
use hinomi_store::{Community, Principal, Role};

use crate::error::{ApiError, ApiResult, Code};
use crate::Shared;

/// The reader an organization is when the hub acts on its behalf (matching, delivery,
/// federation): its identity plus the identities of the communities it belongs to.
/// `peer_green` comes from a peer hub's sharing agreement.
pub fn org_reader(
    org_id: &str,
    kind: hinomi_access::OrgKind,
    identity_id: &str,
    communities: &[Community],
    peer_green: bool,
) -> Reader {
    let mut keys = vec![identity_id.to_string()];
    keys.extend(
        communities
            .iter()
            .filter(|c| c.members.iter().any(|m| m == org_id))
            .map(|c| c.identity_id.clone()),
    );
    Reader::Organization {
        org_id: org_id.to_string(),
        kind,
        audience_keys: keys,
        peer_green,
    }
}

/// The caller of a request: a principal, or nobody.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    /// The access-rule reader of this caller.
    pub fn reader(&self) -> Reader {
        match &self.0 {
            None => Reader::Anonymous,
            Some(p) => Reader::Organization {
                org_id: p.org.id.clone(),
                kind: p.org.kind,
                audience_keys: p.audience_keys.clone(),
                // From the peer's sharing agreement.
                peer_green: p.peer_green,
            },
        }
    }

    /// The reader compiled for queries.
    pub fn scope(&self) -> Scope {
        Scope::for_reader(&self.reader())
    }

    /// The principal, or 401.
    pub fn require(&self) -> ApiResult<&Principal> {
        self.0.as_ref().ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "this resource needs credentials: send 'Authorization: Bearer <token>'",
            )
        })
    }

    /// An admin principal (coordinator admin token), or 401/403.
    pub fn require_admin(&self) -> ApiResult<&Principal> {
        let p = self.require()?;
        if p.role != Role::Admin {
            return Err(ApiError::new(
                Code::Forbidden,
                "this action needs an admin token of the coordinator",
            ));
        }
        Ok(p)
    }
}

/// Extracts the token of a request, if any. A malformed header is an error, not
/// anonymity.
fn token_of(headers: &HeaderMap) -> ApiResult<Option<String>> {
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

/// Authenticates a request. No header: anonymous; a wrong or revoked token: 401.
pub async fn caller(state: &Shared, headers: &HeaderMap) -> ApiResult<Caller> {
    let Some(token) = token_of(headers)? else {
        return Ok(Caller(None));
    };
    let p = state.db(move |s| s.authenticate(&token)).await?;
    match p {
        Some(p) => Ok(Caller(Some(p))),
        None => Err(ApiError::new(
            Code::Unauthorized,
            "the token is not valid or has been revoked",
        )),
    }
}
