//! Incidents in the web UI: a member reports one (with observables and attachments) and
//! follows its reports; the coordinator triages cases (state, notes, merge, the
//! correlation panel, the timeline) and redistributes a case as a sanitized warning,
//! previewed in both languages before the draft is made. The rules are the
//! `incidents`, `cases` and `redistribution` services'.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::public::WarningCard;
use super::{
    as_user, caller, check_multipart, check_post, choices, error_page, field, fields, page,
    see_other, short_time, tlp_choices, with_status, Caller, Choice, Chrome, Form,
};
use crate::service::incidents::{
    self, AttachmentInput, ConsentInput, ImpactInput, ReportInput, StateInput,
};
use crate::service::redistribution::{self, Keep, SanitizeInput};
use crate::service::{cases, directory, referral, Error, Kind};
use crate::Shared;
use hinomi_access::OrgKind;

fn need_session(c: &Caller) -> Option<Response> {
    c.signed_in().is_none().then(|| see_other("/login"))
}

fn need_coordinator(c: &Caller) -> Option<Response> {
    need_session(c).or_else(|| (!c.is_coordinator()).then(|| see_other("/inbox")))
}

#[derive(askama::Template)]
#[template(path = "report_form.html")]
struct ReportForm {
    c: Chrome,
    error: String,
    f: Form,
    determinations: Vec<Choice>,
    functional: Vec<Choice>,
    tlps: Vec<Choice>,
    law: Vec<Choice>,
    max_files: usize,
}

impl ReportForm {
    fn v(&self, name: &str) -> String {
        field(&self.f, name).to_string()
    }
    fn checked(&self, name: &str, default: bool) -> bool {
        if self.f.is_empty() {
            default
        } else {
            !field(&self.f, name).is_empty()
        }
    }
}

fn report_form_page(s: &Shared, c: &Caller, f: Form, error: &str) -> Response {
    let pick = |name: &str, default: &str| {
        let v = field(&f, name);
        if v.is_empty() {
            default.to_string()
        } else {
            v.to_string()
        }
    };
    page(&ReportForm {
        c: Chrome::new(c, c.lang.t("report.title")),
        error: error.to_string(),
        determinations: choices(
            c,
            "determination.",
            incidents::DETERMINATIONS,
            &pick("determination", "suspected"),
        ),
        functional: choices(
            c,
            "functional.",
            incidents::FUNCTIONAL_IMPACT,
            &pick("functional", "no-impact"),
        ),
        tlps: tlp_choices(&pick("tlp", "amber+strict")),
        law: choices(
            c,
            "law.",
            &["ask", "yes", "no"],
            &pick("law_enforcement", "ask"),
        ),
        max_files: s.config.incidents.max_attachments,
        f,
    })
}

pub async fn report_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/report", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    report_form_page(&s, &c, Form::new(), "")
}

/// `2026-12-07T10:30` (a datetime-local input, taken as UTC) as RFC 3339.
fn local_time(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(match v.len() {
        16 => format!("{v}:00Z"),
        19 => format!("{v}Z"),
        _ => v.to_string(),
    })
}

fn report_input(f: &Form, files: Vec<super::Upload>) -> Result<ReportInput, Error> {
    let objects = incidents::observables(field(f, "observables"))?;
    let lines = |name: &str| -> Vec<String> {
        field(f, name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    let opt = |name: &str| Some(field(f, name).trim().to_string()).filter(|v| !v.is_empty());
    Ok(ReportInput {
        title: field(f, "title").trim().to_string(),
        description: field(f, "description").to_string(),
        kind: Some(if field(f, "ransom").is_empty() {
            "incident".into()
        } else {
            "ransom-payment".into()
        }),
        discovered: local_time(field(f, "discovered")).unwrap_or_default(),
        occurred: local_time(field(f, "occurred")),
        detection: opt("detection"),
        detection_methods: Vec::new(),
        determination: opt("determination"),
        sector: opt("sector"),
        systems: lines("systems"),
        services: lines("services"),
        impact: ImpactInput {
            functional: opt("functional"),
            ..ImpactInput::default()
        },
        taxonomy: None,
        tlp: opt("tlp"),
        audience: Vec::new(),
        consent: ConsentInput {
            share_anonymized: !field(f, "share_anonymized").is_empty(),
            share_named: !field(f, "share_named").is_empty(),
            law_enforcement: opt("law_enforcement").unwrap_or_else(|| "ask".into()),
        },
        exercise: !field(f, "exercise").is_empty(),
        objects,
        attachments: files
            .into_iter()
            .map(|u| AttachmentInput {
                name: u.name,
                media_type: u.media_type,
                content_base64: base64::engine::general_purpose::STANDARD.encode(&u.bytes),
            })
            .collect(),
    })
}

pub async fn report(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/report", None).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let (max_files, max_file) = (
        s.config.incidents.max_attachments,
        s.config.incidents.max_attachment_bytes,
    );
    let (form, files) = match check_multipart(&s, &c, &headers, body, max_files, max_file).await {
        Ok(x) => x,
        Err(e) if e.kind == Kind::Forbidden => return error_page(&c, &e),
        Err(e) => return with_status(report_form_page(&s, &c, Form::new(), &e.message), &e),
    };
    let inp = match report_input(&form, files) {
        Ok(i) => i,
        Err(e) => return with_status(report_form_page(&s, &c, form, &e.message), &e),
    };
    match as_user(&s, &c, move |s, who| incidents::report(s, who, inp)).await {
        Ok(v) => see_other(&format!(
            "/reports/{}?filed=1",
            v["id"].as_str().unwrap_or_default()
        )),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::PayloadTooLarge) => {
            with_status(report_form_page(&s, &c, form, &e.message), &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

/// A report in a list or on its page.
pub struct ReportLine {
    pub id: String,
    pub title: String,
    pub created: String,
    pub report_due: String,
    pub late: bool,
    pub exercise: bool,
    pub attachments: Vec<(String, String)>,
    pub consent: String,
}

fn report_line(c: &Caller, v: &Value) -> ReportLine {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let consent = &v["consent"];
    ReportLine {
        id: s("id"),
        title: v["stix"]["name"]
            .as_str()
            .or(v["title"].as_str())
            .unwrap_or_default()
            .to_string(),
        created: short_time(&s("created")),
        report_due: short_time(&s("report_due")),
        late: v["reported_late"].as_bool().unwrap_or(false),
        exercise: v["exercise"].as_bool().unwrap_or(false),
        attachments: v["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["name"].as_str().unwrap_or_default().to_string(),
                            x["sha256"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        consent: format!(
            "{}: {} · {}: {} · {}: {}",
            c.lang.t("report.share-anonymized"),
            c.lang.t(if consent["share_anonymized"] == true {
                "common.yes"
            } else {
                "common.no"
            }),
            c.lang.t("report.share-named"),
            c.lang.t(if consent["share_named"] == true {
                "common.yes"
            } else {
                "common.no"
            }),
            c.lang.t("report.law-enforcement"),
            c.lang.t(&format!(
                "law.{}",
                consent["law_enforcement"].as_str().unwrap_or("ask")
            )),
        ),
    }
}

#[derive(askama::Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    c: Chrome,
    items: Vec<ReportLine>,
}

pub async fn my_reports(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/reports", q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    match as_user(&s, &c, |s, who| incidents::my_reports(s, who, None, 100)).await {
        Ok(v) => page(&ReportsPage {
            c: Chrome::new(&c, c.lang.t("reports.title")),
            items: v["reports"]
                .as_array()
                .map(|a| a.iter().map(|r| report_line(&c, r)).collect())
                .unwrap_or_default(),
        }),
        Err(e) => error_page(&c, &e),
    }
}

#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    r: ReportLine,
    description: String,
    observables: Vec<String>,
    filed: bool,
}

pub async fn my_report(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, &format!("/reports/{id}"), q.as_deref()).await;
    if let Some(r) = need_session(&c) {
        return r;
    }
    let filed = q.as_deref().is_some_and(|q| q.contains("filed=1"));
    match as_user(&s, &c, move |s, who| incidents::report_view(s, who, &id)).await {
        Ok(v) => {
            let r = report_line(&c, &v);
            page(&ReportPage {
                c: Chrome::new(&c, &r.title),
                description: v["stix"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                observables: observable_lines(&v["objects"]),
                filed,
                r,
            })
        }
        Err(e) => error_page(&c, &e),
    }
}

/// The observables among STIX objects, as `type: value` lines.
fn observable_lines(objects: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for o in objects.as_array().into_iter().flatten() {
        let t = o["type"].as_str().unwrap_or_default();
        if let Some(v) = o["value"].as_str() {
            out.push(format!("{t}: {v}"));
        } else if let Some(h) = o["hashes"].as_object() {
            for (alg, v) in h {
                out.push(format!("file {alg}: {}", v.as_str().unwrap_or_default()));
            }
        }
        if o["type"] == "observed-data" {
            out.extend(observable_lines(&json!(o["objects"]
                .as_object()
                .map(|m| m.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default())));
        }
    }
    out
}

/// One case in the coordinator's list.
pub struct CaseLine {
    pub id: String,
    pub title: String,
    pub state: String,
    pub state_label: &'static str,
    pub severity: String,
    pub exercise: bool,
    pub updated: String,
}

fn case_line(c: &Caller, v: &Value) -> CaseLine {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    CaseLine {
        id: s("id"),
        title: s("title"),
        state_label: c.lang.t(&format!("case.{}", s("state"))),
        state: s("state"),
        severity: s("severity"),
        exercise: v["exercise"].as_bool().unwrap_or(false),
        updated: short_time(&s("updated")),
    }
}

#[derive(askama::Template)]
#[template(path = "incidents.html")]
struct CasesPage {
    c: Chrome,
    items: Vec<CaseLine>,
    next: String,
}

pub async fn list(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/incidents", q.as_deref()).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    let before = q
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|p| p.into_iter().find(|(k, _)| k == "before").map(|(_, v)| v));
    let query = incidents::ListQuery {
        before,
        limit: Some(50),
        ..Default::default()
    };
    match as_user(&s, &c, move |s, who| incidents::list(s, who, &query)).await {
        Ok(v) => page(&CasesPage {
            c: Chrome::new(&c, c.lang.t("incidents.title")),
            items: v["incidents"]
                .as_array()
                .map(|a| a.iter().map(|x| case_line(&c, x)).collect())
                .unwrap_or_default(),
            next: v["next"]
                .as_str()
                .map(|n| {
                    format!(
                        "/incidents?{}",
                        serde_urlencoded::to_string([("before", n)]).unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        }),
        Err(e) => error_page(&c, &e),
    }
}

/// A value the correlation panel shows.
pub struct Correlated {
    pub value: String,
    pub common: bool,
    pub reports: i64,
    pub organizations: i64,
}

/// The sanitized warning a preview would draft, in both languages.
pub struct Preview {
    pub en: WarningCard,
    pub ja: WarningCard,
    pub removed: Vec<String>,
    pub form: Form,
}

#[derive(askama::Template)]
#[template(path = "incident.html")]
struct CasePage {
    c: Chrome,
    case: CaseLine,
    updated_raw: String,
    reports: Vec<ReportLine>,
    timeline: Vec<(String, String, String)>,
    notes: Vec<(String, String)>,
    correlation: Vec<Correlated>,
    states: Vec<Choice>,
    warnings: Vec<String>,
    preview: Option<Preview>,
    error: String,
    tlps: Vec<Choice>,
    severities: Vec<Choice>,
    /// (to, state, parts)
    referrals: Vec<(String, String, String)>,
    /// Law-enforcement organizations a case may be referred to: (id, name).
    law: Vec<(String, String)>,
    parts: Vec<(&'static str, &'static str)>,
}

impl CasePage {
    /// Whether the preview's form kept `what`.
    fn kept(&self, what: &str) -> bool {
        self.preview
            .as_ref()
            .is_some_and(|p| fields(&p.form, "keep").contains(&what))
    }
    /// Whether to ask for acknowledgement: yes unless the preview's form said no.
    fn ack(&self) -> bool {
        self.preview
            .as_ref()
            .is_none_or(|p| !field(&p.form, "ack_required").is_empty())
    }
}

async fn case_page(
    s: &Shared,
    c: &Caller,
    id: String,
    preview: Option<Preview>,
    error: &str,
) -> Response {
    let got = as_user(s, c, move |s, who| {
        let v = cases::get(s, who, &id)?;
        let (orgs, _) = directory::organizations(s, who, None, Some(1000))?;
        let law: Vec<(String, String)> = orgs
            .into_iter()
            .filter(|o| o.kind == OrgKind::LawEnforcement && o.removed.is_none())
            .map(|o| (o.id, o.name))
            .collect();
        Ok((v, law))
    })
    .await;
    match got {
        Ok((v, law)) => {
            let case = case_line(c, &v);
            let arr = |k: &str| v[k].as_array().cloned().unwrap_or_default();
            page(&CasePage {
                c: Chrome::new(c, &case.title),
                updated_raw: v["updated"].as_str().unwrap_or_default().to_string(),
                states: choices(c, "case.", incidents::STATES, &case.state),
                reports: arr("reports").iter().map(|r| report_line(c, r)).collect(),
                timeline: arr("timeline")
                    .iter()
                    .rev()
                    .take(200)
                    .map(|e| {
                        (
                            short_time(e["at"].as_str().unwrap_or_default()),
                            {
                                let ev = e["event"].as_str().unwrap_or_default();
                                c.lang.t_or(&format!("event.{ev}"), ev).to_string()
                            },
                            e["organization"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
                notes: arr("notes")
                    .iter()
                    .map(|n| {
                        (
                            short_time(n["at"].as_str().unwrap_or_default()),
                            n["body"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
                correlation: v["correlation"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| Correlated {
                                value: x["value"].as_str().unwrap_or_default().to_string(),
                                common: x["common"].as_bool().unwrap_or(false),
                                reports: x["reports"].as_i64().unwrap_or(0),
                                organizations: x["other_organizations"].as_i64().unwrap_or(0),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                warnings: arr("warnings")
                    .iter()
                    .filter_map(|w| w["warning"].as_str().map(String::from))
                    .collect(),
                tlps: tlp_choices(
                    preview
                        .as_ref()
                        .map(|p| field(&p.form, "tlp"))
                        .filter(|t| !t.is_empty())
                        .unwrap_or("green"),
                ),
                severities: choices(
                    c,
                    "severity.",
                    &crate::service::warnings::SEVERITIES,
                    preview
                        .as_ref()
                        .map(|p| field(&p.form, "severity"))
                        .filter(|t| !t.is_empty())
                        .unwrap_or("high"),
                ),
                referrals: arr("referrals")
                    .iter()
                    .map(|r| {
                        (
                            r["to"]["name"].as_str().unwrap_or_default().to_string(),
                            c.lang
                                .t(&format!(
                                    "referral.{}",
                                    r["state"].as_str().unwrap_or_default()
                                ))
                                .to_string(),
                            r["parts"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str())
                                        .map(|x| c.lang.t(&format!("part.{x}")))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                })
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
                law,
                parts: referral::PARTS
                    .iter()
                    .map(|x| (*x, c.lang.t(&format!("part.{x}"))))
                    .collect(),
                case,
                preview,
                error: error.to_string(),
            })
        }
        Err(e) => error_page(c, &e),
    }
}

pub async fn case(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, &format!("/incidents/{id}"), q.as_deref()).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    case_page(&s, &c, id, None, "").await
}

/// Reads a coordinator's form on a case; answers the caller and the form, or the page
/// to send instead.
async fn case_form(
    s: &Shared,
    headers: &HeaderMap,
    id: &str,
    body: Body,
) -> Result<(Caller, Form), Response> {
    let c = caller(s, headers, &format!("/incidents/{id}"), None).await;
    if let Some(r) = need_coordinator(&c) {
        return Err(r);
    }
    match check_post(s, &c, headers, body, false).await {
        Ok(f) => Ok((c, f)),
        Err(e) => Err(error_page(&c, &e)),
    }
}

async fn after_change(
    s: &Shared,
    c: &Caller,
    id: String,
    r: crate::service::Result<Value>,
) -> Response {
    match r {
        Ok(_) => see_other(&format!("/incidents/{id}")),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Conflict) => {
            with_status(case_page(s, c, id, None, &e.message).await, &e)
        }
        Err(e) => error_page(c, &e),
    }
}

pub async fn set_state(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (c, f) = match case_form(&s, &headers, &id, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inp = StateInput {
        state: field(&f, "state").to_string(),
        reason: Some(field(&f, "reason").trim().to_string()).filter(|r| !r.is_empty()),
        expected_updated: Some(field(&f, "updated").to_string()).filter(|u| !u.is_empty()),
    };
    let i = id.clone();
    let r = as_user(&s, &c, move |s, who| incidents::set_state(s, who, &i, inp)).await;
    after_change(&s, &c, id, r).await
}

pub async fn add_note(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (c, f) = match case_form(&s, &headers, &id, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let note = field(&f, "body").to_string();
    let i = id.clone();
    let r = as_user(&s, &c, move |s, who| incidents::add_note(s, who, &i, &note)).await;
    after_change(&s, &c, id, r).await
}

pub async fn merge(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (c, f) = match case_form(&s, &headers, &id, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let from: Vec<String> = field(&f, "from")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .take(100)
        .map(String::from)
        .collect();
    let i = id.clone();
    let r = as_user(&s, &c, move |s, who| incidents::merge(s, who, &i, &from)).await;
    after_change(&s, &c, id, r).await
}

pub async fn refer(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (c, f) = match case_form(&s, &headers, &id, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let parts: Vec<String> = fields(&f, "parts").into_iter().map(String::from).collect();
    let inp: Result<referral::ReferralInput, Error> = serde_json::from_value(json!({
        "to": field(&f, "to"),
        "parts": (!parts.is_empty()).then_some(parts),
        "note": Some(field(&f, "note").trim()).filter(|n| !n.is_empty()),
    }))
    .map_err(|e| Error::new(Kind::BadRequest, e.to_string()));
    let i = id.clone();
    let r = match inp {
        Ok(inp) => as_user(&s, &c, move |s, who| referral::create(s, who, &i, inp)).await,
        Err(e) => Err(e),
    };
    after_change(&s, &c, id, r).await
}

fn texts(f: &Form, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let m: std::collections::BTreeMap<String, String> = ["en", "ja"]
        .iter()
        .filter_map(|l| {
            let v = field(f, &format!("{name}_{l}")).trim().to_string();
            (!v.is_empty()).then(|| (l.to_string(), v))
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

fn sanitize_input(f: &Form) -> SanitizeInput {
    let audience = match field(f, "audience") {
        "sectors" => {
            json!({"sectors": field(f, "sectors").split(',').map(str::trim).filter(|x| !x.is_empty()).collect::<Vec<_>>()})
        }
        _ => json!({"all": true}),
    };
    let opt = |name: &str| Some(field(f, name).trim().to_string()).filter(|v| !v.is_empty());
    SanitizeInput {
        title: texts(f, "title"),
        summary: texts(f, "summary"),
        required_action: texts(f, "action"),
        severity: opt("severity"),
        tlp: opt("tlp"),
        audience,
        action_due: None,
        ack_required: Some(!field(f, "ack_required").is_empty()),
        ack_due: None,
        keep: Keep {
            reporter: false,
            description: fields(f, "keep").contains(&"description"),
            attachment_names: false,
            sector: fields(f, "keep").contains(&"sector"),
        },
        reports: None,
    }
}

pub async fn redistribute(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (c, f) = match case_form(&s, &headers, &id, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inp = sanitize_input(&f);
    let i = id.clone();
    if field(&f, "action") == "create" {
        return match as_user(&s, &c, move |s, who| {
            redistribution::create(s, who, &i, inp)
        })
        .await
        {
            Ok(v) => see_other(&format!(
                "/warnings/{}",
                v["warning"]["id"].as_str().unwrap_or_default()
            )),
            Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Forbidden | Kind::Conflict) => {
                with_status(case_page(&s, &c, id, None, &e.message).await, &e)
            }
            Err(e) => error_page(&c, &e),
        };
    }
    match as_user(&s, &c, move |s, who| {
        redistribution::preview(s, who, &i, inp)
    })
    .await
    {
        Ok(v) => {
            let w = &v["warning"];
            let preview = Preview {
                en: WarningCard::of(w, super::Lang::En),
                ja: WarningCard::of(w, super::Lang::Ja),
                removed: v["removed"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| match (x["object"].as_str(), x["why"].as_str()) {
                                (Some(o), Some(why)) => format!("{o}: {why}"),
                                _ => x.as_str().map_or_else(|| x.to_string(), String::from),
                            })
                            .take(50)
                            .collect()
                    })
                    .unwrap_or_default(),
                form: f,
            };
            case_page(&s, &c, id, Some(preview), "").await
        }
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Forbidden | Kind::Conflict) => {
            with_status(case_page(&s, &c, id, None, &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observables_check_prefixes_and_fold_case() {
        let ok =
            incidents::observables("10.0.0.0/8\n2001:DB8::1\nSOC@Example.org\nsoc@example.org")
                .unwrap();
        let values: Vec<&str> = ok.iter().map(|o| o["value"].as_str().unwrap()).collect();
        assert_eq!(values, ["10.0.0.0/8", "2001:db8::1", "soc@example.org"]);
        for bad in ["1.2.3.4/abc", "1.2.3.4/33", "::1/129"] {
            let e = incidents::observables(bad).err().unwrap();
            assert!(
                e.message.contains("observables line 1"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn datetime_local_inputs_are_utc() {
        assert_eq!(
            local_time("2026-12-07T10:30").as_deref(),
            Some("2026-12-07T10:30:00Z")
        );
        assert_eq!(local_time(" "), None);
    }

    #[test]
    fn a_report_form_becomes_the_service_input() {
        let f: Form = [
            ("title", "Ransomware at the water plant"),
            ("discovered", "2026-12-07T08:00"),
            ("observables", "203.0.113.7\nevil.example\n"),
            ("share_anonymized", "on"),
            ("law_enforcement", "yes"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let inp = report_input(&f, Vec::new()).unwrap();
        assert_eq!(inp.discovered, "2026-12-07T08:00:00Z");
        assert_eq!(inp.objects.len(), 2);
        assert!(inp.consent.share_anonymized && !inp.consent.share_named);
        assert_eq!(inp.consent.law_enforcement, "yes");
        assert_eq!(inp.kind.as_deref(), Some("incident"));
        let bad: Form = vec![("observables".into(), "not an observable".into())];
        let e = report_input(&bad, Vec::new()).err().unwrap();
        assert!(e.message.contains("observables line 1"), "{}", e.message);
    }
}
