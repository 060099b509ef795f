//! `/api/v1/subscription`: an organization's delivery settings — language, filters
//! (minimum severity, sectors, report types), webhook endpoints and e-mail contacts.
//! An organization manages its own; the coordinator's admin may manage any with
//! `?organization=ID`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_notify::webhook::WebhookSecret;
use hinomi_store::{Contact, OrgSettings, Role, Webhook};

use crate::auth::{caller, Caller};
use crate::error::{ApiError, ApiResult, Code};
use crate::rest::json_body;
use crate::warnings::SEVERITIES;
use crate::Shared;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    organization: Option<String>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, m)
}

/// Whose subscription a request manages: the caller's organization, or (admin) the one
/// named.
async fn whose(s: &Shared, c: &Caller, t: &Target, write: bool) -> ApiResult<(String, String)> {
    let p = c.require()?;
    if write && !p.role.can_write() {
        return Err(ApiError::new(
            Code::Forbidden,
            "a read-only token may not change subscriptions",
        ));
    }
    match &t.organization {
        Some(o) if *o != p.org.id => {
            if p.role != Role::Admin {
                return Err(ApiError::new(
                    Code::Forbidden,
                    "only the coordinator's admin manages other organizations' subscriptions",
                ));
            }
            let id = o.clone();
            s.db(move |st| st.organization(&id)).await?;
            Ok((o.clone(), p.org.id.clone()))
        }
        _ => Ok((p.org.id.clone(), p.org.id.clone())),
    }
}

/// `GET /api/v1/subscription`.
pub async fn get(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let (org, _) = whose(&s, &c, &t, false).await?;
    let (settings, hooks, contacts) = s
        .db(move |st| {
            Ok((
                st.org_settings(&org)?,
                st.webhooks(Some(&org))?,
                st.contacts(Some(&org))?,
            ))
        })
        .await?;
    let mut v = settings.to_json();
    v["webhooks"] = hooks.iter().map(Webhook::to_json).collect();
    v["contacts"] = contacts.iter().map(Contact::to_json).collect();
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    min_severity: Option<String>,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    report_types: Vec<String>,
}

fn check_language(field: &str, l: &str) -> ApiResult<()> {
    if l == "en" || l == "ja" {
        Ok(())
    } else {
        Err(bad(format!(
            "{field}: '{l}' is not a supported language (en, ja)"
        )))
    }
}

/// `PUT /api/v1/subscription`: language and filters.
pub async fn put(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let c = caller(&s, &headers).await?;
    let (org, actor) = whose(&s, &c, &t, true).await?;
    let inp: SettingsInput = json_body(&s, &headers, body).await?;
    let language = inp.language.unwrap_or_else(|| "en".into());
    check_language("language", &language)?;
    let min_severity = inp.min_severity.unwrap_or_else(|| "informational".into());
    if !SEVERITIES.contains(&min_severity.as_str()) {
        return Err(bad(format!(
            "min_severity: '{min_severity}' is not one of {}",
            SEVERITIES.join(", ")
        )));
    }
    for (field, list) in [
        ("sectors", &inp.sectors),
        ("report_types", &inp.report_types),
    ] {
        if list.len() > 50 || list.iter().any(|x| x.trim().is_empty() || x.len() > 100) {
            return Err(bad(format!(
                "{field}: at most 50 non-empty names of up to 100 characters"
            )));
        }
    }
    let settings = OrgSettings {
        org_id: org,
        language,
        min_severity,
        sectors: inp.sectors,
        report_types: inp.report_types,
    };
    let st2 = settings.clone();
    s.db(move |st| st.save_org_settings(&st2, &actor)).await?;
    Ok(Json(settings.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookInput {
    url: String,
    /// `whsec_…`; when absent the hub makes one and shows it once.
    #[serde(default)]
    secret: Option<String>,
}

fn check_url(url: &str) -> ApiResult<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("url: must start with https:// (or http://)"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || host.contains('@')
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("url: not a usable http(s) URL (a host, no credentials, no spaces, at most 2000 characters)"));
    }
    Ok(())
}

/// `POST /api/v1/subscription/webhooks`: the secret is returned once and stored sealed.
pub async fn add_webhook(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let (org, actor) = whose(&s, &c, &t, true).await?;
    let inp: WebhookInput = json_body(&s, &headers, body).await?;
    check_url(&inp.url)?;
    let secret = match &inp.secret {
        Some(x) => WebhookSecret::parse(x).map_err(|e| bad(format!("secret: {e}")))?,
        None => WebhookSecret::generate(),
    };
    let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
    let sealed = s
        .config
        .notify
        .key
        .seal(secret.expose().as_bytes(), id.as_bytes());
    let w = Webhook {
        id,
        org_id: org,
        url: inp.url,
        secret_sealed: sealed,
        created: s.config.clock.now(),
    };
    let w2 = w.clone();
    s.db(move |st| st.add_webhook(&w2, &actor)).await?;
    let mut v = w.to_json();
    v["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /api/v1/subscription/webhooks/{id}`.
pub async fn delete_webhook(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(t): Query<Target>,
) -> ApiResult<Response> {
    remove(&s, &headers, &t, id, "webhook").await
}

/// Disables a webhook or contact of the organization a request manages.
async fn remove(
    s: &Shared,
    headers: &HeaderMap,
    t: &Target,
    id: String,
    what: &'static str,
) -> ApiResult<Response> {
    let c = caller(s, headers).await?;
    let (org, actor) = whose(s, &c, t, true).await?;
    let id2 = id.clone();
    let done = s
        .db(move |st| match what {
            "webhook" => st.disable_webhook(&org, &id2, &actor),
            _ => st.disable_contact(&org, &id2, &actor),
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            Code::NotFound,
            format!("{what} {id} not found"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactInput {
    email: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

fn check_email(e: &str) -> ApiResult<()> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("email: '{e}' is not an e-mail address")))
    }
}

/// `POST /api/v1/subscription/contacts`: `role` is `primary` (receives warnings) or
/// `escalation` (receives escalations).
pub async fn add_contact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(t): Query<Target>,
    body: Body,
) -> ApiResult<Response> {
    let c = caller(&s, &headers).await?;
    let (org, actor) = whose(&s, &c, &t, true).await?;
    let inp: ContactInput = json_body(&s, &headers, body).await?;
    check_email(&inp.email)?;
    let role = inp.role.unwrap_or_else(|| "primary".into());
    if role != "primary" && role != "escalation" {
        return Err(bad(format!(
            "role: '{role}' is not one of primary, escalation"
        )));
    }
    if let Some(l) = &inp.language {
        check_language("language", l)?;
    }
    let ct = Contact {
        id: format!("ct_{}", uuid::Uuid::new_v4().simple()),
        org_id: org,
        email: inp.email,
        role,
        language: inp.language,
        created: s.config.clock.now(),
    };
    let ct2 = ct.clone();
    s.db(move |st| st.add_contact(&ct2, &actor)).await?;
    Ok((StatusCode::CREATED, Json(ct.to_json())).into_response())
}

/// `DELETE /api/v1/subscription/contacts/{id}`.
pub async fn delete_contact(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(t): Query<Target>,
) -> ApiResult<Response> {
    remove(&s, &headers, &t, id, "contact").await
}
