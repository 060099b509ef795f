//! What follows triage on a case: law-enforcement referrals (with each reporter's
//! answer and an optional preservation request), recovery (plans registered in advance
//! per organization; per case and affected organization a status, tasks and the impact
//! as it changes) and the coordinator-only mapping from a sanitized warning back to its
//! case.
//!
//! As in `incidents`, the store decides no policy (who may refer, what consent allows,
//! which statuses exist are the hub's); every change writes its timeline entry on the
//! case and its audit entry in the same transaction.

use serde_json::{json, Value};

use hinomi_stix::Timestamp;

use crate::db::{Conn, Val};
use crate::incidents::{add_event, touch};
use crate::warnings::insert_warning;
use crate::{append_audit, Actor, Store, StoreError, WarningRow};

/// A referral of a case to a law-enforcement organization.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferralRow {
    pub id: String,
    pub incident_id: String,
    pub to_org: String,
    /// `awaiting-consent`, `shared`, `refused` or `closed`.
    pub state: String,
    pub parts: Vec<String>,
    pub note: Option<String>,
    pub preservation: Option<Value>,
    pub outcome: Option<String>,
    pub outcome_detail: Option<String>,
    /// What the referral shares, fixed when it was made; removed when it is refused.
    pub content: Option<Value>,
    pub created_by: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub reports: Vec<ReferralReport>,
}

/// One report a referral shares, and its reporter's answer (`yes`, `no`, or `ask`
/// while the question is open).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferralReport {
    pub report_id: String,
    pub reporter_org: String,
    pub answer: String,
    pub answered: Option<Timestamp>,
}

/// Which referrals to list.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub incident_id: Option<String>,
    pub to_org: Option<String>,
    /// Referrals that share a report of this organization.
    pub reporter_org: Option<String>,
    pub limit: usize,
}

/// One affected organization's recovery on one case.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryRow {
    pub incident_id: String,
    pub org_id: String,
    pub status: String,
    pub started: Option<Timestamp>,
    pub restored: Option<Timestamp>,
    pub updated: Timestamp,
}

/// A recovery task (a course of action) of one organization on one case.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryTaskRow {
    pub id: String,
    pub incident_id: String,
    pub org_id: String,
    pub title: String,
    pub status: String,
    pub due: Option<Timestamp>,
    pub done: Option<Timestamp>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// One assessment of an organization's impact; the next one supersedes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactRow {
    pub id: String,
    pub incident_id: String,
    pub org_id: String,
    pub at: Timestamp,
    pub impact: Value,
    pub superseded_by: Option<String>,
}

/// A sanitized warning drafted from a case: what it came from and what was kept.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningOrigin {
    pub warning_id: String,
    pub incident_id: String,
    pub reports: Vec<String>,
    pub kept: Value,
    pub created_by: String,
    pub created: Timestamp,
}

/// A case-level change: its timeline entry and audit entry ([`noted`]), and the case
/// marked changed.
fn recorded(
    c: &mut Conn,
    incident_id: &str,
    at: Timestamp,
    actor: Actor<'_>,
    event: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    noted(c, incident_id, at, actor, event, detail)?;
    touch(c, incident_id, at)
}

/// A change an affected organization makes to its own recovery: on the timeline and in
/// the audit log, without moving the case's version (which guards the coordinator's
/// triage edits against staleness).
fn noted(
    c: &mut Conn,
    incident_id: &str,
    at: Timestamp,
    actor: Actor<'_>,
    event: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    add_event(c, incident_id, at, Some(actor), event, detail)?;
    append_audit(
        c,
        Some(actor.org),
        &format!("incident.{event}"),
        Some(incident_id),
        detail,
    )
}

/// Recovery tasks and impact assessments one organization may hold on one case.
pub const MAX_RECOVERY_ENTRIES: i64 = 500;

fn under_cap(
    c: &mut Conn,
    table: &str,
    incident_id: &str,
    org_id: &str,
    what: &str,
) -> Result<(), StoreError> {
    let n = c
        .query_one(
            &format!("SELECT COUNT(*) FROM {table} WHERE incident_id = ? AND org_id = ?"),
            &[incident_id.into(), org_id.into()],
        )?
        .map(|r| r[0].int())
        .unwrap_or(0);
    if n >= MAX_RECOVERY_ENTRIES {
        return Err(StoreError::Conflict(format!(
            "organization {org_id} has {n} {what} on incident {incident_id}, the most it may hold"
        )));
    }
    Ok(())
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn opt_json(v: &Val) -> Option<Value> {
    v.opt_text().and_then(|t| serde_json::from_str(&t).ok())
}

const REFERRAL_COLUMNS: &str = "id, incident_id, to_org, state, parts, note, preservation, outcome, outcome_detail, content, created_by, created, updated";

fn referral_from(c: &mut Conn, r: &[Val]) -> Result<ReferralRow, StoreError> {
    let id = r[0].text();
    let reports = c
        .query(
            "SELECT report_id, reporter_org, answer, answered FROM referral_reports WHERE referral_id = ? ORDER BY report_id",
            &[(&id).into()],
        )?
        .into_iter()
        .map(|x| ReferralReport {
            report_id: x[0].text(),
            reporter_org: x[1].text(),
            answer: x[2].text(),
            answered: x[3].opt_int().map(Timestamp),
        })
        .collect();
    Ok(ReferralRow {
        id,
        incident_id: r[1].text(),
        to_org: r[2].text(),
        state: r[3].text(),
        parts: serde_json::from_str(&r[4].text()).unwrap_or_default(),
        note: r[5].opt_text(),
        preservation: opt_json(&r[6]),
        outcome: r[7].opt_text(),
        outcome_detail: r[8].opt_text(),
        content: opt_json(&r[9]),
        created_by: r[10].text(),
        created: Timestamp(r[11].int()),
        updated: Timestamp(r[12].int()),
        reports,
    })
}

fn referral_in(c: &mut Conn, id: &str) -> Result<ReferralRow, StoreError> {
    let row = c
        .query_one(
            &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = ?"),
            &[id.into()],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("referral {id}")))?;
    referral_from(c, &row)
}

/// The state a referral's answers put it in: refused at the first no, shared when
/// every reporter said yes, else still waiting.
fn state_of(reports: &[ReferralReport]) -> &'static str {
    if reports.iter().any(|r| r.answer == "no") {
        "refused"
    } else if reports.iter().all(|r| r.answer == "yes") {
        "shared"
    } else {
        "awaiting-consent"
    }
}

const RECOVERY_COLUMNS: &str = "incident_id, org_id, status, started, restored, updated";

fn recovery_from(r: &[Val]) -> RecoveryRow {
    RecoveryRow {
        incident_id: r[0].text(),
        org_id: r[1].text(),
        status: r[2].text(),
        started: r[3].opt_int().map(Timestamp),
        restored: r[4].opt_int().map(Timestamp),
        updated: Timestamp(r[5].int()),
    }
}

const TASK_COLUMNS: &str = "id, incident_id, org_id, title, status, due, done, created, updated";

fn task_from(r: &[Val]) -> RecoveryTaskRow {
    RecoveryTaskRow {
        id: r[0].text(),
        incident_id: r[1].text(),
        org_id: r[2].text(),
        title: r[3].text(),
        status: r[4].text(),
        due: r[5].opt_int().map(Timestamp),
        done: r[6].opt_int().map(Timestamp),
        created: Timestamp(r[7].int()),
        updated: Timestamp(r[8].int()),
    }
}

const ORIGIN_COLUMNS: &str = "warning_id, incident_id, reports, kept, created_by, created";

/// Inside a publication's transaction: a warning drafted from incident reports goes out
/// only while every one of them still consents (to being named too, when the draft
/// keeps the reporter). On PostgreSQL the reports' rows are locked until the
/// publication commits, so a withdrawal waits for it or wins before it; SQLite's write
/// transaction already excludes the withdrawal.
///
/// An update sends the warning out again, so it needs the same consent; a withdrawal
/// needs none (it is how a warning whose reporter withdrew consent is taken back).
pub(crate) fn consent_holds_in(
    c: &mut Conn,
    warning_id: &str,
    event: &str,
) -> Result<(), StoreError> {
    if event == "withdrawn" {
        return Ok(());
    }
    let Some(o) = c
        .query_one(
            &format!("SELECT {ORIGIN_COLUMNS} FROM incident_warnings WHERE warning_id = ?"),
            &[warning_id.into()],
        )?
        .map(|r| origin_from(&r))
    else {
        return Ok(());
    };
    let named = o.kept["reporter"] == true;
    let lock = match c.dialect() {
        crate::Dialect::Postgres => " FOR SHARE",
        crate::Dialect::Sqlite => "",
    };
    for r in &o.reports {
        let row = c.query_one(
            &format!(
                "SELECT share_anonymized, share_named FROM incident_reports WHERE id = ?{lock}"
            ),
            &[r.as_str().into()],
        )?;
        let ok = row.is_some_and(|row| row[0].int() != 0 && (!named || row[1].int() != 0));
        if !ok {
            return Err(StoreError::Conflict(if event == "published" {
                format!("report {r}: its reporter no longer consents to this warning; draft it again from the incident")
            } else {
                format!("report {r}: its reporter withdrew consent after this warning was published; it may be withdrawn, not {event} (that sends it out again)")
            }));
        }
    }
    Ok(())
}

fn origin_from(r: &[Val]) -> WarningOrigin {
    WarningOrigin {
        warning_id: r[0].text(),
        incident_id: r[1].text(),
        reports: serde_json::from_str(&r[2].text()).unwrap_or_default(),
        kept: serde_json::from_str(&r[3].text()).unwrap_or(Value::Null),
        created_by: r[4].text(),
        created: Timestamp(r[5].int()),
    }
}

fn report_consent(c: &mut Conn, report_id: &str) -> Result<String, StoreError> {
    c.query_one(
        "SELECT law_enforcement FROM incident_reports WHERE id = ?",
        &[report_id.into()],
    )?
    .map(|r| r[0].text())
    .ok_or_else(|| StoreError::NotFound(format!("report {report_id}")))
}

fn ensure_case(c: &mut Conn, incident_id: &str) -> Result<(), StoreError> {
    c.query_one(
        "SELECT 1 FROM incidents WHERE id = ?",
        &[incident_id.into()],
    )?
    .map(|_| ())
    .ok_or_else(|| StoreError::NotFound(format!("incident {incident_id}")))
}

/// Moves what follows triage from case `from` to case `into` (a merge). An
/// organization's recovery status already on `into` stays; the merged one's goes.
pub(crate) fn move_case(c: &mut Conn, from: &str, into: &str) -> Result<(), StoreError> {
    for table in [
        "referrals",
        "recovery_tasks",
        "incident_impacts",
        "incident_warnings",
    ] {
        c.execute(
            &format!("UPDATE {table} SET incident_id = ? WHERE incident_id = ?"),
            &[into.into(), from.into()],
        )?;
    }
    c.execute(
        "UPDATE incident_recovery SET incident_id = ? WHERE incident_id = ? AND org_id NOT IN (SELECT org_id FROM incident_recovery WHERE incident_id = ?)",
        &[into.into(), from.into(), into.into()],
    )?;
    c.execute(
        "DELETE FROM incident_recovery WHERE incident_id = ?",
        &[from.into()],
    )?;
    Ok(())
}

/// A reporter's standing consent became `no`: every referral still waiting that holds
/// the report (whatever the report's own answer was) is answered no for it, which
/// refuses the referral and removes what it would have shared.
pub(crate) fn refuse_open_questions(
    c: &mut Conn,
    report_id: &str,
    at: Timestamp,
    actor: Actor<'_>,
) -> Result<(), StoreError> {
    let open = c.query(
        "SELECT q.referral_id FROM referral_reports q JOIN referrals r ON r.id = q.referral_id WHERE q.report_id = ? AND r.state = 'awaiting-consent'",
        &[report_id.into()],
    )?;
    for row in open {
        let id = row[0].text();
        c.execute(
            "UPDATE referral_reports SET answer = 'no', answered = ? WHERE referral_id = ? AND report_id = ?",
            &[at.micros().into(), (&id).into(), report_id.into()],
        )?;
        let r = referral_in(c, &id)?;
        refuse(c, &id, at)?;
        let detail =
            json!({"referral": id, "report": report_id, "answer": "no", "state": "refused"});
        recorded(c, &r.incident_id, at, actor, "referral.consent", &detail)?;
    }
    Ok(())
}

/// A refused referral keeps nothing it would have shared: no content, no note, no
/// preservation request.
fn refuse(c: &mut Conn, id: &str, at: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE referrals SET state = 'refused', content = NULL, note = NULL, preservation = NULL, updated = ? WHERE id = ?",
        &[at.micros().into(), id.into()],
    )?;
    Ok(())
}

/// Puts an event in an organization's live feed (the `/api/v1/stream` of its members).
fn feed(
    c: &mut Conn,
    org_id: &str,
    at: Timestamp,
    event: &str,
    data: &Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO stream_events (org_id, at, event, warning_id, data) VALUES (?, ?, ?, NULL, ?)",
        &[
            org_id.into(),
            at.micros().into(),
            event.into(),
            json_text(data).into(),
        ],
    )?;
    Ok(())
}

/// Tells the reporters asked and, once shared, the law-enforcement organization.
fn announce(c: &mut Conn, r: &ReferralRow, at: Timestamp) -> Result<(), StoreError> {
    match r.state.as_str() {
        "awaiting-consent" => {
            for x in r.reports.iter().filter(|x| x.answer == "ask") {
                feed(
                    c,
                    &x.reporter_org,
                    at,
                    "referral.consent-requested",
                    &json!({"referral": r.id, "report": x.report_id}),
                )?;
            }
        }
        "shared" => feed(
            c,
            &r.to_org,
            at,
            "referral.shared",
            &json!({"referral": r.id}),
        )?,
        _ => {}
    }
    Ok(())
}

impl Store {
    /// Records a referral with its reports and their answers; its state follows from
    /// the answers (the caller refuses a `no` before asking).
    pub fn create_referral(
        &self,
        r: &ReferralRow,
        actor: Actor<'_>,
    ) -> Result<ReferralRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                ensure_case(c, &r.incident_id)?;
                // The consent as it stands in this transaction, not as the caller read it.
                for x in &r.reports {
                    let now = report_consent(c, &x.report_id)?;
                    if now == "no" || (now == "ask" && x.answer == "yes") {
                        return Err(StoreError::Conflict(format!(
                            "report {}: its reporter's consent to a referral changed; make the referral again",
                            x.report_id
                        )));
                    }
                }
                c.execute(
                    &format!("INSERT INTO referrals ({REFERRAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &[
                        (&r.id).into(),
                        (&r.incident_id).into(),
                        (&r.to_org).into(),
                        state_of(&r.reports).into(),
                        json_text(&json!(r.parts)).into(),
                        r.note.as_deref().into(),
                        r.preservation.as_ref().map(json_text).into(),
                        r.outcome.as_deref().into(),
                        r.outcome_detail.as_deref().into(),
                        r.content.as_ref().map(json_text).into(),
                        (&r.created_by).into(),
                        r.created.micros().into(),
                        r.updated.micros().into(),
                    ],
                )?;
                for x in &r.reports {
                    c.execute(
                        "INSERT INTO referral_reports (referral_id, report_id, reporter_org, answer, answered) VALUES (?, ?, ?, ?, ?)",
                        &[
                            (&r.id).into(),
                            (&x.report_id).into(),
                            (&x.reporter_org).into(),
                            (&x.answer).into(),
                            x.answered.map(|t| t.micros()).into(),
                        ],
                    )?;
                }
                let detail = json!({"referral": r.id, "to": r.to_org, "parts": r.parts,
                    "reports": r.reports.iter().map(|x| &x.report_id).collect::<Vec<_>>(),
                    "state": state_of(&r.reports), "preservation": r.preservation.is_some()});
                recorded(c, &r.incident_id, r.created, actor, "referral", &detail)?;
                let row = referral_in(c, &r.id)?;
                announce(c, &row, r.created)?;
                Ok(row)
            })
        })
    }

    /// One referral.
    pub fn referral(&self, id: &str) -> Result<Option<ReferralRow>, StoreError> {
        self.pool.with(|c| match referral_in(c, id) {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// Referrals, most recently changed first.
    pub fn referrals(&self, f: &ReferralFilter) -> Result<Vec<ReferralRow>, StoreError> {
        let mut cond = vec!["1 = 1"];
        let mut params: Vec<Val> = Vec::new();
        if let Some(i) = &f.incident_id {
            cond.push("incident_id = ?");
            params.push(i.into());
        }
        if let Some(o) = &f.to_org {
            cond.push("to_org = ?");
            params.push(o.into());
        }
        if let Some(o) = &f.reporter_org {
            cond.push("id IN (SELECT referral_id FROM referral_reports WHERE reporter_org = ?)");
            params.push(o.into());
        }
        params.push((f.limit.clamp(1, 10_000) as i64).into());
        self.pool.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE {} ORDER BY updated DESC, id DESC LIMIT ?",
                    cond.join(" AND ")
                ),
                &params,
            )?;
            rows.iter().map(|r| referral_from(c, r)).collect()
        })
    }

    /// A reporter's answer to a referral that asked for its consent. Refused (as a
    /// conflict) when the question is not open. A no removes what the referral would
    /// have shared.
    pub fn answer_referral(
        &self,
        id: &str,
        report_id: &str,
        answer: &str,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<ReferralRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let r = referral_in(c, id)?;
                if r.state != "awaiting-consent" {
                    return Err(StoreError::Conflict(format!(
                        "referral {id} is {}; it asks no question",
                        r.state
                    )));
                }
                let n = c.execute(
                    "UPDATE referral_reports SET answer = ?, answered = ? WHERE referral_id = ? AND report_id = ? AND answer = 'ask'",
                    &[answer.into(), at.micros().into(), id.into(), report_id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!(
                        "referral {id} has no open question about report {report_id}"
                    )));
                }
                let r = referral_in(c, id)?;
                let state = state_of(&r.reports);
                if state == "refused" {
                    refuse(c, id, at)?;
                } else {
                    c.execute(
                        "UPDATE referrals SET state = ?, updated = ? WHERE id = ?",
                        &[state.into(), at.micros().into(), id.into()],
                    )?;
                }
                let detail = json!({"referral": id, "report": report_id, "answer": answer, "state": state});
                recorded(c, &r.incident_id, at, actor, "referral.consent", &detail)?;
                let row = referral_in(c, id)?;
                if state == "shared" {
                    announce(c, &row, at)?;
                }
                Ok(row)
            })
        })
    }

    /// Sets a shared referral's preservation request, or its outcome (which closes it).
    pub fn update_referral(
        &self,
        id: &str,
        preservation: Option<&Value>,
        outcome: Option<(&str, Option<&str>)>,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<ReferralRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let r = referral_in(c, id)?;
                if r.state != "shared" {
                    return Err(StoreError::Conflict(format!(
                        "referral {id} is {}; only a shared referral takes a preservation request or an outcome",
                        r.state
                    )));
                }
                if let Some(p) = preservation {
                    c.execute(
                        "UPDATE referrals SET preservation = ?, updated = ? WHERE id = ?",
                        &[json_text(p).into(), at.micros().into(), id.into()],
                    )?;
                    recorded(c, &r.incident_id, at, actor, "referral.preservation", &json!({"referral": id}))?;
                }
                if let Some((o, detail)) = outcome {
                    c.execute(
                        "UPDATE referrals SET outcome = ?, outcome_detail = ?, state = 'closed', updated = ? WHERE id = ?",
                        &[o.into(), detail.into(), at.micros().into(), id.into()],
                    )?;
                    recorded(c, &r.incident_id, at, actor, "referral.outcome", &json!({"referral": id, "outcome": o}))?;
                }
                referral_in(c, id)
            })
        })
    }

    /// Registers (or replaces) an organization's recovery plan.
    pub fn set_recovery_plan(
        &self,
        org_id: &str,
        plan: &Value,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO recovery_plans (org_id, plan, updated, updated_by) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (org_id) DO UPDATE SET plan = excluded.plan, updated = excluded.updated, updated_by = excluded.updated_by",
                    &[org_id.into(), json_text(plan).into(), at.micros().into(), actor.org.into()],
                )?;
                append_audit(c, Some(actor.org), "recovery.plan", Some(org_id), &json!({}))
            })
        })
    }

    /// An organization's recovery plan and when it was last changed.
    pub fn recovery_plan(&self, org_id: &str) -> Result<Option<(Value, Timestamp)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT plan, updated FROM recovery_plans WHERE org_id = ?",
                &[org_id.into()],
            )?
            .map(|r| {
                (
                    serde_json::from_str(&r[0].text()).unwrap_or(Value::Null),
                    Timestamp(r[1].int()),
                )
            }))
        })
    }

    /// Sets an organization's recovery status on a case (adding the organization to
    /// the case's recovery when it is not in it). `started` is kept from the first
    /// status past `not-started`, `restored` set when it becomes `restored`.
    pub fn set_recovery_status(
        &self,
        incident_id: &str,
        org_id: &str,
        status: &str,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<RecoveryRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                ensure_case(c, incident_id)?;
                let cur = c
                    .query_one(
                        &format!("SELECT {RECOVERY_COLUMNS} FROM incident_recovery WHERE incident_id = ? AND org_id = ?"),
                        &[incident_id.into(), org_id.into()],
                    )?
                    .map(|r| recovery_from(&r));
                let started = cur
                    .as_ref()
                    .and_then(|r| r.started)
                    .or((status != "not-started").then_some(at));
                let restored = (status == "restored").then(|| {
                    cur.as_ref().and_then(|r| r.restored).unwrap_or(at)
                });
                c.execute(
                    &format!("INSERT INTO incident_recovery ({RECOVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) \
                              ON CONFLICT (incident_id, org_id) DO UPDATE SET status = excluded.status, started = excluded.started, restored = excluded.restored, updated = excluded.updated"),
                    &[
                        incident_id.into(),
                        org_id.into(),
                        status.into(),
                        started.map(|t| t.micros()).into(),
                        restored.map(|t| t.micros()).into(),
                        at.micros().into(),
                    ],
                )?;
                let detail = json!({"organization": org_id, "from": cur.map(|r| r.status), "to": status});
                noted(c, incident_id, at, actor, "recovery", &detail)?;
                Ok(RecoveryRow {
                    incident_id: incident_id.to_string(),
                    org_id: org_id.to_string(),
                    status: status.to_string(),
                    started,
                    restored,
                    updated: at,
                })
            })
        })
    }

    /// The recovery of every organization on a case.
    pub fn recovery(&self, incident_id: &str) -> Result<Vec<RecoveryRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {RECOVERY_COLUMNS} FROM incident_recovery WHERE incident_id = ? ORDER BY org_id"),
                &[incident_id.into()],
            )?
            .iter()
            .map(|r| recovery_from(r))
            .collect())
        })
    }

    /// Recovery on cases that are not merged away, for the coordinator's overview:
    /// exercise cases only when `exercise`, else only real ones. A reporter of a
    /// confirmed (or later) case without a status of its own is `not-started`.
    pub fn recovery_overview(
        &self,
        exercise: bool,
        limit: usize,
    ) -> Result<Vec<RecoveryRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT r.incident_id, r.org_id, r.status, r.started, r.restored, r.updated FROM incident_recovery r JOIN incidents i ON i.id = r.incident_id WHERE i.exercise = ? AND i.merged_into IS NULL \
                 UNION ALL \
                 SELECT DISTINCT rp.incident_id, rp.reporter_org, 'not-started', CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), i.updated FROM incident_reports rp JOIN incidents i ON i.id = rp.incident_id \
                 WHERE i.exercise = ? AND i.merged_into IS NULL AND i.state IN ('confirmed', 'contained', 'recovering', 'closed') \
                 AND NOT EXISTS (SELECT 1 FROM incident_recovery x WHERE x.incident_id = rp.incident_id AND x.org_id = rp.reporter_org) \
                 ORDER BY 6 DESC, 1, 2 LIMIT ?",
                &[exercise.into(), exercise.into(), (limit.clamp(1, 100_001) as i64).into()],
            )?
            .iter()
            .map(|r| recovery_from(r))
            .collect())
        })
    }

    /// Adds a recovery task.
    pub fn add_recovery_task(
        &self,
        t: &RecoveryTaskRow,
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                ensure_case(c, &t.incident_id)?;
                under_cap(c, "recovery_tasks", &t.incident_id, &t.org_id, "recovery tasks")?;
                c.execute(
                    &format!("INSERT INTO recovery_tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &[
                        (&t.id).into(),
                        (&t.incident_id).into(),
                        (&t.org_id).into(),
                        (&t.title).into(),
                        (&t.status).into(),
                        t.due.map(|d| d.micros()).into(),
                        t.done.map(|d| d.micros()).into(),
                        t.created.micros().into(),
                        t.updated.micros().into(),
                    ],
                )?;
                let detail = json!({"task": t.id, "organization": t.org_id, "title": t.title, "due": t.due.map(|d| d.to_string())});
                noted(c, &t.incident_id, t.created, actor, "recovery.task", &detail)
            })
        })
    }

    /// One recovery task.
    pub fn recovery_task(&self, id: &str) -> Result<Option<RecoveryTaskRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {TASK_COLUMNS} FROM recovery_tasks WHERE id = ?"),
                &[id.into()],
            )?
            .map(|r| task_from(&r)))
        })
    }

    /// Changes a recovery task's status (`done` is set when it becomes done).
    pub fn set_recovery_task_status(
        &self,
        id: &str,
        status: &str,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<RecoveryTaskRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let done = (status == "done").then_some(at.micros());
                let n = c.execute(
                    "UPDATE recovery_tasks SET status = ?, done = ?, updated = ? WHERE id = ?",
                    &[status.into(), done.into(), at.micros().into(), id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("recovery task {id}")));
                }
                let t = c
                    .query_one(
                        &format!("SELECT {TASK_COLUMNS} FROM recovery_tasks WHERE id = ?"),
                        &[id.into()],
                    )?
                    .map(|r| task_from(&r))
                    .ok_or_else(|| StoreError::NotFound(format!("recovery task {id}")))?;
                let detail = json!({"task": id, "organization": t.org_id, "status": status});
                noted(
                    c,
                    &t.incident_id,
                    at,
                    actor,
                    "recovery.task.status",
                    &detail,
                )?;
                Ok(t)
            })
        })
    }

    /// The recovery tasks of a case, by organization and due date.
    pub fn recovery_tasks(&self, incident_id: &str) -> Result<Vec<RecoveryTaskRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {TASK_COLUMNS} FROM recovery_tasks WHERE incident_id = ? ORDER BY org_id, due IS NULL, due, created, id"),
                &[incident_id.into()],
            )?
            .iter()
            .map(|r| task_from(r))
            .collect())
        })
    }

    /// Records a new assessment of an organization's impact on a case; it supersedes
    /// the one before.
    pub fn add_impact(&self, i: &ImpactRow, actor: Actor<'_>) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                ensure_case(c, &i.incident_id)?;
                under_cap(c, "incident_impacts", &i.incident_id, &i.org_id, "impact assessments")?;
                c.execute(
                    "UPDATE incident_impacts SET superseded_by = ? WHERE incident_id = ? AND org_id = ? AND superseded_by IS NULL",
                    &[(&i.id).into(), (&i.incident_id).into(), (&i.org_id).into()],
                )?;
                c.execute(
                    "INSERT INTO incident_impacts (id, incident_id, org_id, at, impact, superseded_by) VALUES (?, ?, ?, ?, ?, NULL)",
                    &[
                        (&i.id).into(),
                        (&i.incident_id).into(),
                        (&i.org_id).into(),
                        i.at.micros().into(),
                        json_text(&i.impact).into(),
                    ],
                )?;
                let detail = json!({"impact": i.id, "organization": i.org_id});
                noted(c, &i.incident_id, i.at, actor, "impact", &detail)
            })
        })
    }

    /// The impact assessments of a case, oldest first.
    pub fn impacts(&self, incident_id: &str) -> Result<Vec<ImpactRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT id, incident_id, org_id, at, impact, superseded_by FROM incident_impacts WHERE incident_id = ? ORDER BY org_id, at, id",
                &[incident_id.into()],
            )?
            .into_iter()
            .map(|r| ImpactRow {
                id: r[0].text(),
                incident_id: r[1].text(),
                org_id: r[2].text(),
                at: Timestamp(r[3].int()),
                impact: serde_json::from_str(&r[4].text()).unwrap_or(Value::Null),
                superseded_by: r[5].opt_text(),
            })
            .collect())
        })
    }

    /// Creates a sanitized warning's draft and records which case (and reports) it was
    /// drafted from, in one transaction.
    pub fn create_warning_from_case(
        &self,
        w: &WarningRow,
        o: &WarningOrigin,
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                ensure_case(c, &o.incident_id)?;
                insert_warning(c, w)?;
                c.execute(
                    &format!("INSERT INTO incident_warnings ({ORIGIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
                    &[
                        (&o.warning_id).into(),
                        (&o.incident_id).into(),
                        json_text(&json!(o.reports)).into(),
                        json_text(&o.kept).into(),
                        (&o.created_by).into(),
                        o.created.micros().into(),
                    ],
                )?;
                let detail = json!({"warning": o.warning_id, "reports": o.reports, "kept": o.kept});
                recorded(c, &o.incident_id, o.created, actor, "redistribute", &detail)
            })
        })
    }

    /// The case (and reports) a warning was drafted from, if it was.
    pub fn warning_origin(&self, warning_id: &str) -> Result<Option<WarningOrigin>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {ORIGIN_COLUMNS} FROM incident_warnings WHERE warning_id = ?"),
                &[warning_id.into()],
            )?
            .map(|r| origin_from(&r)))
        })
    }

    /// The sanitized warnings drafted from a case.
    pub fn warning_origins(&self, incident_id: &str) -> Result<Vec<WarningOrigin>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {ORIGIN_COLUMNS} FROM incident_warnings WHERE incident_id = ? ORDER BY created, warning_id"),
                &[incident_id.into()],
            )?
            .iter()
            .map(|r| origin_from(r))
            .collect())
        })
    }

    /// Counts for statistics: cases (not merged away) by state, and reports by kind,
    /// each split by the exercise flag: `(key, exercise, count)`.
    /// Open real cases (not merged, not an exercise, not closed, false positive or
    /// duplicate) with their severity and each reporter organization's `sectors` JSON:
    /// one row per (case, distinct sector list), at most `limit` rows.
    pub fn open_cases_with_sectors(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT DISTINCT i.id, i.severity, o.sectors FROM incidents i \
                 JOIN incident_reports r ON r.incident_id = i.id \
                 JOIN organizations o ON o.id = r.reporter_org \
                 WHERE i.merged_into IS NULL AND i.exercise = 0 \
                 AND i.state NOT IN ('closed', 'false-positive', 'duplicate') LIMIT ?",
                &[(limit as i64).into()],
            )?
            .into_iter()
            .map(|r| (r[0].text(), r[1].opt_text(), r[2].text()))
            .collect())
        })
    }

    pub fn incident_counts(&self) -> Result<IncidentCounts, StoreError> {
        self.pool.with(|c| {
            let rows = |c: &mut Conn, sql: &str| -> Result<Vec<(String, bool, i64)>, StoreError> {
                Ok(c.query(sql, &[])?
                    .into_iter()
                    .map(|r| (r[0].text(), r[1].int() != 0, r[2].int()))
                    .collect())
            };
            Ok(IncidentCounts {
                cases_by_state: rows(c, "SELECT state, exercise, COUNT(*) FROM incidents WHERE merged_into IS NULL GROUP BY state, exercise ORDER BY state, exercise")?,
                reports_by_kind: rows(c, "SELECT kind, exercise, COUNT(*) FROM incident_reports GROUP BY kind, exercise ORDER BY kind, exercise")?,
            })
        })
    }
}

/// What [`Store::incident_counts`] answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncidentCounts {
    pub cases_by_state: Vec<(String, bool, i64)>,
    pub reports_by_kind: Vec<(String, bool, i64)>,
}
