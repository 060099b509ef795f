//! An organization's subscription in the web UI: the language and filters of the
//! warnings it receives, its webhooks (the signing secret shown once) and e-mail
//! contacts. The rules are the `subscriptions` service's.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::{
    as_user, caller, check_post, error_page, field, page, see_other, with_status, Caller, Chrome,
};
use crate::service::subscriptions::{self, Endpoint, Target};
use crate::service::{warnings, Error, Kind};
use crate::Shared;

/// The service's input from the form's values.
fn input<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::new(Kind::BadRequest, e.to_string()))
}

fn own() -> Target {
    Target { organization: None }
}

#[derive(askama::Template)]
#[template(path = "subscription.html")]
struct SubscriptionPage {
    c: Chrome,
    language: String,
    min_severity: String,
    sectors: String,
    severities: Vec<(String, String)>,
    /// (id, url)
    webhooks: Vec<(String, String)>,
    /// (id, address, role, language)
    contacts: Vec<(String, String, String, String)>,
    /// A new webhook's secret, shown once.
    secret: String,
    writer: bool,
    error: String,
}

async fn sub_page(s: &Shared, c: &Caller, secret: &str, error: &str) -> Response {
    match as_user(s, c, |s, who| subscriptions::get(s, who, &own())).await {
        Ok(v) => {
            let str_of = |x: &Value, k: &str| x[k].as_str().unwrap_or_default().to_string();
            page(&SubscriptionPage {
                c: Chrome::new(c, c.lang.t("subscription.title")),
                language: str_of(&v, "language"),
                min_severity: str_of(&v, "min_severity"),
                sectors: v["sectors"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                severities: warnings::SEVERITIES
                    .iter()
                    .map(|x| {
                        (
                            x.to_string(),
                            c.lang.t(&format!("severity.{x}")).to_string(),
                        )
                    })
                    .collect(),
                webhooks: v["webhooks"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|w| (str_of(w, "id"), str_of(w, "url")))
                            .collect()
                    })
                    .unwrap_or_default(),
                contacts: v["contacts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                (
                                    str_of(x, "id"),
                                    str_of(x, "email"),
                                    c.lang
                                        .t(&format!("contact.{}", str_of(x, "role")))
                                        .to_string(),
                                    str_of(x, "language"),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                secret: secret.to_string(),
                writer: c.signed_in().is_some_and(|a| a.user.role != "read-only"),
                error: error.to_string(),
            })
        }
        Err(e) => error_page(c, &e),
    }
}

pub async fn show(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/subscription", q.as_deref()).await;
    if c.signed_in().is_none() {
        return see_other("/login");
    }
    sub_page(&s, &c, "", "").await
}

/// A change to the subscription: `settings`, `webhooks`, `contacts`, or removing one
/// (`webhooks/{id}/remove`, `contacts/{id}/remove`).
pub async fn change(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(what): Path<String>,
    body: Body,
) -> Response {
    let c = caller(&s, &headers, "/subscription", None).await;
    if c.signed_in().is_none() {
        return see_other("/login");
    }
    let f = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let r = as_user(&s, &c, move |s, who| {
        let t = own();
        match what.as_str() {
            "settings" => {
                let sectors: Vec<String> = field(&f, "sectors")
                    .split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .take(50)
                    .map(String::from)
                    .collect();
                let inp = input(json!({"language": field(&f, "language"),
                    "min_severity": field(&f, "min_severity"), "sectors": sectors}))?;
                subscriptions::put(s, who, &t, inp).map(|_| String::new())
            }
            "webhooks" => {
                let inp = input(json!({"url": field(&f, "url").trim()}))?;
                subscriptions::add_webhook(s, who, &t, inp)
                    .map(|v| v["secret"].as_str().unwrap_or_default().to_string())
            }
            "contacts" => {
                let lang = field(&f, "language");
                let inp = input(json!({"email": field(&f, "email").trim(),
                    "role": field(&f, "role"),
                    "language": (!lang.is_empty()).then_some(lang)}))?;
                subscriptions::add_contact(s, who, &t, inp).map(|_| String::new())
            }
            other => {
                let (kind, id) = match other.split_once(':') {
                    Some(("webhook", id)) => (Endpoint::Webhook, id),
                    Some(("contact", id)) => (Endpoint::Contact, id),
                    _ => return Err(Error::new(Kind::NotFound, format!("no change {other}"))),
                };
                subscriptions::remove(s, who, &t, id, kind).map(|_| String::new())
            }
        }
    })
    .await;
    match r {
        Ok(secret) if !secret.is_empty() => sub_page(&s, &c, &secret, "").await,
        Ok(_) => see_other("/subscription"),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Forbidden | Kind::NotFound) => {
            with_status(sub_page(&s, &c, "", &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}
