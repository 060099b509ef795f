//! The REST API under `/api/v1/`: organizations, tokens, communities, collections,
//! object lookup, the audit log, and the OpenAPI document.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{Collection, NewOrganization, ObjectQuery, Policy, Role};

use crate::auth::caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::taxii::read_body;
use crate::Shared;

const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/organizations", get(list_orgs).post(create_org))
        .route("/api/v1/organizations/{id}", get(get_org))
        .route(
            "/api/v1/organizations/{id}/tokens",
            get(list_tokens).post(create_token),
        )
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route(
            "/api/v1/communities",
            get(list_communities).post(create_community),
        )
        .route(
            "/api/v1/collections",
            get(list_collections).post(create_collection),
        )
        .route("/api/v1/objects/{id}", get(get_object))
        .route(
            "/api/v1/advisories",
            get(crate::advisories::list_advisories).post(crate::advisories::post_advisory),
        )
        .route(
            "/api/v1/advisories/{tracking_id}",
            get(crate::advisories::get_advisory),
        )
        .route(
            "/api/v1/kev",
            axum::routing::post(crate::advisories::post_kev),
        )
        .route(
            "/api/v1/inventories",
            get(crate::inventory::list_inventories),
        )
        .route(
            "/api/v1/inventories/{asset}",
            axum::routing::put(crate::inventory::put_inventory)
                .delete(crate::inventory::delete_inventory),
        )
        .route("/api/v1/findings", get(crate::inventory::list_findings))
        .route(
            "/api/v1/findings/summary",
            get(crate::inventory::findings_summary),
        )
        .route(
            "/api/v1/observations",
            axum::routing::post(crate::matching::post_observations),
        )
        .route(
            "/api/v1/warnings",
            get(crate::warnings::list).post(crate::warnings::create),
        )
        .route(
            "/api/v1/warnings/{id}",
            get(crate::warnings::get).put(crate::warnings::put),
        )
        .route(
            "/api/v1/warnings/{id}/publish",
            axum::routing::post(crate::warnings::publish_draft),
        )
        .route(
            "/api/v1/warnings/{id}/withdraw",
            axum::routing::post(crate::warnings::withdraw),
        )
        .route(
            "/api/v1/warnings/{id}/acknowledgements",
            get(crate::warnings::acknowledgements).post(crate::warnings::acknowledge),
        )
        .route("/api/v1/warnings/{id}/ack", get(crate::warnings::ack_link))
        .route(
            "/api/v1/warnings/{id}/tracking",
            get(crate::warnings::tracking),
        )
        .route("/api/v1/deliveries", get(crate::warnings::deliveries))
        .route("/api/v1/stream", get(crate::stream::stream))
        .route(
            "/api/v1/subscription",
            get(crate::subscriptions::get).put(crate::subscriptions::put),
        )
        .route(
            "/api/v1/subscription/webhooks",
            axum::routing::post(crate::subscriptions::add_webhook),
        )
        .route(
            "/api/v1/subscription/webhooks/{id}",
            delete(crate::subscriptions::delete_webhook),
        )
        .route(
            "/api/v1/subscription/contacts",
            axum::routing::post(crate::subscriptions::add_contact),
        )
        .route(
            "/api/v1/subscription/contacts/{id}",
            delete(crate::subscriptions::delete_contact),
        )
        .route(
            "/api/v1/peers",
            get(crate::federation::list_peers).post(crate::federation::create_peer),
        )
        .route(
            "/api/v1/peers/{id}",
            get(crate::federation::get_peer)
                .put(crate::federation::put_peer)
                .delete(crate::federation::delete_peer),
        )
        .route(
            "/api/v1/peers/{id}/sync",
            axum::routing::post(crate::federation::sync_peer),
        )
        .route(
            "/api/v1/federation/objects/{id}/audience",
            axum::routing::post(crate::federation::extend_audience),
        )
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/audit/verify", get(audit_verify))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Parses a JSON body into `T`, with errors that name the field.
pub(crate) async fn json_body<T: DeserializeOwned>(
    s: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("send JSON with Content-Type: application/json, not '{ct}'"),
        ));
    }
    let bytes = read_body(body, headers, s.config.max_content_length).await?;
    // The path of the offending field, not only a line and column.
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
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

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn whoami(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?;
    Ok(Json(json!({
        "organization": p.org.to_json(),
        "role": p.role.as_str(),
        "token_id": p.token_id,
        "audience_keys": p.audience_keys,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgRequest {
    name: String,
    kind: String,
    #[serde(default)]
    sectors: Vec<String>,
    country: Option<String>,
}

async fn create_org(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    let req: OrgRequest = json_body(&s, &headers, body).await?;
    let kind = OrgKind::parse(&req.kind).ok_or_else(|| {
        ApiError::new(
            Code::BadRequest,
            format!(
                "kind: '{}' is not one of {}",
                req.kind,
                OrgKind::ALL.map(OrgKind::as_str).join(", ")
            ),
        )
    })?;
    if kind == OrgKind::Coordinator {
        return Err(ApiError::new(
            Code::BadRequest,
            "kind: the coordinator is created once by 'hinomi admin bootstrap'",
        ));
    }
    if let Some(cc) = &req.country {
        if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ApiError::new(
                Code::BadRequest,
                format!("country: '{cc}' is not an ISO 3166-1 alpha-2 code"),
            ));
        }
    }
    let new = NewOrganization {
        name: req.name,
        kind,
        sectors: req.sectors,
        country: req.country.map(|c| c.to_ascii_uppercase()),
    };
    let org = s.db(move |st| st.create_organization(&new, &admin)).await?;
    Ok(created(org.to_json()))
}

async fn list_orgs(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?;
    if !p.org.kind.is_member() {
        return Err(ApiError::new(
            Code::Forbidden,
            "peer hubs do not read the member directory",
        ));
    }
    let orgs = s.db(|st| st.organizations()).await?;
    Ok(Json(
        json!({"organizations": orgs.iter().map(|o| o.to_json()).collect::<Vec<_>>()}),
    ))
}

async fn get_org(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?;
    if !p.org.kind.is_member() && p.org.id != id {
        return Err(ApiError::new(
            Code::NotFound,
            format!("organization {id} not found"),
        ));
    }
    let org = s.db(move |st| st.organization(&id)).await?;
    Ok(Json(org.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    role: String,
    label: Option<String>,
}

async fn create_token(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    let req: TokenRequest = json_body(&s, &headers, body).await?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::new(
            Code::BadRequest,
            format!(
                "role: '{}' is not one of admin, analyst, member, read-only",
                req.role
            ),
        )
    })?;
    let (info, secret) = s
        .db(move |st| st.create_token(&id, role, req.label.as_deref(), &admin))
        .await?;
    let mut v = info.to_json();
    v["token"] = json!(secret);
    Ok(created(v))
}

async fn list_tokens(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    c.require_admin()?;
    let tokens = s.db(move |st| st.tokens(&id)).await?;
    Ok(Json(
        json!({"tokens": tokens.iter().map(|t| t.to_json()).collect::<Vec<_>>()}),
    ))
}

async fn revoke_token(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    s.db(move |st| st.revoke_token(&id, &admin)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommunityRequest {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn create_community(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    let req: CommunityRequest = json_body(&s, &headers, body).await?;
    let com = s
        .db(move |st| st.create_community(&req.name, &req.members, &admin))
        .await?;
    Ok(created(com.to_json()))
}

async fn list_communities(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let p = c.require()?;
    if !p.org.kind.is_member() {
        return Err(ApiError::new(
            Code::Forbidden,
            "peer hubs do not read the member directory",
        ));
    }
    let list = s.db(|st| st.communities()).await?;
    Ok(Json(
        json!({"communities": list.iter().map(|c| c.to_json()).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    organization_id: String,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionRequest {
    title: String,
    description: Option<String>,
    alias: Option<String>,
    #[serde(default = "members")]
    read_policy: String,
    #[serde(default = "restricted")]
    write_policy: String,
    #[serde(default)]
    grants: Vec<GrantRequest>,
}

fn members() -> String {
    "members".into()
}
fn restricted() -> String {
    "restricted".into()
}

fn collection_to_json(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "alias": c.alias,
        "title": c.title,
        "description": c.description,
        "read_policy": c.read_policy.as_str(),
        "write_policy": c.write_policy.as_str(),
        "grants": c.grants.iter().map(|(o, r, w)| json!({"organization_id": o, "read": r, "write": w})).collect::<Vec<_>>(),
    })
}

async fn create_collection(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let admin = c.require_admin()?.org.id.clone();
    let req: CollectionRequest = json_body(&s, &headers, body).await?;
    let policy = |field: &str, v: &str| {
        Policy::parse(v).ok_or_else(|| {
            ApiError::new(
                Code::BadRequest,
                format!("{field}: '{v}' is not one of public, members, coordinator, restricted"),
            )
        })
    };
    let col = Collection {
        id: String::new(),
        alias: req.alias,
        title: req.title,
        description: req.description,
        read_policy: policy("read_policy", &req.read_policy)?,
        write_policy: policy("write_policy", &req.write_policy)?,
        grants: req
            .grants
            .into_iter()
            .map(|g| (g.organization_id, g.read, g.write))
            .collect(),
    };
    let col = s.db(move |st| st.create_collection(&col, &admin)).await?;
    Ok(created(collection_to_json(&col)))
}

async fn list_collections(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let org = c.0.as_ref().map(|p| p.org.clone());
    let all = s.db(|st| st.collections()).await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|col| col.can_read(org.as_ref()) || col.can_write(org.as_ref()))
        .map(collection_to_json)
        .collect();
    Ok(Json(json!({"collections": list})))
}

/// The latest version of an object that the caller may see, from any collection it may
/// read.
async fn get_object(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let org = c.0.as_ref().map(|p| p.org.clone());
    let scope = c.scope();
    let found = s
        .db(move |st| {
            let mut best: Option<(hinomi_store::StoredObject, String)> = None;
            for col in st.collections()? {
                if !col.can_read(org.as_ref()) {
                    continue;
                }
                let mut q = ObjectQuery::new(&col.id, &scope);
                q.ids = vec![id.clone()];
                q.limit = 1;
                if let Some(o) = st.query_objects(&q)?.items.into_iter().next() {
                    if best.as_ref().is_none_or(|(b, _)| o.version > b.version) {
                        best = Some((o, col.id.clone()));
                    }
                }
            }
            Ok(best)
        })
        .await?;
    let Some((o, col)) = found else {
        return Err(ApiError::new(
            Code::NotFound,
            "no such object for this organization",
        ));
    };
    let object: Value = serde_json::from_str(&o.json).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "object": object,
        "collection_id": col,
        "tlp": o.tlp.label(),
        "date_added": o.date_added.to_string(),
        "version": o.version.to_string(),
    })))
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "hundred")]
    limit: i64,
}

fn hundred() -> i64 {
    100
}

async fn audit(
    State(s): State<Shared>,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    c.require_admin()?;
    let Query(q) = q.map_err(|e| ApiError::new(Code::InvalidFilter, e.body_text()))?;
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::new(
            Code::InvalidFilter,
            "limit: must be from 1 to 1000",
        ));
    }
    let entries = s.db(move |st| st.audit_entries(q.after, q.limit)).await?;
    Ok(Json(json!({"entries": entries.iter().map(|e| json!({
        "seq": e.seq, "at": e.at.to_string(), "actor_organization_id": e.actor_org,
        "action": e.action, "subject": e.subject, "detail": e.detail, "hash": e.hash, "prev_hash": e.prev_hash,
    })).collect::<Vec<_>>()})))
}

async fn audit_verify(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    c.require_admin()?;
    let broken = s.db(|st| st.verify_audit_chain()).await?;
    Ok(Json(
        json!({"intact": broken.is_none(), "first_broken_seq": broken}),
    ))
}
