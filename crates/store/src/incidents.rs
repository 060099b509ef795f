//! Incidents: members' reports (their STIX objects live in the incidents collection;
//! here is what is not shared STIX: consent, deadlines, attachments) and the
//! coordinator's cases (state, assignee, timeline, tasks, notes, links, merges), plus the
//! correlation index read under the access rule.
//!
//! The store decides no policy: which transitions are allowed, who may do what and
//! what a reader sees of a case are the hub's. It keeps every change and its timeline
//! entry in one transaction.

use std::collections::HashSet;

use serde_json::{json, Value};

use hinomi_access::Scope;
use hinomi_stix::Timestamp;

use crate::db::{Conn, Val};
use crate::objects::{add_objects_in, scope_sql_on};
use crate::{append_audit, NewObject, Outcome, Store, StoreError, INCIDENTS_COLLECTION};

/// How many visible postings per allowed context a value's correlation reads at most:
/// a value with `(common_after + 1) × this` visible postings is common whatever their
/// contexts.
const ROWS_PER_CONTEXT: usize = 8;

/// What the index rebuild asks of each stored object (collection, id, JSON): its values
/// and the context they count under.
pub type ValuesOf<'a> = dyn Fn(&str, &str, &str) -> (Vec<String>, Option<String>) + 'a;

/// The coordinator's case.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub title: String,
    pub state: String,
    pub severity: Option<String>,
    pub assignee: Option<String>,
    pub merged_into: Option<String>,
    pub exercise: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
}

const INCIDENT_COLUMNS: &str =
    "id, title, state, severity, assignee, merged_into, exercise, created, updated";

fn incident_from(r: &[Val]) -> IncidentRow {
    IncidentRow {
        id: r[0].text(),
        title: r[1].text(),
        state: r[2].text(),
        severity: r[3].opt_text(),
        assignee: r[4].opt_text(),
        merged_into: r[5].opt_text(),
        exercise: r[6].int() != 0,
        created: Timestamp(r[7].int()),
        updated: Timestamp(r[8].int()),
    }
}

/// One member's report: the id of its STIX incident object and what is kept beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub id: String,
    pub incident_id: String,
    pub reporter_org: String,
    /// `incident` or `ransom-payment` (which reporting deadline applies).
    pub kind: String,
    pub share_anonymized: bool,
    pub share_named: bool,
    /// `no`, `yes` or `ask`.
    pub law_enforcement: String,
    pub exercise: bool,
    pub discovered: Timestamp,
    /// The first report was due by then.
    pub report_due: Timestamp,
    /// The final report is due by then.
    pub final_due: Timestamp,
    /// When the reporter marked a supplement final.
    pub final_at: Option<Timestamp>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub supplements: i64,
    /// The ids of the report's STIX objects (its incident first), every supplement's.
    pub objects: Vec<String>,
}

const REPORT_COLUMNS: &str = "id, incident_id, reporter_org, kind, share_anonymized, share_named, law_enforcement, exercise, discovered, report_due, final_due, final_at, created, updated, supplements, objects";

fn report_from(r: &[Val]) -> ReportRow {
    ReportRow {
        id: r[0].text(),
        incident_id: r[1].text(),
        reporter_org: r[2].text(),
        kind: r[3].text(),
        share_anonymized: r[4].int() != 0,
        share_named: r[5].int() != 0,
        law_enforcement: r[6].text(),
        exercise: r[7].int() != 0,
        discovered: Timestamp(r[8].int()),
        report_due: Timestamp(r[9].int()),
        final_due: Timestamp(r[10].int()),
        final_at: r[11].opt_int().map(Timestamp),
        created: Timestamp(r[12].int()),
        updated: Timestamp(r[13].int()),
        supplements: r[14].int(),
        objects: serde_json::from_str(&r[15].text()).unwrap_or_default(),
    }
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    pub seq: i64,
    pub incident_id: String,
    pub at: Timestamp,
    pub actor_org: Option<String>,
    /// The credential (token id) that acted, when there was one.
    pub actor: Option<String>,
    pub event: String,
    pub detail: Value,
}

/// A task of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub incident_id: String,
    pub title: String,
    pub assignee: Option<String>,
    pub due: Option<Timestamp>,
    pub done: Option<Timestamp>,
    pub created: Timestamp,
}

/// A coordinator's note on a case.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRow {
    pub id: String,
    pub incident_id: String,
    pub author_org: String,
    pub author: Option<String>,
    pub at: Timestamp,
    pub body: String,
}

/// An attachment of a report, without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRow {
    pub id: String,
    pub report_id: String,
    pub name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub created: Timestamp,
}

/// An attachment to store: its row and its bytes, base64.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub row: AttachmentRow,
    pub base64: String,
}

/// Who changed something: the organization and, when there was one, the credential.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub org: &'a str,
    pub credential: Option<&'a str>,
}

/// A report to file or supplement, with everything written in its transaction.
#[derive(Debug, Clone)]
pub struct ReportWrite {
    pub report: ReportRow,
    /// A new case to open for it (a first report); None for a supplement.
    pub incident: Option<IncidentRow>,
    pub objects: Vec<NewObject>,
    pub attachments: Vec<NewAttachment>,
    /// The timeline entry's event and detail.
    pub event: String,
    pub detail: Value,
}

/// A change to a case's triage fields; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IncidentChange {
    pub state: Option<String>,
    pub severity: Option<Option<String>>,
    pub assignee: Option<Option<String>>,
    pub title: Option<String>,
}

/// What a page of cases is filtered by.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub states: Vec<String>,
    pub exercise: Option<bool>,
    /// Only cases with a report of this organization.
    pub reporter_org: Option<String>,
    /// Keyset cursor: (updated, id) of the last case of the previous page.
    pub before: Option<(i64, String)>,
    pub limit: usize,
}

/// How one observable value correlates for one reader.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub value: String,
    /// Other contexts (reports, or objects outside reports) the reader may see that hold
    /// the value, with their owner organization; at most `common_after + 1`.
    pub hits: Vec<(String, String)>,
    /// More than `common_after` contexts hold it.
    pub common: bool,
}

pub(crate) fn add_event(
    c: &mut Conn,
    incident_id: &str,
    at: Timestamp,
    actor: Option<Actor<'_>>,
    event: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO incident_events (incident_id, at, actor_org, actor, event, detail) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            incident_id.into(),
            at.micros().into(),
            actor.map(|a| a.org).into(),
            actor.and_then(|a| a.credential).into(),
            event.into(),
            serde_json::to_string(detail).unwrap_or_default().into(),
        ],
    )?;
    Ok(())
}

/// Marks a case changed. `updated` strictly increases with every change, even when the
/// clock does not move, so it serves as the version a stale change is refused by.
pub(crate) fn touch(c: &mut Conn, incident_id: &str, at: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE incidents SET updated = CASE WHEN updated >= ? THEN updated + 1 ELSE ? END WHERE id = ?",
        &[at.micros().into(), at.micros().into(), incident_id.into()],
    )?;
    Ok(())
}

fn incident_in(c: &mut Conn, id: &str) -> Result<IncidentRow, StoreError> {
    c.query_one(
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?"),
        &[id.into()],
    )?
    .map(|r| incident_from(&r))
    .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))
}

/// The first refusal that refuses a report. A cyber observable another organization
/// stored first is not one: its id is derived from its value, the report's
/// observed-data still refers to it and the report's postings index its value, and the
/// reporter is not told that someone else holds it.
fn refused(objects: &[NewObject], outcomes: &[Outcome]) -> Option<String> {
    objects
        .iter()
        .zip(outcomes)
        .enumerate()
        .find_map(|(i, (obj, o))| match o {
            Outcome::Refused(_)
                if obj.checked.kind == hinomi_stix::ObjectKind::Observable
                    && obj.checked.version.is_none() =>
            {
                None
            }
            Outcome::Refused(why) => Some(format!("objects[{i}]: {why}")),
            _ => None,
        })
}

fn insert_attachments(c: &mut Conn, list: &[NewAttachment]) -> Result<(), StoreError> {
    for a in list {
        let r = &a.row;
        c.execute(
            "INSERT INTO incident_attachments (id, report_id, name, media_type, size, sha256, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                (&r.id).into(),
                (&r.report_id).into(),
                (&r.name).into(),
                (&r.media_type).into(),
                r.size.into(),
                (&r.sha256).into(),
                r.created.micros().into(),
                (&a.base64).into(),
            ],
        )?;
    }
    Ok(())
}

impl Store {
    /// Files a first report (opening its case) or a supplement, with its STIX objects
    /// (owned by the reporter, in the incidents collection), its attachments and the
    /// timeline entry, in one transaction. Any refused object refuses the whole write.
    pub fn write_report(&self, w: ReportWrite, actor: Actor<'_>) -> Result<(), StoreError> {
        let added = w.objects.len() as i64;
        let at = w.report.updated;
        self.pool.with(|c| {
            c.write_tx(|c| {
                let outcomes =
                    add_objects_in(c, INCIDENTS_COLLECTION, &w.report.reporter_org, w.objects.clone())?;
                if let Some(why) = refused(&w.objects, &outcomes) {
                    return Err(StoreError::Invalid(why));
                }
                let r = &w.report;
                if let Some(i) = &w.incident {
                    c.execute(
                        &format!("INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                        &[
                            (&i.id).into(),
                            (&i.title).into(),
                            (&i.state).into(),
                            i.severity.as_deref().into(),
                            i.assignee.as_deref().into(),
                            i.merged_into.as_deref().into(),
                            i.exercise.into(),
                            i.created.micros().into(),
                            i.updated.micros().into(),
                        ],
                    )?;
                    c.execute(
                        &format!("INSERT INTO incident_reports ({REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                        &[
                            (&r.id).into(),
                            (&r.incident_id).into(),
                            (&r.reporter_org).into(),
                            (&r.kind).into(),
                            r.share_anonymized.into(),
                            r.share_named.into(),
                            (&r.law_enforcement).into(),
                            r.exercise.into(),
                            r.discovered.micros().into(),
                            r.report_due.micros().into(),
                            r.final_due.micros().into(),
                            r.final_at.map(|t| t.micros()).into(),
                            r.created.micros().into(),
                            r.updated.micros().into(),
                            r.supplements.into(),
                            serde_json::to_string(&r.objects).unwrap_or_default().into(),
                        ],
                    )?;
                } else {
                    let n = c.execute(
                        "UPDATE incident_reports SET updated = ?, supplements = supplements + 1, final_at = COALESCE(final_at, ?), objects = ? WHERE id = ? AND supplements = ?",
                        &[
                            at.micros().into(),
                            r.final_at.map(|t| t.micros()).into(),
                            serde_json::to_string(&r.objects).unwrap_or_default().into(),
                            (&r.id).into(),
                            (r.supplements - 1).into(),
                        ],
                    )?;
                    if n == 0 {
                        return Err(StoreError::Conflict(format!(
                            "report {} changed meanwhile; read it again",
                            r.id
                        )));
                    }
                }
                insert_attachments(c, &w.attachments)?;
                let case = current_case(c, &r.incident_id)?;
                add_event(c, &case, at, Some(actor), &w.event, &w.detail)?;
                touch(c, &case, at)?;
                append_audit(
                    c,
                    Some(actor.org),
                    &format!("incident.{}", w.event),
                    Some(&r.id),
                    &json!({"incident": case, "objects": added, "attachments": w.attachments.len()}),
                )
            })
        })
    }

    /// Changes a report's consent, with a timeline entry on its case.
    pub fn set_report_consent(
        &self,
        report_id: &str,
        share_anonymized: bool,
        share_named: bool,
        law_enforcement: &str,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<ReportRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE incident_reports SET share_anonymized = ?, share_named = ?, law_enforcement = ?, updated = ? WHERE id = ?",
                    &[share_anonymized.into(), share_named.into(), law_enforcement.into(), at.micros().into(), report_id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("report {report_id}")));
                }
                let r = report_in(c, report_id)?;
                if law_enforcement == "no" {
                    crate::casework::refuse_open_questions(c, report_id, at, actor)?;
                }
                let detail = json!({"report": report_id, "share_anonymized": share_anonymized, "share_named": share_named, "law_enforcement": law_enforcement});
                let case = current_case(c, &r.incident_id)?;
                add_event(c, &case, at, Some(actor), "consent", &detail)?;
                touch(c, &case, at)?;
                append_audit(c, Some(actor.org), "incident.consent", Some(report_id), &detail)?;
                Ok(r)
            })
        })
    }

    /// One case.
    pub fn incident(&self, id: &str) -> Result<Option<IncidentRow>, StoreError> {
        self.pool.with(|c| match incident_in(c, id) {
            Ok(i) => Ok(Some(i)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// A page of cases, most recently updated first.
    pub fn incidents(&self, q: &IncidentQuery) -> Result<Vec<IncidentRow>, StoreError> {
        let mut cond = vec!["1 = 1".to_string()];
        let mut params: Vec<Val> = Vec::new();
        if !q.states.is_empty() {
            cond.push(format!(
                "i.state IN ({})",
                vec!["?"; q.states.len()].join(", ")
            ));
            params.extend(q.states.iter().map(Val::from));
        }
        if let Some(e) = q.exercise {
            cond.push("i.exercise = ?".into());
            params.push(e.into());
        }
        if let Some(o) = &q.reporter_org {
            cond.push(
                "EXISTS (SELECT 1 FROM incident_reports r WHERE r.incident_id = i.id AND r.reporter_org = ?)"
                    .into(),
            );
            params.push(o.into());
        }
        if let Some((u, id)) = &q.before {
            cond.push("(i.updated < ? OR (i.updated = ? AND i.id < ?))".into());
            params.extend([(*u).into(), (*u).into(), id.into()]);
        }
        params.push((q.limit.clamp(1, 1000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM incidents i WHERE {} ORDER BY i.updated DESC, i.id DESC LIMIT ?",
                    INCIDENT_COLUMNS
                        .split(", ")
                        .map(|col| format!("i.{col}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cond.join(" AND ")
                ),
                &params,
            )?
            .iter()
            .map(|r| incident_from(r))
            .collect())
        })
    }

    /// The reports of a case and of every case merged into it.
    pub fn incident_reports(&self, incident_id: &str) -> Result<Vec<ReportRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {REPORT_COLUMNS} FROM incident_reports WHERE incident_id = ? ORDER BY created, id"),
                &[incident_id.into()],
            )?
            .iter()
            .map(|r| report_from(r))
            .collect())
        })
    }

    /// One report.
    pub fn report(&self, id: &str) -> Result<Option<ReportRow>, StoreError> {
        self.pool.with(|c| match report_in(c, id) {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// An organization's reports, newest first; `before` is the (created, id) cursor.
    pub fn reports_by(
        &self,
        org_id: &str,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let mut params: Vec<Val> = vec![org_id.into()];
        let mut cond = String::from("reporter_org = ?");
        if let Some((t, id)) = before {
            cond.push_str(" AND (created < ? OR (created = ? AND id < ?))");
            params.extend([t.into(), t.into(), id.into()]);
        }
        params.push((limit.clamp(1, 1000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {REPORT_COLUMNS} FROM incident_reports WHERE {cond} ORDER BY created DESC, id DESC LIMIT ?"),
                &params,
            )?
            .iter()
            .map(|r| report_from(r))
            .collect())
        })
    }

    /// How many real (not exercise) reports are past a deadline: filed late, or their
    /// final report not in by its due time.
    pub fn overdue_report_count(&self, now: Timestamp) -> Result<i64, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT COUNT(*) FROM incident_reports WHERE exercise = 0 AND ((final_at IS NULL AND final_due < ?) OR created > report_due)",
                &[now.micros().into()],
            )?
            .map_or(0, |r| r[0].int()))
        })
    }

    /// Reports whose final report is overdue at `now`, or whose first report came after
    /// its deadline; oldest deadline first, at most `limit`.
    pub fn overdue_reports(
        &self,
        now: Timestamp,
        reporter_org: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let mut params: Vec<Val> = vec![now.micros().into()];
        let mut cond =
            String::from("((final_at IS NULL AND final_due < ?) OR created > report_due)");
        if let Some(o) = reporter_org {
            cond.push_str(" AND reporter_org = ?");
            params.push(o.into());
        }
        params.push((limit.clamp(1, 1000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {REPORT_COLUMNS} FROM incident_reports WHERE {cond} ORDER BY report_due, id LIMIT ?"),
                &params,
            )?
            .iter()
            .map(|r| report_from(r))
            .collect())
        })
    }

    /// The timeline of a case and of the cases merged into it, in order.
    pub fn incident_events(&self, incident_id: &str) -> Result<Vec<IncidentEvent>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT seq, incident_id, at, actor_org, actor, event, detail FROM incident_events \
                 WHERE incident_id = ? OR incident_id IN (SELECT id FROM incidents WHERE merged_into = ?) ORDER BY seq",
                &[incident_id.into(), incident_id.into()],
            )?
            .into_iter()
            .map(|r| IncidentEvent {
                seq: r[0].int(),
                incident_id: r[1].text(),
                at: Timestamp(r[2].int()),
                actor_org: r[3].opt_text(),
                actor: r[4].opt_text(),
                event: r[5].text(),
                detail: serde_json::from_str(&r[6].text()).unwrap_or(Value::Null),
            })
            .collect())
        })
    }

    /// Changes a case's triage fields if it was last updated at `expected` (None: no
    /// check), with its timeline entry (event and detail). Answers the case as it is now.
    pub fn change_incident(
        &self,
        id: &str,
        expected: Option<Timestamp>,
        change: &IncidentChange,
        at: Timestamp,
        actor: Actor<'_>,
        (event, detail): (&str, &Value),
    ) -> Result<IncidentRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let cur = incident_in(c, id)?;
                if let Some(e) = expected {
                    if cur.updated != e {
                        return Err(StoreError::Conflict(format!(
                            "incident {id} changed meanwhile (updated {}); read it again",
                            cur.updated
                        )));
                    }
                }
                let state = change.state.clone().unwrap_or(cur.state.clone());
                let severity = change.severity.clone().unwrap_or(cur.severity.clone());
                let assignee = change.assignee.clone().unwrap_or(cur.assignee.clone());
                let title = change.title.clone().unwrap_or(cur.title.clone());
                let merged_into = if state == cur.state { cur.merged_into.clone() } else { None };
                c.execute(
                    "UPDATE incidents SET state = ?, severity = ?, assignee = ?, title = ?, merged_into = ? WHERE id = ?",
                    &[
                        (&state).into(),
                        severity.as_deref().into(),
                        assignee.as_deref().into(),
                        (&title).into(),
                        merged_into.as_deref().into(),
                        id.into(),
                    ],
                )?;
                touch(c, id, at)?;
                add_event(c, id, at, Some(actor), event, detail)?;
                append_audit(c, Some(actor.org), &format!("incident.{event}"), Some(id), detail)?;
                incident_in(c, id)
            })
        })
    }

    /// Merges cases into `into`: their reports, tasks, notes, referrals, recovery and
    /// sanitized warnings move to it (nothing is copied), each becomes `duplicate` with `merged_into`, and both timelines say so.
    pub fn merge_incidents(
        &self,
        into: &str,
        from: &[String],
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<IncidentRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let target = incident_in(c, into)?;
                if target.merged_into.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "incident {into} is itself merged into another; merge into that one"
                    )));
                }
                for f in from {
                    let src = incident_in(c, f)?;
                    if src.exercise != target.exercise {
                        return Err(StoreError::Conflict(format!(
                            "incident {f} and incident {into} are not both exercises or both real; an exercise is never merged with a real case"
                        )));
                    }
                    if src.merged_into.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "incident {f} is already merged"
                        )));
                    }
                    let n = c.execute(
                        "UPDATE incident_reports SET incident_id = ? WHERE incident_id = ?",
                        &[into.into(), f.into()],
                    )?;
                    c.execute(
                        "UPDATE incident_tasks SET incident_id = ? WHERE incident_id = ?",
                        &[into.into(), f.into()],
                    )?;
                    c.execute(
                        "UPDATE incident_notes SET incident_id = ? WHERE incident_id = ?",
                        &[into.into(), f.into()],
                    )?;
                    crate::casework::move_case(c, f, into)?;
                    // Cases merged into the source earlier follow it.
                    c.execute(
                        "UPDATE incidents SET merged_into = ? WHERE merged_into = ?",
                        &[into.into(), f.into()],
                    )?;
                    c.execute(
                        "UPDATE incidents SET state = 'duplicate', merged_into = ? WHERE id = ?",
                        &[into.into(), f.into()],
                    )?;
                    touch(c, f, at)?;
                    add_event(
                        c,
                        f,
                        at,
                        Some(actor),
                        "merged",
                        &json!({"into": into, "previous_state": src.state}),
                    )?;
                    add_event(
                        c,
                        into,
                        at,
                        Some(actor),
                        "merge",
                        &json!({"from": f, "reports": n}),
                    )?;
                }
                touch(c, into, at)?;
                append_audit(
                    c,
                    Some(actor.org),
                    "incident.merge",
                    Some(into),
                    &json!({"from": from}),
                )?;
                incident_in(c, into)
            })
        })
    }

    /// The case a report's incident id leads to now (following merges).
    pub fn current_incident(&self, incident_id: &str) -> Result<String, StoreError> {
        self.pool.with(|c| current_case(c, incident_id))
    }

    /// Links two cases as related (both directions; linking twice is a no-op).
    pub fn link_incidents(
        &self,
        a: &str,
        b: &str,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                incident_in(c, a)?;
                incident_in(c, b)?;
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                let n = c.execute(
                    "INSERT INTO incident_links (a, b, created) VALUES (?, ?, ?) ON CONFLICT (a, b) DO NOTHING",
                    &[x.into(), y.into(), at.micros().into()],
                )?;
                if n > 0 {
                    add_event(c, a, at, Some(actor), "link", &json!({"incident": b}))?;
                    add_event(c, b, at, Some(actor), "link", &json!({"incident": a}))?;
                    touch(c, a, at)?;
                    touch(c, b, at)?;
                    append_audit(c, Some(actor.org), "incident.link", Some(a), &json!({"incident": b}))?;
                }
                Ok(())
            })
        })
    }

    /// The cases linked to one.
    pub fn incident_links(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT b FROM incident_links WHERE a = ? UNION SELECT a FROM incident_links WHERE b = ? ORDER BY 1",
                &[id.into(), id.into()],
            )?
            .iter()
            .map(|r| r[0].text())
            .collect())
        })
    }

    /// Adds a task to a case.
    pub fn add_incident_task(&self, t: &TaskRow, actor: Actor<'_>) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                incident_in(c, &t.incident_id)?;
                c.execute(
                    "INSERT INTO incident_tasks (id, incident_id, title, assignee, due, done, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &[
                        (&t.id).into(),
                        (&t.incident_id).into(),
                        (&t.title).into(),
                        t.assignee.as_deref().into(),
                        t.due.map(|d| d.micros()).into(),
                        t.done.map(|d| d.micros()).into(),
                        t.created.micros().into(),
                    ],
                )?;
                let detail = json!({"task": t.id, "title": t.title, "assignee": t.assignee, "due": t.due.map(|d| d.to_string())});
                add_event(c, &t.incident_id, t.created, Some(actor), "task", &detail)?;
                touch(c, &t.incident_id, t.created)?;
                append_audit(c, Some(actor.org), "incident.task", Some(&t.incident_id), &detail)
            })
        })
    }

    /// Marks a task done (or not done again).
    pub fn set_incident_task_done(
        &self,
        task_id: &str,
        done: Option<Timestamp>,
        at: Timestamp,
        actor: Actor<'_>,
    ) -> Result<TaskRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE incident_tasks SET done = ? WHERE id = ?",
                    &[done.map(|d| d.micros()).into(), task_id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("task {task_id}")));
                }
                let t = tasks_where(c, "id = ?", task_id)?
                    .pop()
                    .ok_or_else(|| StoreError::NotFound(format!("task {task_id}")))?;
                let detail = json!({"task": task_id, "done": done.is_some()});
                add_event(c, &t.incident_id, at, Some(actor), "task.done", &detail)?;
                touch(c, &t.incident_id, at)?;
                append_audit(
                    c,
                    Some(actor.org),
                    "incident.task.done",
                    Some(&t.incident_id),
                    &detail,
                )?;
                Ok(t)
            })
        })
    }

    /// The tasks of a case, by due date.
    pub fn incident_tasks(&self, incident_id: &str) -> Result<Vec<TaskRow>, StoreError> {
        self.pool
            .with(|c| tasks_where(c, "incident_id = ?", incident_id))
    }

    /// Adds a note to a case.
    pub fn add_incident_note(&self, n: &NoteRow) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                incident_in(c, &n.incident_id)?;
                c.execute(
                    "INSERT INTO incident_notes (id, incident_id, author_org, author, at, body) VALUES (?, ?, ?, ?, ?, ?)",
                    &[(&n.id).into(), (&n.incident_id).into(), (&n.author_org).into(), n.author.as_deref().into(), n.at.micros().into(), (&n.body).into()],
                )?;
                let actor = Actor { org: &n.author_org, credential: n.author.as_deref() };
                add_event(c, &n.incident_id, n.at, Some(actor), "note", &json!({"note": n.id}))?;
                touch(c, &n.incident_id, n.at)?;
                append_audit(c, Some(&n.author_org), "incident.note", Some(&n.incident_id), &json!({"note": n.id}))
            })
        })
    }

    /// The notes of a case, oldest first.
    pub fn incident_notes(&self, incident_id: &str) -> Result<Vec<NoteRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT id, incident_id, author_org, author, at, body FROM incident_notes WHERE incident_id = ? ORDER BY at, id",
                &[incident_id.into()],
            )?
            .into_iter()
            .map(|r| NoteRow {
                id: r[0].text(),
                incident_id: r[1].text(),
                author_org: r[2].text(),
                author: r[3].opt_text(),
                at: Timestamp(r[4].int()),
                body: r[5].text(),
            })
            .collect())
        })
    }

    /// The attachments of a report.
    pub fn report_attachments(&self, report_id: &str) -> Result<Vec<AttachmentRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT id, report_id, name, media_type, size, sha256, created FROM incident_attachments WHERE report_id = ? ORDER BY created, id",
                &[report_id.into()],
            )?
            .iter()
            .map(|r| attachment_from(r))
            .collect())
        })
    }

    /// One attachment with its bytes (base64).
    pub fn attachment(&self, id: &str) -> Result<Option<(AttachmentRow, String)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT id, report_id, name, media_type, size, sha256, created, data FROM incident_attachments WHERE id = ?",
                &[id.into()],
            )?
            .map(|r| (attachment_from(&r), r[7].text())))
        })
    }

    /// How each of `values` correlates for a reader: the other contexts holding it that
    /// the reader may see (latest versions, in `collections`, under `scope` in SQL), so a
    /// count never includes what the reader may not see. `own` contexts are not counted.
    /// A value with more than `common_after` such contexts is `common` and its hits are
    /// cut there; excluded values are left out. Each value's cost is bounded: at most
    /// `(common_after + 1) × 8` postings are read for it, and a value with that many
    /// visible postings is common.
    pub fn correlate(
        &self,
        values: &[String],
        scope: &Scope,
        collections: &[String],
        own: &[String],
        common_after: usize,
    ) -> Result<Vec<Correlation>, StoreError> {
        if values.is_empty() {
            return Ok(vec![]);
        }
        if collections.is_empty() {
            return Ok(values
                .iter()
                .map(|v| Correlation {
                    value: v.clone(),
                    hits: vec![],
                    common: false,
                })
                .collect());
        }
        self.pool.with(|c| {
            let excluded: HashSet<String> = {
                let mut params = Vec::new();
                let cond = crate::objects::in_list("value", values, &mut params);
                c.query(&format!("SELECT value FROM correlation_exclusions WHERE {cond}"), &params)?
                    .iter()
                    .map(|r| r[0].text())
                    .collect()
            };
            // Few round trips (per 500 values on PostgreSQL, 50 on SQLite), each value's
            // postings bounded by its own LIMIT, so a value held by millions of objects
            // costs what a rare one does.
            let cap = (common_after + 1) * ROWS_PER_CONTEXT;
            let wanted: Vec<&String> = values.iter().filter(|v| !excluded.contains(*v)).collect();
            let mut rows: std::collections::HashMap<&str, Vec<(String, String)>> =
                std::collections::HashMap::new();
            let postgres = c.dialect() == crate::Dialect::Postgres;
            for chunk in wanted.chunks(if postgres { 500 } else { 50 }) {
                let mut params: Vec<Val> = Vec::new();
                // The conditions on a posting `p` and its object `o` other than its value.
                let filter = |params: &mut Vec<Val>| {
                    let coll = crate::objects::in_list("o.collection_id", collections, params);
                    let mut cond = format!("o.is_latest = 1 AND {coll}");
                    if !own.is_empty() {
                        cond.push_str(" AND NOT ");
                        cond.push_str(&crate::objects::in_list("p.context", own, params));
                    }
                    let scope_cond = scope_sql_on("o", "object_audience", scope, params);
                    params.push((cap as i64).into());
                    format!("{cond} AND {scope_cond}")
                };
                let sql = if postgres {
                    // One plan for every value: a lateral subquery run per value.
                    let mut list = Vec::with_capacity(chunk.len());
                    for (i, v) in chunk.iter().enumerate() {
                        params.push((i as i64).into());
                        params.push((*v).into());
                        list.push("(CAST(? AS BIGINT), CAST(? AS TEXT))");
                    }
                    let cond = filter(&mut params);
                    format!(
                        "SELECT v.n, x.context, x.owner_org FROM (VALUES {}) AS v(n, value) CROSS JOIN LATERAL \
                         (SELECT p.context, o.owner_org FROM observable_postings p JOIN objects o ON o.pk = p.pk \
                          WHERE p.value = v.value AND {cond} LIMIT ?) x",
                        list.join(", ")
                    )
                } else {
                    let mut branches = Vec::with_capacity(chunk.len());
                    for (i, v) in chunk.iter().enumerate() {
                        params.push((i as i64).into());
                        params.push((*v).into());
                        let cond = filter(&mut params);
                        branches.push(format!(
                            "SELECT * FROM (SELECT CAST(? AS BIGINT) AS n, p.context, o.owner_org FROM observable_postings p JOIN objects o ON o.pk = p.pk \
                             WHERE p.value = ? AND {cond} LIMIT ?) b{i}"
                        ));
                    }
                    branches.join(" UNION ALL ")
                };
                for r in c.query(&sql, &params)? {
                    if let Some(v) = chunk.get(r[0].int() as usize) {
                        rows.entry(v.as_str()).or_default().push((r[1].text(), r[2].text()));
                    }
                }
            }
            let mut out = Vec::with_capacity(wanted.len());
            for v in wanted {
                let found = rows.remove(v.as_str()).unwrap_or_default();
                let full = found.len() >= cap;
                let mut hits: Vec<(String, String)> = found;
                hits.sort();
                hits.dedup();
                let mut contexts: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
                contexts.dedup();
                let common = full || contexts.len() > common_after;
                if contexts.len() > common_after + 1 {
                    let keep: HashSet<String> = contexts[..=common_after].iter().map(|c| c.to_string()).collect();
                    hits.retain(|h| keep.contains(&h.0));
                }
                out.push(Correlation { value: v.clone(), hits, common });
            }
            Ok(out)
        })
    }

    /// The values indexed for one context (a report), at most `limit`.
    pub fn context_values(&self, context: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT DISTINCT value FROM observable_postings WHERE context = ? ORDER BY value LIMIT ?",
                &[context.into(), (limit as i64).into()],
            )?
            .iter()
            .map(|r| r[0].text())
            .collect())
        })
    }

    /// For the correlation index only (never shown to a caller): the latest JSON of
    /// each of `ids`, whoever owns it.
    pub fn objects_for_index(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(400) {
            let mut params = Vec::new();
            let cond = crate::objects::in_list("stix_id", chunk, &mut params);
            out.extend(self.pool.with(|c| {
                Ok(c.query(
                    &format!("SELECT json FROM objects WHERE is_latest = 1 AND {cond}"),
                    &params,
                )?
                .iter()
                .map(|r| r[0].text())
                .collect::<Vec<_>>())
            })?);
        }
        Ok(out)
    }

    /// Adds or removes a value on the correlation exclusion list.
    pub fn set_correlation_exclusion(
        &self,
        value: &str,
        excluded: bool,
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                if excluded {
                    c.execute(
                        "INSERT INTO correlation_exclusions (value, created) VALUES (?, ?) ON CONFLICT (value) DO NOTHING",
                        &[value.into(), Timestamp::now().micros().into()],
                    )?;
                } else {
                    c.execute("DELETE FROM correlation_exclusions WHERE value = ?", &[value.into()])?;
                }
                append_audit(c, Some(actor.org), "correlation.exclusion", Some(value), &json!({"excluded": excluded}))
            })
        })
    }

    /// The correlation exclusion list.
    pub fn correlation_exclusions(&self) -> Result<Vec<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT value FROM correlation_exclusions ORDER BY value",
                &[],
            )?
            .iter()
            .map(|r| r[0].text())
            .collect())
        })
    }

    /// Rebuilds the correlation index from scratch: `values_of` gives each stored
    /// object's values and context from its collection, id and JSON. Batches of `batch` objects, each its
    /// own transaction; `progress` hears the count done. Answers (objects, postings).
    pub fn rebuild_postings(
        &self,
        batch: usize,
        values_of: &ValuesOf<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(u64, u64), StoreError> {
        // The context index is random-ordered: built once at the end (sorted, fast)
        // rather than kept up row by row; the value index gets each batch in value order.
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.batch("DELETE FROM observable_postings")?;
                c.batch("DROP INDEX IF EXISTS observable_postings_context")?;
                append_audit(c, None, "correlation.rebuild", None, &json!({}))
            })
        })?;
        // One connection for the whole fill, so its page cache (bigger on SQLite while the
        // value index grows) keeps the index's pages from batch to batch.
        self.pool.with(|c| {
            let sqlite = c.dialect() == crate::Dialect::Sqlite;
            if sqlite {
                c.batch("PRAGMA cache_size = -262144")?;
            }
            let result = fill_postings(c, batch, values_of, progress);
            if sqlite {
                c.batch(&format!(
                    "PRAGMA cache_size = -{}",
                    crate::db::SQLITE_CACHE_KIB
                ))?;
            }
            c.batch("CREATE INDEX IF NOT EXISTS observable_postings_context ON observable_postings (context)")?;
            result
        })
    }
}

/// The rebuild's fill: every latest object version, `batch` at a time, each batch's
/// postings inserted in value order in its own transaction.
fn fill_postings(
    c: &mut Conn,
    batch: usize,
    values_of: &ValuesOf<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), StoreError> {
    let mut after = 0i64;
    let (mut objects, mut postings) = (0u64, 0u64);
    loop {
        let rows = c.query(
            "SELECT pk, stix_id, json, collection_id FROM objects WHERE pk > ? AND is_latest = 1 ORDER BY pk LIMIT ?",
            &[after.into(), (batch.max(1) as i64).into()],
        )?;
        let Some(last) = rows.last() else {
            return Ok((objects, postings));
        };
        after = last[0].int();
        let mut found: Vec<(String, i64, String)> = Vec::new();
        for r in &rows {
            let (values, context) = values_of(&r[3].text(), &r[1].text(), &r[2].text());
            let context = context.unwrap_or_else(|| r[1].text());
            let mut seen = HashSet::new();
            for v in values {
                if seen.insert(v.clone()) {
                    found.push((v, r[0].int(), context.clone()));
                }
            }
        }
        found.sort_unstable();
        let mut params: Vec<Val> = Vec::with_capacity(found.len() * 3);
        for (v, pk, context) in found {
            params.extend([v.into(), pk.into(), context.into()]);
        }
        objects += rows.len() as u64;
        postings += (params.len() / 3) as u64;
        c.write_tx(|c| crate::objects::insert_postings(c, &params))?;
        progress(objects);
    }
}

fn attachment_from(r: &[Val]) -> AttachmentRow {
    AttachmentRow {
        id: r[0].text(),
        report_id: r[1].text(),
        name: r[2].text(),
        media_type: r[3].text(),
        size: r[4].int(),
        sha256: r[5].text(),
        created: Timestamp(r[6].int()),
    }
}

fn report_in(c: &mut Conn, id: &str) -> Result<ReportRow, StoreError> {
    c.query_one(
        &format!("SELECT {REPORT_COLUMNS} FROM incident_reports WHERE id = ?"),
        &[id.into()],
    )?
    .map(|r| report_from(&r))
    .ok_or_else(|| StoreError::NotFound(format!("report {id}")))
}

/// Follows `merged_into` (merges keep it one step deep, so this is one lookup).
fn current_case(c: &mut Conn, incident_id: &str) -> Result<String, StoreError> {
    Ok(incident_in(c, incident_id)?
        .merged_into
        .unwrap_or_else(|| incident_id.to_string()))
}

fn tasks_where(c: &mut Conn, cond: &str, v: &str) -> Result<Vec<TaskRow>, StoreError> {
    Ok(c.query(
        &format!("SELECT id, incident_id, title, assignee, due, done, created FROM incident_tasks WHERE {cond} ORDER BY due IS NULL, due, created, id"),
        &[v.into()],
    )?
    .into_iter()
    .map(|r| TaskRow {
        id: r[0].text(),
        incident_id: r[1].text(),
        title: r[2].text(),
        assignee: r[3].opt_text(),
        due: r[4].opt_int().map(Timestamp),
        done: r[5].opt_int().map(Timestamp),
        created: Timestamp(r[6].int()),
    })
    .collect())
}
