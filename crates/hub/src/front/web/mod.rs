//! The web UI: server-rendered pages (askama templates, compiled and escaped at build
//! time) in English and Japanese, for the public (TLP:CLEAR warnings and their Atom
//! feed), members (inbox, acknowledgement) and the coordinator (situation dashboard).
//!
//! Like every front end it only renders what services answer. What is particular here:
//! - people sign in with a session cookie (`accounts` service; HttpOnly, SameSite=Lax,
//!   `Secure` and the `__Host-` prefix under TLS);
//! - a state change is a POST that passes [`check_post`]: the browser's Origin or
//!   Sec-Fetch-Site must say the same site, and the form's token must match (the
//!   session's token, or for the sign-in forms a short-lived MAC-signed one);
//! - every page carries a Content-Security-Policy without inline script or style and
//!   `frame-ancestors 'none'`; there is no JavaScript at all.

mod account;
mod cases;
mod drills;
mod i18n;
mod inbox;
mod members;
mod public;
mod subscription;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use hinomi_store::SessionAuth;

use crate::http::{read_body, read_body_up_to, ApiError, Code};

/// A body that could not be read, in the domain's terms (too large, too slow, busy).
fn body_error(e: ApiError) -> Error {
    let kind = match e.code {
        Code::PayloadTooLarge => Kind::PayloadTooLarge,
        Code::Unavailable => Kind::Unavailable,
        _ => Kind::BadRequest,
    };
    Error::new(kind, e.message)
}
use crate::service::{accounts, exercises, Error, Kind, Viewer};
use crate::Shared;

pub use i18n::Lang;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(home))
        .route("/assets/hinomi.css", get(stylesheet))
        .route("/public", get(public::list))
        .route("/public/warnings/{id}", get(public::detail))
        .route("/public/feed.atom", get(public::feed))
        .route("/public/advisories", get(public::advisories))
        .route("/assets", get(inbox::assets).post(inbox::upload))
        .route("/findings", get(inbox::findings))
        .route("/share", get(inbox::share_form).post(inbox::share))
        .route("/login", get(account::login_form).post(account::login))
        .route("/login/code", get(account::code_form).post(account::code))
        .route("/logout", post(account::logout))
        .route(
            "/invite/{secret}",
            get(account::invite_form).post(account::accept),
        )
        .route("/account", get(account::show))
        .route("/account/language", post(account::language))
        .route("/account/invitations", post(account::invite))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/inbox", get(inbox::list))
        .route("/warnings/{id}", get(inbox::detail))
        .route("/warnings/{id}/status", post(inbox::status))
        .route("/dashboard", get(inbox::dashboard))
        .route("/warnings/{id}/publish", post(inbox::publish))
        .route("/warnings/new", get(inbox::new_form).post(inbox::author))
        .route("/report", get(cases::report_form).post(cases::report))
        .route("/reports", get(cases::my_reports))
        .route("/reports/{id}", get(cases::my_report))
        .route("/incidents", get(cases::list))
        .route("/incidents/{id}", get(cases::case))
        .route("/incidents/{id}/state", post(cases::set_state))
        .route("/incidents/{id}/notes", post(cases::add_note))
        .route("/incidents/{id}/merge", post(cases::merge))
        .route("/incidents/{id}/redistribute", post(cases::redistribute))
        .route("/incidents/{id}/referral", post(cases::refer))
        .route("/subscription", get(subscription::show))
        .route("/subscription/{what}", post(subscription::change))
        .route("/members", get(members::list).post(members::create))
        .route("/members/{id}", get(members::show))
        .route("/members/{id}/{what}", post(members::act))
        .route("/exercises", get(drills::list).post(drills::plan))
        .route("/exercises/{id}", get(drills::show))
        .route("/exercises/{id}/start", post(drills::start))
        .route("/exercises/{id}/end", post(drills::end))
        .route("/exercises/{id}/inject", post(drills::inject))
        .layer(middleware::from_fn(headers))
}

/// The name of the session cookie (`__Host-` under TLS: only this host, only HTTPS).
fn cookie_name(s: &Shared) -> &'static str {
    if s.config.accounts.secure_cookies {
        "__Host-hinomi_session"
    } else {
        "hinomi_session"
    }
}

const LANG_COOKIE: &str = "hinomi_lang";

/// The value of cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the session.
fn session_cookie(s: &Shared, value: &str, max_age: i64) -> String {
    let secure = if s.config.accounts.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(s)
    )
}

/// Security headers on every page.
async fn headers(req: Request, next: Next) -> Response {
    // A language chosen with the switch (`?lang=`) is remembered for a year.
    let chosen = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|p| p.into_iter().find(|(k, _)| k == "lang"))
        .and_then(|(_, v)| Lang::parse(&v));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(l) = chosen {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
            l.code()
        )) {
            h.append(header::SET_COOKIE, v);
        }
    }
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

const CSS: &str = include_str!("../../../assets/hinomi.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// Who is asking: the session (if any, whole or half-open), the viewer it acts as and
/// the page's language.
pub struct Caller {
    pub auth: Option<SessionAuth>,
    pub who: Viewer,
    pub lang: Lang,
    /// The request path, for the language switch.
    pub path: String,
    /// The running exercise the caller takes part in: the banner on every page.
    pub exercise: Option<String>,
}

impl Caller {
    /// The session, if it passed its second factor.
    pub fn signed_in(&self) -> Option<&SessionAuth> {
        self.auth.as_ref().filter(|a| a.session.second_factor)
    }

    pub fn is_coordinator(&self) -> bool {
        self.signed_in()
            .is_some_and(|a| a.principal.org.kind == hinomi_access::OrgKind::Coordinator)
    }
}

/// Reads the caller of a request. A half-open session (code not yet given) acts as the
/// public.
pub async fn caller(s: &Shared, headers: &HeaderMap, path: &str, query: Option<&str>) -> Caller {
    let secret = cookie(headers, cookie_name(s)).map(str::to_string);
    let auth = match secret {
        Some(sec) => s
            .call(move |s| accounts::session(s, &sec))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading a session");
                None
            }),
        None => None,
    };
    let who = match auth.as_ref().filter(|a| a.session.second_factor) {
        Some(a) => {
            let a = a.clone();
            s.call(move |s| accounts::viewer(s, &a))
                .await
                .unwrap_or_else(|_| Viewer::anonymous())
        }
        None => Viewer::anonymous(),
    };
    let asked = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Lang::parse(&v))
        });
    let lang = asked
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .or_else(|| {
            auth.as_ref()
                .filter(|a| a.session.second_factor)
                .and_then(|a| Lang::parse(&a.user.locale))
        })
        .unwrap_or_else(|| Lang::from_accept(headers));
    let exercise = if who.principal.is_some() {
        let w = who.clone();
        s.call(move |s| exercises::running_for(s, &w))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the running exercise");
                None
            })
    } else {
        None
    };
    Caller {
        auth,
        who,
        lang,
        path: path.to_string(),
        exercise,
    }
}

/// One entry of the navigation bar.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The signed-in person, for the header.
pub struct UserBar {
    pub name: String,
    pub org: String,
}

/// What every page's frame (base.html) needs.
pub struct Chrome {
    pub lang: Lang,
    pub title: String,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    pub switch_href: String,
    /// The page links the public Atom feed (autodiscovery).
    pub feed: bool,
    /// The running exercise's name: the banner.
    pub exercise: Option<String>,
}

impl Chrome {
    pub fn new(c: &Caller, title: &str) -> Chrome {
        let mut nav = Vec::new();
        let mut item = |href: &'static str, key: &str| {
            nav.push(NavItem {
                href,
                label: c.lang.t(key),
                current: c.path == href || c.path.starts_with(&format!("{href}/")),
            })
        };
        if let Some(a) = c.signed_in() {
            if a.principal.org.kind == hinomi_access::OrgKind::Coordinator {
                item("/dashboard", "nav.dashboard");
                item("/incidents", "nav.incidents");
                item("/warnings/new", "nav.author");
                item("/members", "nav.members");
            }
            item("/inbox", "nav.inbox");
            if a.principal.org.kind != hinomi_access::OrgKind::Coordinator {
                item("/reports", "nav.reports");
            }
            item("/share", "nav.share");
            item("/exercises", "nav.exercises");
        }
        if c.signed_in()
            .is_some_and(|a| a.principal.org.kind != hinomi_access::OrgKind::Coordinator)
        {
            item("/findings", "nav.findings");
        }
        item("/public", "nav.public");
        item("/public/advisories", "nav.advisories");
        if c.signed_in().is_some() {
            item("/subscription", "nav.subscription");
            item("/account", "nav.account");
        }
        let user = c.signed_in().map(|a| UserBar {
            name: a.user.name.clone(),
            org: a.principal.org.name.clone(),
        });
        Chrome {
            lang: c.lang,
            title: title.to_string(),
            user,
            csrf: c
                .signed_in()
                .map(|a| a.session.csrf.clone())
                .unwrap_or_default(),
            nav,
            switch_href: format!("{}?lang={}", c.path, c.lang.other().code()),
            feed: false,
            exercise: c.exercise.clone(),
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The text of `prefix` + `name` (a status, a role).
    pub fn tk(&self, prefix: &str, name: &str) -> &'static str {
        self.lang.t(&format!("{prefix}{name}"))
    }
}

/// A choice of a select: value, label, selected.
pub type Choice = (String, String, bool);

/// The choices of a select over `values`, labelled by `prefix` + value in the page's
/// language.
pub fn choices(c: &Caller, prefix: &str, values: &[&str], selected: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| {
            (
                v.to_string(),
                c.lang.t(&format!("{prefix}{v}")).to_string(),
                *v == selected,
            )
        })
        .collect()
}

/// The TLP 2.0 labels as choices (labels are never translated).
pub fn tlp_choices(selected: &str) -> Vec<Choice> {
    ["clear", "green", "amber", "amber+strict", "red"]
        .iter()
        .map(|t| {
            (
                t.to_string(),
                format!("TLP:{}", t.to_ascii_uppercase()),
                *t == selected,
            )
        })
        .collect()
}

/// A page re-shown with an error answers the error's status.
pub fn with_status(mut r: Response, e: &Error) -> Response {
    *r.status_mut() = status_of(e.kind);
    r
}

/// The CSS class of a TLP label (FIRST's colors; the label itself is never translated).
pub fn tlp_class(tlp: &str) -> &'static str {
    match tlp {
        "TLP:CLEAR" => "tlp tlp-clear",
        "TLP:GREEN" => "tlp tlp-green",
        "TLP:AMBER" => "tlp tlp-amber",
        "TLP:AMBER+STRICT" => "tlp tlp-amber",
        "TLP:RED" => "tlp tlp-red",
        _ => "tlp",
    }
}

/// `2026-12-07T10:41:57.123Z` as `2026-12-07 10:41 UTC`.
pub fn short_time(t: &str) -> String {
    match t.get(..16) {
        Some(head) => format!("{} UTC", head.replace('T', " ")),
        None => t.to_string(),
    }
}

/// Renders a template as a page.
pub fn page(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A redirect after a POST (303) or to sign in.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    heading: &'static str,
    message: String,
}

fn status_of(kind: Kind) -> StatusCode {
    crate::http::ApiError::from(Error::new(kind, ""))
        .code
        .status()
}

/// An error as a page in the caller's language: a heading for its kind, the service's
/// message as detail (never the internal cause).
pub fn error_page(c: &Caller, e: &Error) -> Response {
    if e.kind == Kind::Internal {
        tracing::error!(error = %e, "web page");
    }
    let key = match e.kind {
        Kind::NotFound => "error.not-found",
        Kind::Unauthorized => "error.unauthorized",
        Kind::Forbidden => "error.forbidden",
        Kind::TooManyRequests => "error.busy",
        Kind::Internal | Kind::Unavailable => "error.internal",
        _ => "error.bad-request",
    };
    let heading = c.lang.t(key);
    let message = if e.kind == Kind::Internal {
        String::new()
    } else {
        e.message.clone()
    };
    let mut resp = page(&ErrorPage {
        c: Chrome::new(c, heading),
        heading,
        message,
    });
    *resp.status_mut() = status_of(e.kind);
    resp
}

/// What a form POST sent, after [`check_post`].
pub type Form = Vec<(String, String)>;

/// The value of `name` in a form.
pub fn field<'a>(f: &'a Form, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Whether the browser says the request comes from this site: Sec-Fetch-Site
/// `same-origin` (or `none`, typed by the user), else an Origin equal to this host.
/// A client that sends neither is not a browser a forged page could drive.
fn same_site(headers: &HeaderMap) -> bool {
    if let Some(v) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return v == "same-origin" || v == "none";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// Reads a form POST (at most 64 KiB) and checks that it comes from this site and
/// carries the right token: the session's, or (`anonymous`) a sign-in form token.
pub async fn check_post(
    s: &Shared,
    c: &Caller,
    headers: &HeaderMap,
    body: Body,
    anonymous: bool,
) -> Result<Form, Error> {
    let refused = || {
        Error::new(
            Kind::Forbidden,
            "this form did not come from this site, or it is stale: reload the page and send it again",
        )
    };
    if !same_site(headers) {
        return Err(refused());
    }
    let ct = crate::http::content_type(headers).to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(Error::new(
            Kind::BadRequest,
            "send the form as a browser does",
        ));
    }
    let bytes = read_body_up_to(s, body, headers, 64 * 1024)
        .await
        .map_err(body_error)?;
    let form: Form = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| Error::new(Kind::BadRequest, "the form does not decode"))?;
    let token = field(&form, "csrf");
    let ok = if anonymous {
        form_token_valid(s, token)
    } else {
        c.auth.as_ref().is_some_and(|a| {
            !a.session.csrf.is_empty()
                && accounts::same(a.session.csrf.as_bytes(), token.as_bytes())
        })
    };
    if !ok {
        return Err(refused());
    }
    Ok(form)
}

/// A file sent with a multipart form.
pub struct Upload {
    pub name: String,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Reads a multipart form POST (files: at most `max_files`, each at most `max_file`
/// bytes; the whole body at most `max_content_length`) with the same checks as
/// [`check_post`]: same site, and the session's token.
pub async fn check_multipart(
    s: &Shared,
    c: &Caller,
    headers: &HeaderMap,
    body: Body,
    max_files: usize,
    max_file: usize,
) -> Result<(Form, Vec<Upload>), Error> {
    let refused = || {
        Error::new(
            Kind::Forbidden,
            "this form did not come from this site, or it is stale: reload the page and send it again",
        )
    };
    // Only a signed-in person sends files: nobody else costs the hub a large body.
    if !same_site(headers) || c.signed_in().is_none() {
        return Err(refused());
    }
    let ct = crate::http::content_type(headers);
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| Error::new(Kind::BadRequest, "send the form as a browser does"))?;
    let bytes = read_body(s, body, headers).await.map_err(body_error)?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let (mut form, mut files) = (Form::new(), Vec::new());
    let bad = |m: String| Error::new(Kind::BadRequest, m);
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| bad(format!("the form does not decode: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if form.len() + files.len() > 200 {
            return Err(bad("the form has too many fields".into()));
        }
        match field.file_name().map(str::to_string) {
            Some(file) => {
                let media_type = field.content_type().map(|m| m.to_string());
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| bad(format!("{name}: {e}")))?;
                if file.is_empty() && data.is_empty() {
                    continue; // a file input left empty
                }
                if files.len() == max_files {
                    return Err(bad(format!("attachments: at most {max_files} files")));
                }
                if data.len() > max_file {
                    return Err(Error::new(
                        Kind::PayloadTooLarge,
                        format!("{file}: larger than {max_file} bytes"),
                    ));
                }
                files.push(Upload {
                    name: file,
                    media_type,
                    bytes: data.to_vec(),
                });
            }
            None => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad(format!("{name}: {e}")))?;
                form.push((name, text));
            }
        }
    }
    let token = field(&form, "csrf");
    let ok = c.auth.as_ref().is_some_and(|a| {
        !a.session.csrf.is_empty() && accounts::same(a.session.csrf.as_bytes(), token.as_bytes())
    });
    if !ok {
        return Err(refused());
    }
    Ok((form, files))
}

/// Every value of a repeated field (checkboxes, multiple selects).
pub fn fields<'a>(f: &'a Form, name: &str) -> Vec<&'a str> {
    f.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

const FORM_MAC: &str = "web-form";
/// How long a sign-in form stays good.
const FORM_TTL_SECS: i64 = 3600;

/// A token for a form shown before there is a session: its time, MAC-signed.
pub fn form_token(s: &Shared) -> String {
    let t = s.config.clock.now().micros() / 1_000_000;
    let sig = s.config.notify.key.mac(FORM_MAC, t.to_string().as_bytes());
    format!("{t}.{sig}")
}

fn form_token_valid(s: &Shared, token: &str) -> bool {
    let Some((t, sig)) = token.split_once('.') else {
        return false;
    };
    let Ok(at) = t.parse::<i64>() else {
        return false;
    };
    let now = s.config.clock.now().micros() / 1_000_000;
    (now - FORM_TTL_SECS..=now + 60).contains(&at)
        && s.config.notify.key.verify_mac(FORM_MAC, t.as_bytes(), sig)
}

/// Runs a service operation as the signed-in person: audit entries name the user.
pub async fn as_user<T: Send + 'static>(
    s: &Shared,
    c: &Caller,
    f: impl FnOnce(&crate::AppState, &Viewer) -> crate::service::Result<T> + Send + 'static,
) -> crate::service::Result<T> {
    let who = c.who.clone();
    let user = c.signed_in().map(|a| a.user.email.clone());
    s.call(move |s| {
        let _acting = user.as_deref().map(hinomi_store::ActingUser::set);
        f(s, &who)
    })
    .await
}

async fn home(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let c = caller(&s, &headers, "/", None).await;
    if c.is_coordinator() {
        see_other("/dashboard")
    } else if c.signed_in().is_some() {
        see_other("/inbox")
    } else {
        see_other("/public")
    }
}
