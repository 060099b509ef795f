//! Law-enforcement referral: the coordinator shares a case (or chosen parts of it) with
//! a member organization of kind law-enforcement, only as each reporter consented.
//!
//! A report's standing consent decides: `yes` lets its part go, `no` refuses the whole
//! referral, `ask` puts the question to the reporter through the hub (the referral
//! waits; one no refuses it and removes what it would have shared; a reporter that
//! changes its standing consent to `no` answers every open question no). What a
//! referral shares is fixed when the coordinator makes it, read through the one access
//! function as the coordinator, and shown to the law-enforcement organization only once
//! every reporter has said yes. A preservation request records the fields of Article
//! 29(2) of the Budapest Convention; the outcome closes the referral. Every step is a
//! timeline entry on the case and an audit entry.

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{ReferralFilter, ReferralReport, ReferralRow};

use super::incidents::{actor, bad, load_case, load_report, one_of, report_objects, text, triager};
use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// What a referral may share.
pub const PARTS: &[&str] = &["case", "reports", "observables", "attachments"];

/// How a referral ended.
pub const OUTCOMES: &[&str] = &[
    "follow-up-initiated",
    "no-action",
    "referred-to-another-agency",
];

/// A preservation request: the fields of Budapest Convention Art. 29(2) a–f.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PreservationInput {
    /// (a) the authority seeking the preservation.
    pub requesting_authority: String,
    /// (b) the offence under investigation …
    pub offence: String,
    /// … and a brief summary of the related facts.
    pub summary_of_facts: String,
    /// (c) the stored computer data to be preserved …
    pub data_to_preserve: String,
    /// … and its relationship to the offence.
    pub relation_to_offence: String,
    /// (d) what identifies the custodian of the data or the location of the system.
    pub custodian_or_location: String,
    /// (e) why preservation is necessary.
    pub necessity: String,
    /// (f) whether a request for mutual assistance will follow.
    pub mutual_assistance_intended: bool,
}

fn check_preservation(p: &PreservationInput) -> Result<Value> {
    for (field, v) in [
        ("requesting_authority", &p.requesting_authority),
        ("offence", &p.offence),
        ("summary_of_facts", &p.summary_of_facts),
        ("data_to_preserve", &p.data_to_preserve),
        ("relation_to_offence", &p.relation_to_offence),
        ("custodian_or_location", &p.custodian_or_location),
        ("necessity", &p.necessity),
    ] {
        if v.trim().is_empty() {
            return Err(bad(format!(
                "preservation.{field}: required (Budapest Convention Art. 29(2))"
            )));
        }
        text(&format!("preservation.{field}"), v, 8192)?;
    }
    Ok(json!({
        "requesting_authority": p.requesting_authority,
        "offence": p.offence,
        "summary_of_facts": p.summary_of_facts,
        "data_to_preserve": p.data_to_preserve,
        "relation_to_offence": p.relation_to_offence,
        "custodian_or_location": p.custodian_or_location,
        "necessity": p.necessity,
        "mutual_assistance_intended": p.mutual_assistance_intended,
    }))
}

/// The body of `POST /api/v1/incidents/{id}/referrals`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReferralInput {
    /// The law-enforcement organization.
    pub to: String,
    /// What to share (default: case, reports, observables).
    #[serde(default)]
    pub parts: Option<Vec<String>>,
    /// Which of the case's reports (default: all).
    #[serde(default)]
    pub reports: Option<Vec<String>>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub preservation: Option<PreservationInput>,
}

/// Refers a case to a law-enforcement organization.
pub fn create(s: &AppState, who: &Viewer, id: &str, inp: ReferralInput) -> Result<Value> {
    let p = triager(who)?;
    let case = load_case(s, id)?;
    if let Some(m) = &case.merged_into {
        return Err(Error::new(
            Kind::Conflict,
            format!("incident {id} is merged into {m}; refer that one"),
        ));
    }
    let to = s
        .store
        .organizations()?
        .into_iter()
        .find(|o| o.id == inp.to || o.identity_id == inp.to)
        .filter(|o| o.removed.is_none())
        .ok_or_else(|| bad(format!("to: no organization '{}'", inp.to)))?;
    if to.kind != OrgKind::LawEnforcement {
        return Err(bad(format!(
            "to: {} is not a law-enforcement organization (its kind is {})",
            to.id,
            to.kind.as_str()
        )));
    }
    let parts = inp
        .parts
        .unwrap_or_else(|| vec!["case".into(), "reports".into(), "observables".into()]);
    if parts.is_empty() {
        return Err(bad(format!(
            "parts: name at least one of {}",
            PARTS.join(", ")
        )));
    }
    for (i, part) in parts.iter().enumerate() {
        one_of(&format!("parts[{i}]"), part, PARTS)?;
    }
    let all = s.store.incident_reports(&case.id)?;
    let chosen: Vec<_> = match &inp.reports {
        None => all.clone(),
        Some(ids) => {
            if ids.is_empty() || ids.len() > 1000 {
                return Err(bad("reports: name 1 to 1000 reports of this incident"));
            }
            if ids.iter().collect::<std::collections::BTreeSet<_>>().len() != ids.len() {
                return Err(bad("reports: a report is named twice"));
            }
            ids.iter()
                .enumerate()
                .map(|(i, r)| {
                    all.iter().find(|x| &x.id == r).cloned().ok_or_else(|| {
                        bad(format!(
                            "reports[{i}]: {r} is not a report of incident {id}"
                        ))
                    })
                })
                .collect::<Result<_>>()?
        }
    };
    if chosen.is_empty() {
        return Err(bad(format!("incident {id} has no reports to refer")));
    }
    for r in &chosen {
        if r.law_enforcement == "no" {
            return Err(Error::new(
                Kind::Forbidden,
                format!(
                    "report {}: its reporter did not consent to a referral to law enforcement",
                    r.id
                ),
            ));
        }
    }
    let note = inp
        .note
        .as_deref()
        .map(|n| text("note", n, 8192))
        .transpose()?;
    let preservation = inp
        .preservation
        .as_ref()
        .map(check_preservation)
        .transpose()?;
    let now = s.config.clock.now();
    let content = content(s, who, &case, &chosen, chosen.len() == all.len(), &parts)?;
    let row = ReferralRow {
        id: uuid::Uuid::new_v4().to_string(),
        incident_id: case.id.clone(),
        to_org: to.id.clone(),
        state: String::new(),
        parts,
        note,
        preservation,
        outcome: None,
        outcome_detail: None,
        content: Some(content),
        created_by: p.org.id.clone(),
        created: now,
        updated: now,
        reports: chosen
            .iter()
            .map(|r| ReferralReport {
                report_id: r.id.clone(),
                reporter_org: r.reporter_org.clone(),
                answer: if r.law_enforcement == "yes" {
                    "yes".into()
                } else {
                    "ask".into()
                },
                answered: None,
            })
            .collect(),
    };
    let row = s.store.create_referral(&row, actor(p))?;
    view(s, who, &row)
}

/// What a referral shares, read as the coordinator sees it.
fn content(
    s: &AppState,
    who: &Viewer,
    case: &hinomi_store::IncidentRow,
    reports: &[hinomi_store::ReportRow],
    whole: bool,
    parts: &[String],
) -> Result<Value> {
    let has = |p: &str| parts.iter().any(|x| x == p);
    let mut v = json!({"exercise": case.exercise});
    if has("case") {
        v["case"] = json!({"id": case.id, "state": case.state, "severity": case.severity,
            "exercise": case.exercise, "created": case.created.to_string()});
        // The case's title is a reporter's own words: it goes only when every report of
        // the case goes.
        if whole {
            v["case"]["title"] = json!(case.title);
        }
    }
    let orgs = s.store.organizations()?;
    let mut list = Vec::new();
    for r in reports {
        let mut rv =
            json!({"report": r.id, "kind": r.kind, "discovered": r.discovered.to_string()});
        let org = orgs.iter().find(|o| o.id == r.reporter_org);
        rv["reporter"] = json!({"id": r.reporter_org, "name": org.map(|o| o.name.clone()),
            "sectors": org.map(|o| o.sectors.clone())});
        if has("reports") {
            rv["stix"] = json!(report_objects(s, who, r)?);
        }
        if has("observables") {
            rv["observables"] = json!(s.store.context_values(&r.id, 10_000)?);
        }
        if has("attachments") {
            rv["attachments"] = json!(s
                .store
                .report_attachments(&r.id)?
                .into_iter()
                .map(|a| json!({"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256}))
                .collect::<Vec<_>>());
        }
        list.push(rv);
    }
    v["reports"] = json!(list);
    Ok(v)
}

fn load(s: &AppState, id: &str) -> Result<ReferralRow> {
    s.store
        .referral(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("referral {id} not found")))
}

/// How `who` relates to a referral.
enum Role {
    Coordinator,
    /// The law-enforcement organization it is addressed to.
    Recipient,
    /// A reporter whose report it shares.
    Reporter(String),
}

fn role(who: &Viewer, r: &ReferralRow) -> Option<Role> {
    let p = who.principal.as_ref()?;
    if p.org.kind == OrgKind::Coordinator {
        Some(Role::Coordinator)
    } else if p.org.id == r.to_org && matches!(r.state.as_str(), "shared" | "closed") {
        Some(Role::Recipient)
    } else if r.reports.iter().any(|x| x.reporter_org == p.org.id) {
        Some(Role::Reporter(p.org.id.clone()))
    } else {
        None
    }
}

/// A referral as `who` sees it: the coordinator all of it; the law-enforcement
/// organization what was shared once it is shared; a reporter its own questions only
/// (never the content, the note or the preservation request, which may name other
/// reporters; a preservation request reaches a custodian from the authority itself).
fn view(s: &AppState, who: &Viewer, r: &ReferralRow) -> Result<Value> {
    let Some(role) = role(who, r) else {
        return Err(Error::new(
            Kind::NotFound,
            format!("referral {} not found", r.id),
        ));
    };
    let to_name = s.store.organization(&r.to_org).ok().map(|o| o.name);
    let mut v = json!({
        "id": r.id,
        "state": r.state,
        "to": {"id": r.to_org, "name": to_name},
        "parts": r.parts,
        "exercise": r.content.as_ref().map(|c| c["exercise"].clone()),
        "outcome": r.outcome,
        "outcome_detail": r.outcome_detail,
        "created": r.created.to_string(),
        "updated": r.updated.to_string(),
    });
    let answers =
        |only: Option<&str>| {
            json!(r
            .reports
            .iter()
            .filter(|x| only.is_none_or(|o| o == x.reporter_org))
            .map(|x| json!({"report": x.report_id, "reporter": x.reporter_org, "answer": x.answer,
                "answered": x.answered.map(|t| t.to_string())}))
            .collect::<Vec<_>>())
        };
    match role {
        Role::Coordinator => {
            v["preservation"] = json!(r.preservation);
            v["incident"] = json!(r.incident_id);
            v["note"] = json!(r.note);
            v["created_by"] = json!(r.created_by);
            v["consent"] = answers(None);
            v["content"] = json!(r.content);
        }
        Role::Recipient => {
            v["preservation"] = json!(r.preservation);
            v["note"] = json!(r.note);
            v["content"] = json!(r.content);
        }
        Role::Reporter(org) => {
            v["consent"] = answers(Some(&org));
        }
    }
    Ok(v)
}

/// A referral as a list shows it: [`view`] without the content.
fn listed(s: &AppState, who: &Viewer, r: &ReferralRow) -> Result<Value> {
    let mut v = view(s, who, r)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("content");
    }
    Ok(v)
}

/// One referral, as the caller may see it.
pub fn get(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    who.require()?;
    let r = load(s, id)?;
    view(s, who, &r)
}

/// Query parameters of `GET /api/v1/referrals`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub incident: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Referrals the caller has a part in, most recently changed first: the coordinator's
/// all; a law-enforcement organization's those shared with it; a reporter's those that
/// share its reports.
pub fn list(s: &AppState, who: &Viewer, q: &ListQuery) -> Result<Value> {
    let p = who.require()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut f = ReferralFilter {
        incident_id: q.incident.clone(),
        limit,
        ..ReferralFilter::default()
    };
    match p.org.kind {
        OrgKind::Coordinator => {}
        OrgKind::PeerHub => {
            return Err(Error::new(
                Kind::Forbidden,
                "referrals are the hub's members' and coordinator's",
            ))
        }
        OrgKind::LawEnforcement => f.to_org = Some(p.org.id.clone()),
        _ => f.reporter_org = Some(p.org.id.clone()),
    }
    let mut rows = s.store.referrals(&f)?;
    if p.org.kind == OrgKind::LawEnforcement {
        // Its own reports' referrals too (a law-enforcement member may report).
        let mine = s.store.referrals(&ReferralFilter {
            to_org: None,
            reporter_org: Some(p.org.id.clone()),
            ..f.clone()
        })?;
        rows.extend(mine.into_iter().filter(|r| r.to_org != p.org.id));
    }
    let items: Vec<Value> = rows.iter().filter_map(|r| listed(s, who, r).ok()).collect();
    Ok(json!({"referrals": items}))
}

/// The body of `POST /api/v1/referrals/{id}/consent`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub report: String,
    /// `yes` or `no`.
    pub answer: String,
}

/// A reporter answers a referral's question about its report.
pub fn answer(s: &AppState, who: &Viewer, id: &str, inp: AnswerInput) -> Result<Value> {
    let p = super::incidents::reporter(who)?;
    let r = load(s, id)?;
    let Some(x) = r
        .reports
        .iter()
        .find(|x| x.report_id == inp.report && x.reporter_org == p.org.id)
    else {
        return Err(Error::new(
            Kind::NotFound,
            format!(
                "referral {id} asks nothing about a report of yours named {}",
                inp.report
            ),
        ));
    };
    one_of("answer", &inp.answer, &["yes", "no"])?;
    load_report(s, &x.report_id)?;
    let row = s.store.answer_referral(
        id,
        &x.report_id,
        &inp.answer,
        s.config.clock.now(),
        actor(p),
    )?;
    view(s, who, &row)
}

/// The law-enforcement organization (or the coordinator) on a shared referral.
fn handler<'a>(who: &'a Viewer, r: &ReferralRow) -> Result<&'a hinomi_store::Principal> {
    let p = who.require()?;
    let ok = p.role.can_write()
        && (p.org.kind == OrgKind::Coordinator
            || (p.org.id == r.to_org && matches!(r.state.as_str(), "shared" | "closed")));
    if !ok {
        return Err(Error::new(
            Kind::Forbidden,
            "only the law-enforcement organization a referral was shared with, or the coordinator's analysts, may change it",
        ));
    }
    Ok(p)
}

/// Records a preservation request on a shared referral.
pub fn set_preservation(
    s: &AppState,
    who: &Viewer,
    id: &str,
    inp: PreservationInput,
) -> Result<Value> {
    let r = load(s, id)?;
    let p = handler(who, &r)?;
    let v = check_preservation(&inp)?;
    let row = s
        .store
        .update_referral(id, Some(&v), None, s.config.clock.now(), actor(p))?;
    view(s, who, &row)
}

/// The body of `POST /api/v1/referrals/{id}/outcome`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct OutcomeInput {
    pub outcome: String,
    /// For `referred-to-another-agency`: which (required); otherwise a remark.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Records how a shared referral ended, which closes it.
pub fn set_outcome(s: &AppState, who: &Viewer, id: &str, inp: OutcomeInput) -> Result<Value> {
    let r = load(s, id)?;
    let p = handler(who, &r)?;
    one_of("outcome", &inp.outcome, OUTCOMES)?;
    let detail = inp
        .detail
        .as_deref()
        .map(|d| text("detail", d, 4096))
        .transpose()?;
    if inp.outcome == "referred-to-another-agency"
        && detail.as_deref().is_none_or(|d| d.trim().is_empty())
    {
        return Err(bad("detail: name the agency the case was referred to"));
    }
    let row = s.store.update_referral(
        id,
        None,
        Some((&inp.outcome, detail.as_deref())),
        s.config.clock.now(),
        actor(p),
    )?;
    view(s, who, &row)
}

/// The referrals of a case, for the coordinator's case view (without their content).
pub fn for_case(s: &AppState, who: &Viewer, incident_id: &str) -> Result<Vec<Value>> {
    let rows = s.store.referrals(&ReferralFilter {
        incident_id: Some(incident_id.to_string()),
        limit: 1000,
        ..ReferralFilter::default()
    })?;
    rows.iter().map(|r| listed(s, who, r)).collect()
}
