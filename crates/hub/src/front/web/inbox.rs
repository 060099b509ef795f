//! A signed-in organization's pages: its inbox of warnings (what it may see, marked
//! when addressed to it, with its latest status), a warning with the status it reports,
//! and for the coordinator the situation dashboard.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::public::{list_query, next_href, DetailPage, WarningCard};
use super::{
    as_user, caller, check_post, choices, error_page, field, page, see_other, tlp_choices,
    with_status, Caller, Choice, Chrome, Form,
};
use crate::service::warnings::{self, StatusInput, STATUSES};
use crate::service::{cases, Error, Kind};
use crate::Shared;

#[derive(askama::Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    items: Vec<WarningCard>,
    q: String,
    next: String,
}

const PAGE: usize = 50;

fn need_session(c: &Caller) -> Option<Response> {
    if c.signed_in().is_none() {
        return Some(see_other("/login"));
    }
    None
}

pub async fn list(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/inbox", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let lq = list_query(q.as_deref(), PAGE);
    let query = lq.clone();
    match as_user(&s, &c, move |s, who| warnings::inbox(s, who, &query)).await {
        Ok((items, next)) => page(&InboxPage {
            c: Chrome::new(&c, c.lang.t("inbox.title")),
            items: items.iter().map(|v| WarningCard::of(v, c.lang)).collect(),
            q: lq.q.clone().unwrap_or_default(),
            next: next_href("/inbox", &lq, next),
        }),
        Err(e) => error_page(&c, &e),
    }
}

fn status_choices(c: &Caller) -> Vec<(&'static str, &'static str)> {
    STATUSES
        .iter()
        .map(|st| (*st, c.lang.t(&format!("status.{st}"))))
        .collect()
}

async fn detail_page(s: &Shared, c: &Caller, id: String, notice: &str) -> Response {
    let i = id.clone();
    let got = as_user(s, c, move |s, who| {
        let v = warnings::get(s, who, &i)?;
        let history = match warnings::acknowledgements(s, who, &i) {
            Ok(h) => h,
            Err(e) if e.kind == Kind::Forbidden || e.kind == Kind::NotFound => Value::Null,
            Err(e) => return Err(e),
        };
        Ok((v, history))
    })
    .await;
    match got {
        Ok((v, history)) => {
            let w = WarningCard::of(&v, c.lang);
            let recipient = v["for_you"].is_object() || history["history"].is_array();
            let org = c
                .signed_in()
                .map(|a| a.principal.org.id.clone())
                .unwrap_or_default();
            let history = history["history"]
                .as_array()
                .or(history["statuses"].as_array())
                .map(|a| {
                    a.iter()
                        .filter(|h| h["organization_id"].as_str().is_none_or(|o| o == org))
                        .map(|h| {
                            let st = h["status"].as_str().unwrap_or_default();
                            (
                                super::short_time(h["at"].as_str().unwrap_or_default()),
                                c.lang.t(&format!("status.{st}")).to_string(),
                                h["note"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let can_publish = w.state == "draft"
                && c.signed_in().is_some_and(|a| {
                    a.user.role != "read-only"
                        && v["owner_organization"].as_str() == Some(a.principal.org.id.as_str())
                });
            let can_report = recipient
                && w.state == "published"
                && c.signed_in().is_some_and(|a| a.user.role != "read-only");
            page(&DetailPage {
                c: Chrome::new(c, &w.title),
                w,
                statuses: if can_report {
                    status_choices(c)
                } else {
                    Vec::new()
                },
                history,
                notice: notice.to_string(),
                can_publish,
            })
        }
        Err(e) => error_page(c, &e),
    }
}

pub async fn detail(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let path = format!("/warnings/{id}");
    let c = caller(&s, &headers, &path, q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let notice = if q.as_deref().is_some_and(|q| q.contains("recorded=1")) {
        c.lang.t("warning.recorded")
    } else {
        ""
    };
    detail_page(&s, &c, id, notice).await
}

pub async fn status(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/warnings/{id}");
    let c = caller(&s, &headers, &path, None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let form = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    if c.signed_in().is_some_and(|a| a.user.role == "read-only") {
        return error_page(
            &c,
            &Error::new(Kind::Forbidden, "a read-only user reports no status"),
        );
    }
    let note = field(&form, "note").trim().to_string();
    let inp = StatusInput {
        status: field(&form, "status").to_string(),
        note: (!note.is_empty()).then_some(note),
    };
    let i = id.clone();
    match as_user(&s, &c, move |s, who| warnings::acknowledge(s, who, &i, inp)).await {
        Ok(_) => see_other(&format!("/warnings/{id}?recorded=1")),
        Err(e) => error_page(&c, &e),
    }
}

pub async fn publish(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/warnings/{id}");
    let c = caller(&s, &headers, &path, None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    if let Err(e) = check_post(&s, &c, &headers, body, false).await {
        return error_page(&c, &e);
    }
    let i = id.clone();
    match as_user(&s, &c, move |s, who| warnings::publish_draft(s, who, &i)).await {
        Ok(_) => see_other(&path),
        Err(e) => error_page(&c, &e),
    }
}

/// One recent warning on the dashboard, with how its recipients answered.
pub struct Tracked {
    pub w: WarningCard,
    pub recipients: i64,
    pub acknowledged: i64,
    pub affected: i64,
    pub remediated: i64,
    pub overdue: i64,
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    cases: i64,
    cases_by_state: Vec<(String, i64)>,
    reports_by_kind: Vec<(String, i64)>,
    exercise_cases: i64,
    warnings: Vec<Tracked>,
    open_by_severity: Vec<(String, i64)>,
    open_by_sector: Vec<(String, i64)>,
    overdue_reports: i64,
    /// (advisory, organizations, assets, max CVSS)
    affected: Vec<(String, i64, i64, String)>,
    deliveries_pending: i64,
    deliveries_dead: i64,
    /// (name, last pull, last push, last error)
    peers: Vec<(String, String, String, String)>,
}

const RECENT: usize = 10;

pub async fn dashboard(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/dashboard", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    if !c.is_coordinator() {
        return see_other("/inbox");
    }
    let got = as_user(&s, &c, |s, who| {
        let stats = cases::stats(s, who)?;
        let situation = cases::situation(s, who)?;
        let q = warnings::ListQuery {
            state: Some("published".into()),
            limit: Some(RECENT),
            ..Default::default()
        };
        let (items, _) = warnings::list(s, who, &q)?;
        let mut tracked = Vec::new();
        for v in items {
            let id = v["id"].as_str().unwrap_or_default().to_string();
            let t = warnings::tracking(s, who, &id).unwrap_or(Value::Null);
            tracked.push((v, t["counts"].clone()));
        }
        Ok((stats, situation, tracked))
    })
    .await;
    let pairs = |v: &Value| -> Vec<(String, i64)> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_i64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    match got {
        Ok((stats, sit, tracked)) => page(&DashboardPage {
            open_by_severity: pairs(&sit["open_by_severity"])
                .into_iter()
                .map(|(k, n)| (c.lang.t(&format!("case-severity.{k}")).to_string(), n))
                .collect(),
            open_by_sector: pairs(&sit["open_by_sector"]),
            overdue_reports: sit["overdue_reports"].as_i64().unwrap_or(0),
            affected: sit["affected_by_advisory"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            (
                                x["tracking_id"].as_str().unwrap_or_default().to_string(),
                                x["organizations_affected"].as_i64().unwrap_or(0),
                                x["assets_affected"].as_i64().unwrap_or(0),
                                x["max_cvss"]
                                    .as_f64()
                                    .map(|v| v.to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            deliveries_pending: sit["deliveries"]["pending"].as_i64().unwrap_or(0),
            deliveries_dead: sit["deliveries"]["dead"].as_i64().unwrap_or(0),
            peers: sit["peers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let t = |k: &str| {
                                p[k].as_str()
                                    .map(super::short_time)
                                    .unwrap_or_else(|| "—".into())
                            };
                            (
                                p["name"].as_str().unwrap_or_default().to_string(),
                                t("last_pull"),
                                t("last_push"),
                                p["last_error"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            c: Chrome::new(&c, c.lang.t("dashboard.title")),
            cases: stats["cases"].as_i64().unwrap_or(0),
            cases_by_state: pairs(&stats["cases_by_state"])
                .into_iter()
                .map(|(k, n)| (c.lang.t(&format!("case.{k}")).to_string(), n))
                .collect(),
            reports_by_kind: pairs(&stats["reports_by_kind"]),
            exercise_cases: stats["exercise"]["cases"].as_i64().unwrap_or(0),
            warnings: tracked
                .iter()
                .map(|(v, n)| Tracked {
                    w: WarningCard::of(v, c.lang),
                    recipients: n["recipients"].as_i64().unwrap_or(0),
                    acknowledged: n["acknowledged"].as_i64().unwrap_or(0),
                    affected: n["affected"].as_i64().unwrap_or(0),
                    remediated: n["remediated"].as_i64().unwrap_or(0),
                    overdue: n["overdue"].as_i64().unwrap_or(0),
                })
                .collect(),
        }),
        Err(e) => error_page(&c, &e),
    }
}

#[derive(askama::Template)]
#[template(path = "warning_form.html")]
struct AuthorPage {
    c: Chrome,
    f: Form,
    error: String,
    severities: Vec<Choice>,
    tlps: Vec<Choice>,
    preview: Option<(WarningCard, WarningCard)>,
}

impl AuthorPage {
    fn v(&self, name: &str) -> String {
        field(&self.f, name).to_string()
    }
    fn audience_is(&self, a: &str) -> bool {
        let v = field(&self.f, "audience");
        v == a || (v.is_empty() && a == "all")
    }
}

fn author_page(
    c: &Caller,
    f: Form,
    error: &str,
    preview: Option<(WarningCard, WarningCard)>,
) -> Response {
    let pick = |name: &str, default: &str| {
        let v = field(&f, name);
        if v.is_empty() {
            default.to_string()
        } else {
            v.to_string()
        }
    };
    let (sev, tlp) = (pick("severity", "high"), pick("tlp", "amber"));
    page(&AuthorPage {
        c: Chrome::new(c, c.lang.t("author.title")),
        error: error.to_string(),
        severities: choices(c, "severity.", &warnings::SEVERITIES, &sev),
        tlps: tlp_choices(&tlp),
        preview,
        f,
    })
}

pub async fn new_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/warnings/new", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    author_page(&c, Form::new(), "", None)
}

/// The form as the warnings service's input.
fn warning_input(f: &Form) -> Result<warnings::WarningInput, Error> {
    let texts = |name: &str| -> serde_json::Map<String, Value> {
        ["en", "ja"]
            .iter()
            .filter_map(|l| {
                let v = field(f, &format!("{name}_{l}")).trim().to_string();
                (!v.is_empty()).then(|| (l.to_string(), Value::String(v)))
            })
            .collect()
    };
    let list = |name: &str| -> Vec<String> {
        field(f, name)
            .split([',', '\n', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .take(1000)
            .map(String::from)
            .collect()
    };
    let audience = match field(f, "audience") {
        "sectors" => serde_json::json!({"sectors": list("sectors")}),
        "organizations" => serde_json::json!({"organizations": list("organizations")}),
        _ => serde_json::json!({"all": true}),
    };
    let time = |name: &str| {
        let v = field(f, name).trim();
        (!v.is_empty()).then(|| {
            if v.len() == 16 {
                format!("{v}:00Z")
            } else {
                v.to_string()
            }
        })
    };
    let action = texts("action");
    serde_json::from_value(serde_json::json!({
        "title": texts("title"),
        "summary": texts("summary"),
        "required_action": (!action.is_empty()).then_some(action),
        "severity": field(f, "severity"),
        "tlp": field(f, "tlp"),
        "audience": audience,
        "ack_required": !field(f, "ack_required").is_empty(),
        "ack_due": time("ack_due"),
        "action_due": time("action_due"),
        "exercise": !field(f, "exercise").is_empty(),
    }))
    .map_err(|e| Error::new(Kind::BadRequest, e.to_string()))
}

pub async fn author(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/warnings/new", None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let f = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let inp = match warning_input(&f) {
        Ok(i) => i,
        Err(e) => return author_page(&c, f, &e.message, None),
    };
    let create = field(&f, "action") == "create";
    let r = as_user(&s, &c, move |s, who| {
        if create {
            warnings::create(s, who, inp)
        } else {
            warnings::preview(s, who, inp)
        }
    })
    .await;
    match r {
        Ok(v) if create => see_other(&format!(
            "/warnings/{}",
            v["id"].as_str().unwrap_or_default()
        )),
        Ok(v) => {
            let p = (
                WarningCard::of(&v, super::Lang::En),
                WarningCard::of(&v, super::Lang::Ja),
            );
            author_page(&c, f, "", Some(p))
        }
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Forbidden) => {
            with_status(author_page(&c, f, &e.message, None), &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

/// An asset's inventory in the list.
pub struct AssetLine {
    pub asset: String,
    pub format: String,
    pub components: i64,
    pub updated: String,
}

#[derive(askama::Template)]
#[template(path = "assets.html")]
struct AssetsPage {
    c: Chrome,
    items: Vec<AssetLine>,
    notice: String,
    error: String,
}

async fn assets_page(s: &Shared, c: &Caller, notice: &str, error: &str) -> Response {
    let r = as_user(s, c, |s, who| crate::service::inventory::list(s, who, &[])).await;
    match r {
        Ok(v) => page(&AssetsPage {
            c: Chrome::new(c, c.lang.t("assets.title")),
            items: v["inventories"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| AssetLine {
                            asset: i["asset"].as_str().unwrap_or_default().to_string(),
                            format: i["format"].as_str().unwrap_or_default().to_string(),
                            components: i["components"].as_i64().unwrap_or(0),
                            updated: super::short_time(i["updated"].as_str().unwrap_or_default()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            notice: notice.to_string(),
            error: error.to_string(),
        }),
        Err(e) => error_page(c, &e),
    }
}

pub async fn assets(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/assets", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let notice = if q.as_deref().is_some_and(|q| q.contains("uploaded=")) {
        c.lang.t("assets.uploaded")
    } else {
        ""
    };
    assets_page(&s, &c, notice, "").await
}

/// An SBOM (CycloneDX JSON) or component list for an asset, uploaded as a file.
pub async fn upload(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/assets", None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let max = s.config.max_content_length;
    let (form, files) = match super::check_multipart(&s, &c, &headers, body, 1, max).await {
        Ok(x) => x,
        Err(e) if e.kind == Kind::Forbidden => return error_page(&c, &e),
        Err(e) => {
            return with_status(assets_page(&s, &c, "", &e.message).await, &e);
        }
    };
    let asset = field(&form, "asset").trim().to_string();
    let Some(file) = files.into_iter().next() else {
        let mut r = assets_page(&s, &c, "", c.lang.t("assets.no-file")).await;
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        return r;
    };
    let doc: Value = match serde_json::from_slice(&file.bytes) {
        Ok(d) => d,
        Err(e) => {
            let m = format!("{}: not JSON ({e})", file.name);
            let mut r = assets_page(&s, &c, "", &m).await;
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let a = asset.clone();
    match as_user(&s, &c, move |s, who| {
        crate::service::inventory::put(s, who, &a, &doc)
    })
    .await
    {
        Ok(v) => see_other(&format!(
            "/assets?uploaded={}",
            v["new_findings"].as_array().map_or(0, Vec::len)
        )),
        Err(e)
            if matches!(
                e.kind,
                Kind::BadRequest | Kind::Unprocessable | Kind::PayloadTooLarge
            ) =>
        {
            with_status(assets_page(&s, &c, "", &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

/// A finding: a component of an asset and what an advisory says of it.
pub struct FindingLine {
    pub asset: String,
    pub component: String,
    pub vulnerability: String,
    pub advisory: String,
    pub status: String,
    pub cvss: String,
    pub known_exploited: bool,
    pub remediations: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "findings.html")]
struct FindingsPage {
    c: Chrome,
    items: Vec<FindingLine>,
    next: String,
}

pub async fn findings(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/findings", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let after: Vec<(String, String)> = q
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "after")
        .collect();
    let mut terms = after;
    terms.push(("limit".into(), "100".into()));
    match as_user(&s, &c, move |s, who| {
        crate::service::inventory::findings(s, who, &terms)
    })
    .await
    {
        Ok(v) => page(&FindingsPage {
            c: Chrome::new(&c, c.lang.t("findings.title")),
            items: v["findings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| {
                            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                            FindingLine {
                                asset: s("asset"),
                                component: f["component"]["name"]
                                    .as_str()
                                    .map(|n| {
                                        format!(
                                            "{n} {}",
                                            f["component"]["version"].as_str().unwrap_or_default()
                                        )
                                    })
                                    .unwrap_or_else(|| f["component"].to_string()),
                                vulnerability: s("vulnerability"),
                                advisory: s("tracking_id"),
                                status: s("status"),
                                cvss: f["max_cvss"]
                                    .as_f64()
                                    .map(|x| x.to_string())
                                    .unwrap_or_default(),
                                known_exploited: f["known_exploited"].as_bool().unwrap_or(false),
                                remediations: f["detail"]["remediations"]
                                    .as_array()
                                    .map(|r| {
                                        r.iter()
                                            .map(|x| {
                                                format!(
                                                    "{}: {}",
                                                    x["category"].as_str().unwrap_or_default(),
                                                    x["details"].as_str().unwrap_or_default()
                                                )
                                            })
                                            .take(5)
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            next: v["next"]
                .as_str()
                .map(|n| {
                    format!(
                        "/findings?{}",
                        serde_urlencoded::to_string([("after", n)]).unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        }),
        Err(e) => error_page(&c, &e),
    }
}

#[derive(askama::Template)]
#[template(path = "share.html")]
struct SharePage {
    c: Chrome,
    f: Form,
    tlps: Vec<Choice>,
    shared: i64,
    failed: Vec<String>,
    error: String,
}

impl SharePage {
    fn v(&self, name: &str) -> String {
        field(&self.f, name).to_string()
    }
}

fn share_page(c: &Caller, f: Form, shared: i64, failed: Vec<String>, error: &str) -> Response {
    let tlp = match field(&f, "tlp") {
        "" => "green".to_string(),
        t => t.to_string(),
    };
    page(&SharePage {
        c: Chrome::new(c, c.lang.t("share.title")),
        tlps: tlp_choices(&tlp),
        f,
        shared,
        failed,
        error: error.to_string(),
    })
}

pub async fn share_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/share", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    share_page(&c, Form::new(), 0, Vec::new(), "")
}

/// Shares observables as indicators in the shared collection.
pub async fn share(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/share", None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let f = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let (name, description, text, tlp) = (
        field(&f, "name").to_string(),
        field(&f, "description").to_string(),
        field(&f, "observables").to_string(),
        field(&f, "tlp").to_string(),
    );
    let r = as_user(&s, &c, move |s, who| {
        crate::service::intake::share_observables(s, who, &name, &description, &text, &tlp)
    })
    .await;
    match r {
        Ok(status) => {
            let failed = status["failures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            format!(
                                "{}: {}",
                                x["id"].as_str().unwrap_or_default(),
                                x["message"].as_str().unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            share_page(
                &c,
                Form::new(),
                status["success_count"].as_i64().unwrap_or(0),
                failed,
                "",
            )
        }
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Forbidden | Kind::NotFound) => {
            with_status(share_page(&c, f, 0, Vec::new(), &e.message), &e)
        }
        Err(e) => error_page(&c, &e),
    }
}
