//! Signing in (address and password, then the authenticator's code), signing out,
//! accepting an invitation (with TOTP enrolment) and the account page (language,
//! sessions listed and revocable). The rules are the `accounts` service's.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use super::{
    caller, check_post, error_page, field, form_token, page, see_other, session_cookie, short_time,
    with_status, Caller, Chrome,
};
use crate::service::accounts::{self, AcceptInput};
use crate::service::{Error, Kind};
use crate::Shared;

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    token: String,
    email: String,
    error: String,
}

fn login_page(s: &Shared, c: &Caller, email: &str, error: &str) -> Response {
    page(&LoginPage {
        c: Chrome::new(c, c.lang.t("login.title")),
        token: form_token(s),
        email: email.to_string(),
        error: error.to_string(),
    })
}

pub async fn login_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/login", q.as_deref()).await;
    if c.signed_in().is_some() {
        return see_other("/");
    }
    login_page(&s, &c, "", "")
}

/// The localized sentence for a sign-in failure.
fn login_error(c: &Caller, e: &Error) -> String {
    match e.kind {
        Kind::Unauthorized => c.lang.t("login.wrong").to_string(),
        Kind::TooManyRequests if e.message.contains("locked") => {
            format!("{} ({})", c.lang.t("login.locked"), e.message)
        }
        Kind::TooManyRequests => c.lang.t("login.busy").to_string(),
        _ => e.message.clone(),
    }
}

pub async fn login(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/login", None).await;
    let form = match check_post(&s, &c, &headers, body, true).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let email = field(&form, "email").to_string();
    let password = field(&form, "password").to_string();
    let ua = user_agent(&headers);
    let em = email.clone();
    match s
        .call(move |s| accounts::sign_in(s, &em, &password, ua.as_deref()))
        .await
    {
        Ok(n) => {
            let mut r = see_other("/login/code");
            set_cookie(&mut r, &session_cookie(&s, &n.secret, max_age(&s)));
            r
        }
        Err(e) => with_status(login_page(&s, &c, &email, &login_error(&c, &e)), &e),
    }
}

fn max_age(s: &Shared) -> i64 {
    s.config.accounts.session_max.as_secs() as i64
}

fn set_cookie(r: &mut Response, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(askama::Template)]
#[template(path = "code.html")]
struct CodePage {
    c: Chrome,
    csrf: String,
    error: String,
}

fn code_page(c: &Caller, error: &str) -> Response {
    page(&CodePage {
        c: Chrome::new(c, c.lang.t("code.title")),
        csrf: c
            .auth
            .as_ref()
            .map(|a| a.session.csrf.clone())
            .unwrap_or_default(),
        error: error.to_string(),
    })
}

pub async fn code_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/login/code", q.as_deref()).await;
    match &c.auth {
        None => see_other("/login"),
        Some(a) if a.session.second_factor => see_other("/"),
        Some(_) => code_page(&c, ""),
    }
}

pub async fn code(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/login/code", None).await;
    let Some(auth) = c.auth.clone() else {
        return see_other("/login");
    };
    let form = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let code = field(&form, "code").to_string();
    match s
        .call(move |s| accounts::second_factor(s, &auth, &code))
        .await
    {
        Ok(n) => {
            let mut r = see_other("/");
            set_cookie(&mut r, &session_cookie(&s, &n.secret, max_age(&s)));
            r
        }
        Err(e) => {
            let msg = match e.kind {
                Kind::Unauthorized => c.lang.t("code.wrong").to_string(),
                _ => login_error(&c, &e),
            };
            with_status(code_page(&c, &msg), &e)
        }
    }
}

pub async fn logout(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/logout", None).await;
    let Some(auth) = c.auth.clone() else {
        return see_other("/login");
    };
    if let Err(e) = check_post(&s, &c, &headers, body, false).await {
        return error_page(&c, &e);
    }
    let id = auth.session.id.clone();
    if let Err(e) = s.call(move |s| accounts::end_session(s, &auth, &id)).await {
        return error_page(&c, &e);
    }
    let mut r = see_other("/public");
    set_cookie(&mut r, &session_cookie(&s, "", 0));
    r
}

#[derive(askama::Template)]
#[template(path = "invite.html")]
struct InvitePage {
    c: Chrome,
    token: String,
    org: String,
    email: String,
    role: String,
    secret: String,
    otpauth: String,
    sealed: String,
    name: String,
    error: String,
}

async fn invite_page(s: &Shared, c: &Caller, secret: String, name: &str, error: &str) -> Response {
    match s.call(move |s| accounts::enrolment(s, &secret)).await {
        Ok(e) => page(&InvitePage {
            c: Chrome::new(c, c.lang.t("invite.title")),
            token: form_token(s),
            org: e.org_name,
            email: e.email,
            role: e.role,
            secret: e.totp_secret,
            otpauth: e.otpauth,
            sealed: e.sealed,
            name: name.to_string(),
            error: error.to_string(),
        }),
        Err(e) => error_page(c, &e),
    }
}

pub async fn invite_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(secret): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    // The language switch keeps the path; the secret is in it, so it is never logged
    // beyond the access log's path (which the operator controls).
    let c = caller(&s, &headers, &format!("/invite/{secret}"), q.as_deref()).await;
    invite_page(&s, &c, secret, "", "").await
}

pub async fn accept(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(secret): Path<String>,
    body: Body,
) -> Response {
    let c = caller(&s, &headers, &format!("/invite/{secret}"), None).await;
    let form = match check_post(&s, &c, &headers, body, true).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let inp = AcceptInput {
        name: field(&form, "name").to_string(),
        password: field(&form, "password").to_string(),
        password_again: field(&form, "password_again").to_string(),
        locale: field(&form, "locale").to_string(),
        sealed: field(&form, "sealed").to_string(),
        code: field(&form, "code").to_string(),
    };
    let name = inp.name.clone();
    let ua = user_agent(&headers);
    let sec = secret.clone();
    match s
        .call(move |s| accounts::accept(s, &sec, inp, ua.as_deref()))
        .await
    {
        Ok(n) => {
            let mut r = see_other("/");
            set_cookie(&mut r, &session_cookie(&s, &n.secret, max_age(&s)));
            r
        }
        Err(e) if e.kind == Kind::BadRequest => {
            with_status(invite_page(&s, &c, secret, &name, &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

pub struct SessionLine {
    pub id: String,
    pub current: bool,
    pub live: bool,
    pub created: String,
    pub last_seen: String,
    pub agent: String,
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    name: String,
    email: String,
    org: String,
    role: String,
    locale: String,
    sessions: Vec<SessionLine>,
    /// The person may invite others to the organization.
    admin: bool,
    /// A link just made, shown once.
    invited: String,
    error: String,
}

pub async fn page_of(s: &Shared, c: &Caller) -> Response {
    account_page(s, c, "", "").await
}

async fn account_page(s: &Shared, c: &Caller, invited: &str, error: &str) -> Response {
    let Some(auth) = c.signed_in().cloned() else {
        return see_other("/login");
    };
    let a = auth.clone();
    match s.call(move |s| accounts::sessions(s, &a)).await {
        Ok(list) => page(&AccountPage {
            c: Chrome::new(c, c.lang.t("account.title")),
            name: auth.user.name.clone(),
            email: auth.user.email.clone(),
            org: auth.principal.org.name.clone(),
            role: c.lang.t(&format!("role.{}", auth.user.role)).to_string(),
            locale: auth.user.locale.clone(),
            admin: auth.user.role == "admin",
            invited: invited.to_string(),
            error: error.to_string(),
            sessions: list
                .iter()
                .map(|v| SessionLine {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    current: v["current"].as_bool().unwrap_or(false),
                    live: v["live"].as_bool().unwrap_or(false),
                    created: short_time(v["created"].as_str().unwrap_or_default()),
                    last_seen: short_time(v["last_seen"].as_str().unwrap_or_default()),
                    agent: v["user_agent"]
                        .as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(80)
                        .collect(),
                })
                .collect(),
        }),
        Err(e) => error_page(c, &e),
    }
}

pub async fn show(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/account", q.as_deref()).await;
    page_of(&s, &c).await
}

pub async fn language(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/account", None).await;
    let Some(auth) = c.signed_in().cloned() else {
        return see_other("/login");
    };
    let form = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let locale = field(&form, "locale").to_string();
    let l = locale.clone();
    if let Err(e) = super::as_user(&s, &c, move |s, _| accounts::set_locale(s, &auth, &l)).await {
        return error_page(&c, &e);
    }
    // The saved language wins over an earlier switch.
    let mut r = see_other("/account");
    set_cookie(
        &mut r,
        &format!(
            "{}={locale}; Path=/; SameSite=Lax; Max-Age=31536000",
            super::LANG_COOKIE
        ),
    );
    r
}

pub async fn end_session(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let c = caller(&s, &headers, "/account", None).await;
    let Some(auth) = c.signed_in().cloned() else {
        return see_other("/login");
    };
    if let Err(e) = check_post(&s, &c, &headers, body, false).await {
        return error_page(&c, &e);
    }
    let current = id == auth.session.id;
    if let Err(e) = s.call(move |s| accounts::end_session(s, &auth, &id)).await {
        return error_page(&c, &e);
    }
    if current {
        let mut r = see_other("/login");
        set_cookie(&mut r, &session_cookie(&s, "", 0));
        return r;
    }
    see_other("/account")
}

/// An admin invites a person to their own organization; the link is shown once.
pub async fn invite(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/account", None).await;
    let Some(auth) = c.signed_in().cloned() else {
        return see_other("/login");
    };
    let form = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let (email, role) = (
        field(&form, "email").to_string(),
        field(&form, "role").to_string(),
    );
    let org = auth.principal.org.id.clone();
    let user = auth.user.clone();
    let r = super::as_user(&s, &c, move |s, who| {
        accounts::invite(s, who, Some(&user), &org, &email, &role)
    })
    .await;
    match r {
        Ok(i) => {
            let link = if i.link.starts_with('/') {
                format!("{}{}", super::public::base_url(&s, &headers), i.link)
            } else {
                i.link
            };
            account_page(&s, &c, &link, "").await
        }
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Conflict | Kind::Forbidden) => {
            with_status(account_page(&s, &c, "", &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}
