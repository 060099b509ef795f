//! Recovery: plans each organization registers in advance (contacts, critical services
//! with restore priority and target time, alternate operation), shown to the
//! coordinator when a case hits that organization; per case and affected organization a
//! recovery status, recovery tasks (courses of action) and the impact as it changes (each
//! assessment a STIX `impact` of the Incident Extension Suite, the older one pointing to
//! the newer by `superseded_by_ref`); and the coordinator's overview by organization and
//! sector, exercises apart.
//!
//! An organization is affected by a case when it reported into it or the coordinator
//! added it to the case's recovery. The coordinator's analysts and the affected
//! organization itself (with a token that writes) keep its recovery up to date; each
//! sees its own part, the coordinator all of it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{ImpactRow, IncidentRow, Organization, Principal, RecoveryTaskRow};

use super::incidents::{actor, bad, is_coordinator, load_case, one_of, text, time};
use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// An organization's recovery on a case.
pub const STATUSES: &[&str] = &[
    "not-started",
    "in-progress",
    "partially-restored",
    "restored",
];

/// A recovery task's status.
pub const TASK_STATUSES: &[&str] = &["planned", "in-progress", "done", "cancelled"];

/// Impact categories of the Incident Extension Suite's impact object.
pub const IMPACT_CATEGORIES: &[&str] = &[
    "availability",
    "confidentiality",
    "external",
    "integrity",
    "monetary",
    "physical",
    "traceability",
];

const RECOVERABILITY: &[&str] = &["regular", "supplemented", "extended", "not-recoverable"];

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    pub name: String,
    /// Restore order: 1 first.
    pub priority: u32,
    /// Target time to restore, hours after the disruption.
    #[serde(default)]
    pub target_hours: Option<f64>,
    /// How the service runs while its systems are down.
    #[serde(default)]
    pub alternate_operation: Option<String>,
}

/// The body of `PUT /api/v1/recovery/plans/{org}`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    #[serde(default)]
    pub contacts: Vec<ContactInput>,
    #[serde(default)]
    pub critical_services: Vec<ServiceInput>,
    #[serde(default)]
    pub alternate_operation: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

fn opt(field: &str, v: &Option<String>, max: usize) -> Result<Option<String>> {
    v.as_deref().map(|x| text(field, x, max)).transpose()
}

fn check_plan(p: &PlanInput) -> Result<Value> {
    if p.contacts.len() > 100 || p.critical_services.len() > 200 {
        return Err(bad(
            "a recovery plan holds at most 100 contacts and 200 critical services",
        ));
    }
    let mut contacts = Vec::new();
    for (i, c) in p.contacts.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(bad(format!("contacts[{i}].name: required")));
        }
        if let Some(e) = &c.email {
            if !e.contains('@') || e.len() > 320 {
                return Err(bad(format!("contacts[{i}].email: '{e}' is not an address")));
            }
        }
        contacts.push(json!({
            "name": text(&format!("contacts[{i}].name"), &c.name, 200)?,
            "role": opt(&format!("contacts[{i}].role"), &c.role, 200)?,
            "phone": opt(&format!("contacts[{i}].phone"), &c.phone, 50)?,
            "email": c.email,
        }));
    }
    let mut services = Vec::new();
    for (i, sv) in p.critical_services.iter().enumerate() {
        if sv.name.trim().is_empty() {
            return Err(bad(format!("critical_services[{i}].name: required")));
        }
        if let Some(h) = sv.target_hours {
            if !(h.is_finite() && (0.0..=24.0 * 365.0).contains(&h)) {
                return Err(bad(format!(
                    "critical_services[{i}].target_hours: {h} is not 0 to 8760 hours"
                )));
            }
        }
        services.push(json!({
            "name": text(&format!("critical_services[{i}].name"), &sv.name, 300)?,
            "priority": sv.priority,
            "target_hours": sv.target_hours,
            "alternate_operation": opt(&format!("critical_services[{i}].alternate_operation"), &sv.alternate_operation, 4096)?,
        }));
    }
    services.sort_by_key(|v| v["priority"].as_u64().unwrap_or(u64::MAX));
    Ok(json!({
        "contacts": contacts,
        "critical_services": services,
        "alternate_operation": opt("alternate_operation", &p.alternate_operation, 8192)?,
        "notes": opt("notes", &p.notes, 8192)?,
    }))
}

fn org(s: &AppState, id: &str) -> Result<Organization> {
    s.store
        .organizations()?
        .into_iter()
        .find(|o| (o.id == id || o.identity_id == id) && o.kind.is_member())
        .ok_or_else(|| Error::new(Kind::NotFound, format!("organization {id} not found")))
}

/// The organization itself or the coordinator; with `write`, a token that writes (and
/// for the coordinator, its analysts).
fn own_or_coordinator<'a>(who: &'a Viewer, org_id: &str, write: bool) -> Result<&'a Principal> {
    let p = who.require()?;
    let ok = (p.org.id == org_id || p.org.kind == OrgKind::Coordinator)
        && (!write || p.role.can_write());
    if !ok {
        return Err(Error::new(
            Kind::Forbidden,
            "an organization's recovery is its own and the coordinator's",
        ));
    }
    Ok(p)
}

/// Registers or replaces an organization's recovery plan.
pub fn set_plan(s: &AppState, who: &Viewer, org_id: &str, inp: PlanInput) -> Result<Value> {
    let o = org(s, org_id)?;
    let p = own_or_coordinator(who, &o.id, true)?;
    let plan = check_plan(&inp)?;
    let now = s.config.clock.now();
    s.store.set_recovery_plan(&o.id, &plan, now, actor(p))?;
    plan_view(s, who, &o.id)
}

/// An organization's recovery plan.
pub fn plan_view(s: &AppState, who: &Viewer, org_id: &str) -> Result<Value> {
    let o = org(s, org_id)?;
    own_or_coordinator(who, &o.id, false)?;
    let (plan, updated) = s.store.recovery_plan(&o.id)?.ok_or_else(|| {
        Error::new(
            Kind::NotFound,
            format!("organization {} has registered no recovery plan", o.id),
        )
    })?;
    Ok(json!({"organization": o.id, "plan": plan, "updated": updated.to_string()}))
}

/// The organizations a case affects: its reporters and those added to its recovery.
fn affected(s: &AppState, case: &IncidentRow) -> Result<Vec<String>> {
    let mut orgs: Vec<String> = s
        .store
        .incident_reports(&case.id)?
        .into_iter()
        .map(|r| r.reporter_org)
        .collect();
    orgs.extend(s.store.recovery(&case.id)?.into_iter().map(|r| r.org_id));
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// A live case that `who` may keep the recovery of for `org_id`: the coordinator's
/// analysts for any member organization, an affected organization for itself.
fn recovery_case<'a>(
    s: &AppState,
    who: &'a Viewer,
    id: &str,
    org_id: &str,
) -> Result<(&'a Principal, IncidentRow, Organization)> {
    let case = load_case(s, id)?;
    let o = org(s, org_id)?;
    let p = own_or_coordinator(who, &o.id, true)?;
    if p.org.kind != OrgKind::Coordinator && !affected(s, &case)?.contains(&o.id) {
        return Err(Error::new(
            Kind::NotFound,
            format!("incident {id} not found"),
        ));
    }
    if let Some(m) = &case.merged_into {
        return Err(Error::new(
            Kind::Conflict,
            format!("incident {id} is merged into {m}; track recovery there"),
        ));
    }
    Ok((p, case, o))
}

/// The body of `PUT /api/v1/incidents/{id}/recovery/{org}`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    pub status: String,
}

/// Sets an organization's recovery status on a case (the coordinator adds an
/// organization to the case's recovery this way).
pub fn set_status(
    s: &AppState,
    who: &Viewer,
    id: &str,
    org_id: &str,
    inp: StatusInput,
) -> Result<Value> {
    let (p, case, o) = recovery_case(s, who, id, org_id)?;
    one_of("status", &inp.status, STATUSES)?;
    s.store
        .set_recovery_status(&case.id, &o.id, &inp.status, s.config.clock.now(), actor(p))?;
    case_recovery(s, who, &case.id)
}

/// The body of `POST /api/v1/incidents/{id}/recovery/{org}/tasks`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    pub title: String,
    #[serde(default)]
    pub due: Option<String>,
}

/// Adds a recovery task (a course of action) for an organization on a case.
pub fn add_task(
    s: &AppState,
    who: &Viewer,
    id: &str,
    org_id: &str,
    inp: TaskInput,
) -> Result<Value> {
    let (p, case, o) = recovery_case(s, who, id, org_id)?;
    if inp.title.trim().is_empty() {
        return Err(bad("title: required"));
    }
    let now = s.config.clock.now();
    let t = RecoveryTaskRow {
        id: uuid::Uuid::new_v4().to_string(),
        incident_id: case.id.clone(),
        org_id: o.id.clone(),
        title: text("title", &inp.title, 500)?,
        status: "planned".into(),
        due: inp.due.as_deref().map(|d| time("due", d)).transpose()?,
        done: None,
        created: now,
        updated: now,
    };
    s.store.add_recovery_task(&t, actor(p))?;
    Ok(task_json(&t, now))
}

/// The body of `POST /api/v1/recovery/tasks/{id}`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TaskStatusInput {
    pub status: String,
}

/// Changes a recovery task's status.
pub fn set_task_status(
    s: &AppState,
    who: &Viewer,
    task_id: &str,
    inp: TaskStatusInput,
) -> Result<Value> {
    let t = s
        .store
        .recovery_task(task_id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("recovery task {task_id} not found")))?;
    let (p, _, _) = recovery_case(s, who, &t.incident_id, &t.org_id)?;
    one_of("status", &inp.status, TASK_STATUSES)?;
    let now = s.config.clock.now();
    let t = s
        .store
        .set_recovery_task_status(task_id, &inp.status, now, actor(p))?;
    Ok(task_json(&t, now))
}

/// The body of `POST /api/v1/incidents/{id}/recovery/{org}/impacts`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ImpactInput {
    pub category: String,
    /// 0 (none) to 100 (the worst).
    pub criticality: u8,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub recoverability: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// For `availability`: how much of the service is unavailable, 0 to 100.
    #[serde(default)]
    pub availability_impact: Option<u8>,
}

/// Records a new assessment of an organization's impact on a case; it supersedes the
/// one before.
pub fn add_impact(
    s: &AppState,
    who: &Viewer,
    id: &str,
    org_id: &str,
    inp: ImpactInput,
) -> Result<Value> {
    let (p, case, o) = recovery_case(s, who, id, org_id)?;
    one_of("category", &inp.category, IMPACT_CATEGORIES)?;
    if inp.criticality > 100 {
        return Err(bad(format!(
            "criticality: {} is not 0 to 100",
            inp.criticality
        )));
    }
    if let Some(a) = inp.availability_impact {
        if inp.category != "availability" || a > 100 {
            return Err(bad(
                "availability_impact: 0 to 100, for the availability category only",
            ));
        }
    }
    let start = inp
        .start_time
        .as_deref()
        .map(|t| time("start_time", t))
        .transpose()?;
    let end = inp
        .end_time
        .as_deref()
        .map(|t| time("end_time", t))
        .transpose()?;
    if let (Some(a), Some(b)) = (start, end) {
        if b < a {
            return Err(bad("end_time: before start_time"));
        }
    }
    let impact = json!({
        "category": inp.category,
        "criticality": inp.criticality,
        "description": opt("description", &inp.description, 8192)?,
        "recoverability": inp.recoverability.as_deref().map(|r| one_of("recoverability", r, RECOVERABILITY)).transpose()?,
        "start_time": start.map(|t| t.to_string()),
        "end_time": end.map(|t| t.to_string()),
        "availability_impact": inp.availability_impact,
        "recorded_by": p.org.id,
    });
    let row = ImpactRow {
        id: format!("impact--{}", uuid::Uuid::new_v4()),
        incident_id: case.id.clone(),
        org_id: o.id.clone(),
        at: s.config.clock.now(),
        impact,
        superseded_by: None,
    };
    s.store.add_impact(&row, actor(p))?;
    Ok(impact_object(&row, &o.identity_id))
}

/// An impact assessment as the Incident Extension Suite's STIX `impact` object.
fn impact_object(i: &ImpactRow, identity: &str) -> Value {
    let m = &i.impact;
    let mut v = json!({
        "type": "impact",
        "spec_version": "2.1",
        "id": i.id,
        "created": i.at.to_string(),
        "modified": i.at.to_string(),
        "impact_category": m["category"],
        "criticality": m["criticality"],
        "impacted_refs": [identity],
    });
    for k in ["description", "recoverability", "start_time", "end_time"] {
        if !m[k].is_null() {
            v[k] = m[k].clone();
        }
    }
    if let Some(a) = m["availability_impact"].as_u64() {
        v["extensions"] = json!({"availability": {"availability_impact": a}});
    }
    if let Some(n) = &i.superseded_by {
        v["superseded_by_ref"] = json!(n);
    }
    v
}

fn task_json(t: &RecoveryTaskRow, now: hinomi_stix::Timestamp) -> Value {
    json!({"id": t.id, "incident": t.incident_id, "organization": t.org_id, "title": t.title,
        "status": t.status, "due": t.due.map(|d| d.to_string()), "done": t.done.map(|d| d.to_string()),
        "overdue": t.due.is_some_and(|d| d < now) && !matches!(t.status.as_str(), "done" | "cancelled"),
        "created": t.created.to_string(), "updated": t.updated.to_string()})
}

/// A case's recovery: per affected organization its status, tasks, impact over time
/// and (for the coordinator, and for the organization itself) its recovery plan. The
/// coordinator sees every organization, an affected organization its own.
pub fn case_recovery(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = who.require()?;
    let case = load_case(s, id)?;
    let all = affected(s, &case)?;
    let coordinator = is_coordinator(who);
    let shown: Vec<&String> = all
        .iter()
        .filter(|o| coordinator || **o == p.org.id)
        .collect();
    if shown.is_empty() && !coordinator {
        return Err(Error::new(
            Kind::NotFound,
            format!("incident {id} not found"),
        ));
    }
    let status = s.store.recovery(&case.id)?;
    let tasks = s.store.recovery_tasks(&case.id)?;
    let impacts = s.store.impacts(&case.id)?;
    let orgs = s.store.organizations()?;
    let now = s.config.clock.now();
    let mut out = Vec::new();
    for org_id in shown {
        let o = orgs.iter().find(|o| &o.id == org_id);
        let identity = o.map(|o| o.identity_id.clone()).unwrap_or_default();
        let st = status.iter().find(|r| &r.org_id == org_id);
        out.push(json!({
            "organization": org_id,
            "name": o.map(|o| o.name.clone()),
            "sectors": o.map(|o| o.sectors.clone()),
            "status": st.map(|r| r.status.clone()).unwrap_or_else(|| "not-started".into()),
            "started": st.and_then(|r| r.started).map(|t| t.to_string()),
            "restored": st.and_then(|r| r.restored).map(|t| t.to_string()),
            "plan": s.store.recovery_plan(org_id)?.map(|(p, u)| json!({"plan": p, "updated": u.to_string()})),
            "tasks": tasks.iter().filter(|t| &t.org_id == org_id).map(|t| task_json(t, now)).collect::<Vec<_>>(),
            "impacts": impacts.iter().filter(|i| &i.org_id == org_id).map(|i| impact_object(i, &identity)).collect::<Vec<_>>(),
            "current_impact": impacts.iter().filter(|i| &i.org_id == org_id && i.superseded_by.is_none()).map(|i| impact_object(i, &identity)).next_back(),
        }));
    }
    Ok(json!({"incident": case.id, "exercise": case.exercise, "organizations": out}))
}

/// Query parameters of `GET /api/v1/recovery`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    /// Exercise cases instead of real ones.
    #[serde(default)]
    pub exercise: bool,
}

/// The coordinator's view of recovery: every organization on a case that is not
/// merged away (a reporter of a confirmed case without a status of its own counts as
/// not-started), with counts by status per sector and per organization; the 10,000
/// most recently changed, `truncated` when there were more. Exercise cases
/// are apart: never counted with the real ones.
pub fn overview(s: &AppState, who: &Viewer, q: &OverviewQuery) -> Result<Value> {
    super::incidents::coordinator(who)?;
    let mut rows = s.store.recovery_overview(q.exercise, 10_001)?;
    let truncated = rows.len() > 10_000;
    rows.truncate(10_000);
    let orgs = s.store.organizations()?;
    let mut by_sector: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut by_org: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut entries = Vec::new();
    for r in &rows {
        let o = orgs.iter().find(|o| o.id == r.org_id);
        let sectors = o
            .map(|o| o.sectors.clone())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec!["unspecified".into()]);
        for sec in &sectors {
            *by_sector
                .entry(sec.clone())
                .or_default()
                .entry(r.status.clone())
                .or_default() += 1;
        }
        *by_org
            .entry(r.org_id.clone())
            .or_default()
            .entry(r.status.clone())
            .or_default() += 1;
        entries.push(json!({"incident": r.incident_id, "organization": r.org_id,
            "name": o.map(|o| o.name.clone()), "sectors": sectors, "status": r.status,
            "started": r.started.map(|t| t.to_string()), "restored": r.restored.map(|t| t.to_string()),
            "updated": r.updated.to_string()}));
    }
    Ok(
        json!({"exercise": q.exercise, "entries": entries, "by_sector": by_sector, "by_organization": by_org, "truncated": truncated}),
    )
}
