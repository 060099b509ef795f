//! The REST API under `/api/v1/`: organizations, tokens, communities, collections,
//! object lookup, the audit log and the OpenAPI document here; warnings, subscriptions,
//! advisories, inventories and findings, observations and peers in the submodules.
//! Every handler extracts, calls one service function and renders.

mod advisories;
mod casework;
mod federation;
mod incidents;
mod inventory;
mod observations;
mod subscriptions;
mod users;
mod warnings;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_store::Collection;

use crate::http::{json_body, optional_json_body, viewer, ApiError, ApiResult, Code};
use crate::service::{self, directory, objects, Viewer};
use crate::{AppState, Shared};

const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/organizations", get(list_orgs).post(create_org))
        .route(
            "/api/v1/organizations/{id}",
            get(get_org).delete(remove_org),
        )
        .route(
            "/api/v1/organizations/{id}/suspend",
            axum::routing::post(suspend_org),
        )
        .route(
            "/api/v1/organizations/{id}/reinstate",
            axum::routing::post(reinstate_org),
        )
        .route(
            "/api/v1/communities/{id}/members/{org}",
            axum::routing::put(add_member).delete(remove_member),
        )
        .route(
            "/api/v1/collections/{id}/grants/{org}",
            axum::routing::put(put_grant).delete(delete_grant),
        )
        .route(
            "/api/v1/organizations/{id}/tokens",
            get(list_tokens).post(create_token),
        )
        .route(
            "/api/v1/organizations/{id}/invitations",
            axum::routing::post(users::invite),
        )
        .route("/api/v1/organizations/{id}/users", get(users::list))
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
            get(advisories::list_advisories).post(advisories::post_advisory),
        )
        .route(
            "/api/v1/advisories/{tracking_id}",
            get(advisories::get_advisory),
        )
        .route("/api/v1/kev", axum::routing::post(advisories::post_kev))
        .route(
            "/api/v1/publishers",
            get(advisories::list_publishers)
                .put(advisories::put_publisher)
                .delete(advisories::delete_publisher),
        )
        .route("/api/v1/inventories", get(inventory::list_inventories))
        .route(
            "/api/v1/inventories/{asset}",
            axum::routing::put(inventory::put_inventory).delete(inventory::delete_inventory),
        )
        .route("/api/v1/findings", get(inventory::list_findings))
        .route("/api/v1/findings/summary", get(inventory::findings_summary))
        .route(
            "/api/v1/observations",
            axum::routing::post(observations::post_observations),
        )
        .route(
            "/api/v1/warnings",
            get(warnings::list).post(warnings::create),
        )
        .route(
            "/api/v1/warnings/{id}",
            get(warnings::get).put(warnings::put),
        )
        .route(
            "/api/v1/warnings/{id}/publish",
            axum::routing::post(warnings::publish_draft),
        )
        .route(
            "/api/v1/warnings/{id}/withdraw",
            axum::routing::post(warnings::withdraw),
        )
        .route(
            "/api/v1/warnings/{id}/acknowledgements",
            get(warnings::acknowledgements).post(warnings::acknowledge),
        )
        .route(
            "/api/v1/warnings/{id}/approve",
            axum::routing::post(warnings::approve),
        )
        .route(
            "/api/v1/warnings/{id}/ack",
            get(warnings::ack_link).post(warnings::ack_confirm),
        )
        .route("/api/v1/warnings/{id}/tracking", get(warnings::tracking))
        .route("/api/v1/deliveries", get(warnings::deliveries))
        .route(
            "/api/v1/subscription",
            get(subscriptions::get).put(subscriptions::put),
        )
        .route(
            "/api/v1/subscription/webhooks",
            axum::routing::post(subscriptions::add_webhook),
        )
        .route(
            "/api/v1/subscription/webhooks/{id}",
            delete(subscriptions::delete_webhook),
        )
        .route(
            "/api/v1/subscription/contacts",
            axum::routing::post(subscriptions::add_contact),
        )
        .route(
            "/api/v1/subscription/contacts/{id}",
            delete(subscriptions::delete_contact),
        )
        .route(
            "/api/v1/peers",
            get(federation::list_peers).post(federation::create_peer),
        )
        .route(
            "/api/v1/peers/{id}",
            get(federation::get_peer)
                .put(federation::put_peer)
                .delete(federation::delete_peer),
        )
        .route(
            "/api/v1/peers/{id}/sync",
            axum::routing::post(federation::sync_peer),
        )
        .route(
            "/api/v1/federation/objects/{id}/audience",
            axum::routing::post(federation::extend_audience),
        )
        .route(
            "/api/v1/incidents/reports",
            get(incidents::my_reports).post(incidents::file_report),
        )
        .route("/api/v1/incidents/reports/{id}", get(incidents::get_report))
        .route(
            "/api/v1/incidents/reports/{id}/supplements",
            axum::routing::post(incidents::supplement),
        )
        .route(
            "/api/v1/incidents/reports/{id}/consent",
            axum::routing::put(incidents::consent),
        )
        .route(
            "/api/v1/incidents/reports/{id}/attachments/{attachment}",
            get(incidents::attachment),
        )
        .route(
            "/api/v1/incidents/reports/{id}/correlation",
            get(incidents::report_correlation),
        )
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/overdue", get(incidents::overdue))
        .route("/api/v1/incidents/stats", get(casework::stats))
        .route(
            "/api/v1/incidents/{id}",
            get(casework::case).patch(incidents::update),
        )
        .route(
            "/api/v1/incidents/{id}/referrals",
            axum::routing::post(casework::refer),
        )
        .route(
            "/api/v1/incidents/{id}/recovery",
            get(casework::case_recovery),
        )
        .route(
            "/api/v1/incidents/{id}/recovery/{org}",
            axum::routing::put(casework::recovery_status),
        )
        .route(
            "/api/v1/incidents/{id}/recovery/{org}/tasks",
            axum::routing::post(casework::recovery_task),
        )
        .route(
            "/api/v1/incidents/{id}/recovery/{org}/impacts",
            axum::routing::post(casework::impact),
        )
        .route(
            "/api/v1/incidents/{id}/warning",
            axum::routing::post(casework::warning),
        )
        .route(
            "/api/v1/incidents/{id}/warning/preview",
            axum::routing::post(casework::warning_preview),
        )
        .route("/api/v1/referrals", get(casework::referrals))
        .route("/api/v1/referrals/{id}", get(casework::referral_one))
        .route(
            "/api/v1/referrals/{id}/consent",
            axum::routing::post(casework::referral_consent),
        )
        .route(
            "/api/v1/referrals/{id}/preservation",
            axum::routing::put(casework::preservation),
        )
        .route(
            "/api/v1/referrals/{id}/outcome",
            axum::routing::post(casework::outcome),
        )
        .route("/api/v1/recovery", get(casework::recovery_overview))
        .route(
            "/api/v1/recovery/plans/{org}",
            get(casework::plan).put(casework::set_plan),
        )
        .route(
            "/api/v1/recovery/tasks/{task}",
            axum::routing::patch(casework::recovery_task_status),
        )
        .route(
            "/api/v1/incidents/{id}/state",
            axum::routing::post(incidents::set_state),
        )
        .route(
            "/api/v1/incidents/{id}/merge",
            axum::routing::post(incidents::merge),
        )
        .route(
            "/api/v1/incidents/{id}/links",
            axum::routing::post(incidents::link),
        )
        .route(
            "/api/v1/incidents/{id}/tasks",
            axum::routing::post(incidents::add_task),
        )
        .route(
            "/api/v1/incidents/{id}/notes",
            axum::routing::post(incidents::add_note),
        )
        .route(
            "/api/v1/incidents/tasks/{task}",
            axum::routing::patch(incidents::task_done),
        )
        .route("/api/v1/correlation/exclusions", get(incidents::exclusions))
        .route(
            "/api/v1/correlation/exclusions/{value}",
            axum::routing::put(incidents::exclude).delete(incidents::include),
        )
        .route(
            "/api/v1/correlation/rebuild",
            axum::routing::post(incidents::rebuild),
        )
        .route("/api/v1/audit", get(audit))
        .route(
            "/api/v1/audit/verify",
            get(audit_verify).post(audit_verify_against),
        )
        .route("/api/v1/audit/checkpoint", get(audit_checkpoint))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn whoami(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let p = directory::whoami(&who)?;
    Ok(Json(json!({
        "organization": p.org.to_json(),
        "role": p.role.as_str(),
        "token_id": p.token_id,
        "audience_keys": p.audience_keys,
    })))
}

async fn create_org(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let req: directory::OrgInput = json_body(&s, &headers, body).await?;
    let org = s.call(move |s| directory::create_org(s, &who, req)).await?;
    Ok(created(org.to_json()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgPage {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_orgs(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<OrgPage>,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let (orgs, next) = s
        .call(move |s| directory::organizations(s, &who, q.after.as_deref(), q.limit))
        .await?;
    Ok(Json(
        json!({"organizations": orgs.iter().map(|o| o.to_json()).collect::<Vec<_>>(), "next": next}),
    ))
}

async fn get_org(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let org = s
        .call(move |s| directory::organization(s, &who, &id))
        .await?;
    Ok(Json(org.to_json()))
}

async fn suspend_org(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let inp = optional_json_body(&s, &headers, body).await?;
    let org = s
        .call(move |s| directory::suspend_org(s, &who, &id, inp))
        .await?;
    Ok(Json(org.to_json()))
}

async fn reinstate_org(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let org = s
        .call(move |s| directory::reinstate_org(s, &who, &id))
        .await?;
    Ok(Json(org.to_json()))
}

async fn remove_org(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let inp = optional_json_body(&s, &headers, body).await?;
    let org = s
        .call(move |s| directory::remove_org(s, &who, &id, inp))
        .await?;
    Ok(Json(org.to_json()))
}

async fn add_member(
    State(s): State<Shared>,
    Path((id, org)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| directory::set_community_member(s, &who, &id, &org, true))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(s): State<Shared>,
    Path((id, org)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| directory::set_community_member(s, &who, &id, &org, false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_grant(
    State(s): State<Shared>,
    Path((id, org)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let g: directory::Grant = json_body(&s, &headers, body).await?;
    s.call(move |s| directory::set_grant(s, &who, &id, &org, Some(g)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_grant(
    State(s): State<Shared>,
    Path((id, org)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| directory::set_grant(s, &who, &id, &org, None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_token(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let req: directory::TokenInput = json_body(&s, &headers, body).await?;
    let (info, secret) = s
        .call(move |s| directory::create_token(s, &who, &id, req))
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
    let who = viewer(&s, &headers).await?;
    let tokens = s.call(move |s| directory::tokens(s, &who, &id)).await?;
    Ok(Json(
        json!({"tokens": tokens.iter().map(|t| t.to_json()).collect::<Vec<_>>()}),
    ))
}

async fn revoke_token(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = viewer(&s, &headers).await?;
    s.call(move |s| directory::revoke_token(s, &who, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_community(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let req: directory::CommunityInput = json_body(&s, &headers, body).await?;
    let com = s
        .call(move |s| directory::create_community(s, &who, req))
        .await?;
    Ok(created(com.to_json()))
}

async fn list_communities(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let list = s.call(move |s| directory::communities(s, &who)).await?;
    Ok(Json(
        json!({"communities": list.iter().map(|c| c.to_json()).collect::<Vec<_>>()}),
    ))
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
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let req: directory::CollectionInput = json_body(&s, &headers, body).await?;
    let col = s
        .call(move |s| directory::create_collection(s, &who, req))
        .await?;
    Ok(created(collection_to_json(&col)))
}

async fn list_collections(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let all = s
        .call(move |s| objects::collections(&s.store, &who))
        .await?;
    let list: Vec<Value> = all.iter().map(collection_to_json).collect();
    Ok(Json(json!({"collections": list})))
}

/// The latest version of an object that the caller may see, from any collection it may
/// read.
async fn get_object(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    let found = s
        .call(move |s| objects::latest(&s.store, &who, &id))
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
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let Query(q) = q.map_err(|e| ApiError::new(Code::InvalidFilter, e.body_text()))?;
    let entries = s
        .call(move |s| directory::audit(s, &who, q.after, q.limit))
        .await?;
    Ok(Json(json!({"entries": entries.iter().map(|e| json!({
        "seq": e.seq, "at": e.at.to_string(), "actor_organization_id": e.actor_org,
        "action": e.action, "subject": e.subject, "detail": e.detail, "hash": e.hash, "prev_hash": e.prev_hash,
    })).collect::<Vec<_>>()})))
}

async fn audit_verify(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| directory::verify_audit(s, &who, &[]))
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckpointsInput {
    #[serde(default)]
    checkpoints: Vec<Value>,
}

async fn audit_verify_against(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    who.require_admin()?;
    let inp: CheckpointsInput = json_body(&s, &headers, body).await?;
    Ok(Json(
        s.call(move |s| directory::verify_audit(s, &who, &inp.checkpoints))
            .await?,
    ))
}

async fn audit_checkpoint(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(
        s.call(move |s| directory::audit_checkpoint(s, &who))
            .await?,
    ))
}

/// Runs a read as the caller.
pub(super) async fn answer(
    s: Shared,
    headers: HeaderMap,
    f: impl FnOnce(&AppState, &Viewer) -> service::Result<Value> + Send + 'static,
) -> ApiResult<Json<Value>> {
    let who = viewer(&s, &headers).await?;
    Ok(Json(s.call(move |st| f(st, &who)).await?))
}

/// Runs a change with a JSON body as the caller, answering `status`.
pub(super) async fn change<I: DeserializeOwned + Send + 'static>(
    s: Shared,
    headers: HeaderMap,
    body: Body,
    status: StatusCode,
    f: impl FnOnce(&AppState, &Viewer, I) -> service::Result<Value> + Send + 'static,
) -> ApiResult<Response> {
    let who = viewer(&s, &headers).await?;
    let inp: I = json_body(&s, &headers, body).await?;
    let v = s.call(move |st| f(st, &who, inp)).await?;
    Ok((status, Json(v)).into_response())
}
