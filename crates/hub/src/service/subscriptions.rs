//! Subscriptions: an organization's delivery settings — language, filters
//! (minimum severity, sectors, report types), webhook endpoints and e-mail contacts.
//! An organization manages its own; the coordinator's admin may manage any by naming
//! it.

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_notify::webhook::WebhookSecret;
use hinomi_store::{Contact, OrgSettings, Role, Webhook};

use super::warnings::SEVERITIES;
use super::{Error, Kind, Result, Viewer};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub organization: Option<String>,
}

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

/// Whether the caller may change the subscription `t` names (checked before a front
/// end reads the request body, and again by every change).
pub fn may_change(who: &Viewer, t: &Target) -> Result<()> {
    may(who, t, true)
}

fn may(who: &Viewer, t: &Target, write: bool) -> Result<()> {
    let p = who.require()?;
    if write && !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "a read-only token may not change subscriptions",
        ));
    }
    if t.organization.as_ref().is_some_and(|o| *o != p.org.id) && p.role != Role::Admin {
        return Err(Error::new(
            Kind::Forbidden,
            "only the coordinator's admin manages other organizations' subscriptions",
        ));
    }
    Ok(())
}

/// Whose subscription a request manages: the caller's organization, or (admin) the one
/// named.
fn whose(s: &AppState, who: &Viewer, t: &Target, write: bool) -> Result<(String, String)> {
    may(who, t, write)?;
    let p = who.require()?;
    match &t.organization {
        Some(o) if *o != p.org.id => {
            s.store.organization(o)?;
            Ok((o.clone(), p.org.id.clone()))
        }
        _ => Ok((p.org.id.clone(), p.org.id.clone())),
    }
}

/// The subscription: settings, webhooks (without secrets) and contacts.
pub fn get(s: &AppState, who: &Viewer, t: &Target) -> Result<Value> {
    let (org, _) = whose(s, who, t, false)?;
    let settings = s.store.org_settings(&org)?;
    let hooks = s.store.webhooks(Some(&org))?;
    let contacts = s.store.contacts(Some(&org))?;
    let mut v = settings.to_json();
    v["webhooks"] = hooks.iter().map(Webhook::to_json).collect();
    v["contacts"] = contacts.iter().map(Contact::to_json).collect();
    Ok(v)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    min_severity: Option<String>,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    report_types: Vec<String>,
}

fn check_language(field: &str, l: &str) -> Result<()> {
    if l == "en" || l == "ja" {
        Ok(())
    } else {
        Err(bad(format!(
            "{field}: '{l}' is not a supported language (en, ja)"
        )))
    }
}

/// Sets language and filters.
pub fn put(s: &AppState, who: &Viewer, t: &Target, inp: SettingsInput) -> Result<Value> {
    let (org, actor) = whose(s, who, t, true)?;
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
    s.store.save_org_settings(&settings, &actor)?;
    Ok(settings.to_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    url: String,
    /// `whsec_…`; when absent the hub makes one and shows it once.
    #[serde(default)]
    secret: Option<String>,
}

fn check_url(s: &AppState, url: &str) -> Result<()> {
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
    // Warnings of every TLP go to a member's webhooks.
    s.config
        .outbound
        .check_url(url, hinomi_stix::Tlp::Red)
        .map_err(|e| bad(format!("url: {e}")))
}

/// Adds a webhook: the secret is answered once and stored sealed.
pub fn add_webhook(s: &AppState, who: &Viewer, t: &Target, inp: WebhookInput) -> Result<Value> {
    let (org, actor) = whose(s, who, t, true)?;
    check_url(s, &inp.url)?;
    let cap = s.config.notify.max_webhooks_per_org;
    if s.store.webhooks(Some(&org))?.len() >= cap {
        return Err(bad(format!(
            "this organization has {cap} webhooks, the most allowed; remove one first"
        )));
    }
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
    s.store.add_webhook(&w, &actor)?;
    let mut v = w.to_json();
    v["secret"] = json!(secret.expose());
    Ok(v)
}

/// What [`remove`] disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Webhook,
    Contact,
}

/// Disables a webhook or contact of the organization a request manages.
pub fn remove(s: &AppState, who: &Viewer, t: &Target, id: &str, what: Endpoint) -> Result<()> {
    let (org, actor) = whose(s, who, t, true)?;
    let (done, name) = match what {
        Endpoint::Webhook => (s.store.disable_webhook(&org, id, &actor)?, "webhook"),
        Endpoint::Contact => (s.store.disable_contact(&org, id, &actor)?, "contact"),
    };
    if done {
        Ok(())
    } else {
        Err(Error::new(Kind::NotFound, format!("{name} {id} not found")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    email: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

fn check_email(e: &str) -> Result<()> {
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

/// Adds an e-mail contact: `role` is `primary` (receives warnings) or `escalation`
/// (receives escalations).
pub fn add_contact(s: &AppState, who: &Viewer, t: &Target, inp: ContactInput) -> Result<Value> {
    let (org, actor) = whose(s, who, t, true)?;
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
    s.store.add_contact(&ct, &actor)?;
    Ok(ct.to_json())
}
