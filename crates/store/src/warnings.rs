//! Warnings and what follows them: versions, recipients, status reports
//! (acknowledgement and remediation), escalations; per-organization subscriptions
//! (settings, webhooks, e-mail contacts); the durable delivery outbox; and the
//! Server-Sent Events feed.
//!
//! The store does not decide who receives a warning: the hub computes a
//! [`Publication`] (recipients under the access rule and the subscription filters, the
//! deliveries, the feed events) and the store writes it in one transaction, together
//! with the STIX report version and the audit entry, so a warning is never published
//! without its outbox or the other way round.
//!
//! Every time here is a parameter (`now`, microseconds): the hub's clock is injectable.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::db::{Conn, Row, Val};
use crate::objects::{insert_objects, notify_indicators, NewObject};
use crate::{append_audit, hex, Store, StoreError, Timestamp, Tlp};

/// An organization's delivery preferences and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    pub org_id: String,
    /// `en` or `ja`: the language of e-mails.
    pub language: String,
    /// Webhooks and e-mails carry warnings of at least this severity.
    pub min_severity: String,
    /// When not empty: only warnings concerning one of these sectors (or none named).
    pub sectors: Vec<String>,
    /// When not empty: only warnings with one of these STIX report types.
    pub report_types: Vec<String>,
}

impl OrgSettings {
    /// The settings of an organization that never set any.
    pub fn default_for(org_id: &str) -> OrgSettings {
        OrgSettings {
            org_id: org_id.to_string(),
            language: "en".into(),
            min_severity: "informational".into(),
            sectors: vec![],
            report_types: vec![],
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "organization_id": self.org_id,
            "language": self.language,
            "min_severity": self.min_severity,
            "sectors": self.sectors,
            "report_types": self.report_types,
        })
    }
}

/// A webhook endpoint. The secret is stored sealed (encrypted by the hub's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub secret_sealed: String,
    pub created: Timestamp,
}

impl Webhook {
    /// The listing form: never the secret.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "organization_id": self.org_id, "url": self.url, "created": self.created.to_string()})
    }
}

/// An e-mail contact of an organization: `primary` receives warnings, `escalation`
/// receives escalations of overdue acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    /// Overrides the organization's language for this contact.
    pub language: Option<String>,
    pub created: Timestamp,
}

impl Contact {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "organization_id": self.org_id, "email": self.email, "role": self.role,
               "language": self.language, "created": self.created.to_string()})
    }
}

/// A warning as stored: the hub's fields as columns, the document as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningRow {
    pub id: String,
    pub owner_org: String,
    /// `draft`, `published` or `withdrawn`.
    pub state: String,
    /// The number of the last published version (0 for a draft never published).
    pub version: i64,
    pub severity: String,
    pub tlp: Tlp,
    pub exercise: bool,
    pub ack_required: bool,
    /// Microseconds; acknowledgements after it are overdue.
    pub ack_due: Option<i64>,
    pub created: i64,
    pub updated: i64,
    /// The warning document (title, summary, audience…), as the API shows it.
    pub body: Value,
}

/// One published version of a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningVersion {
    pub version: i64,
    pub at: i64,
    /// `published`, `updated` or `withdrawn`.
    pub event: String,
    pub changes: Option<String>,
    pub body: Value,
}

/// One recipient organization of a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub org_id: String,
    /// The first version it received.
    pub since_version: i64,
    /// What only this recipient sees (for example its affected assets).
    pub detail: Option<Value>,
}

/// One delivery to add to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub org_id: String,
    /// `webhook` or `email`.
    pub channel: String,
    /// The webhook id or the e-mail address.
    pub target: String,
    /// `published`, `updated`, `withdrawn`, `escalation` or `alert`.
    pub event: String,
}

/// One Server-Sent Events feed entry to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub org_id: String,
    pub event: String,
    pub warning_id: Option<String>,
    pub data: Value,
}

/// A state change of a warning with everything it sets off, written at once.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The row after the change; `previous_version` guards against two concurrent
    /// publications of the same warning.
    pub warning: WarningRow,
    pub previous_version: i64,
    /// `published`, `updated` or `withdrawn`.
    pub event: String,
    /// What changed (for `updated`), shown to recipients.
    pub changes: Option<String>,
    /// STIX objects of this version (report, course of action, language content…).
    pub collection_id: String,
    pub objects: Vec<NewObject>,
    /// Recipients added by this version (existing ones are kept).
    pub recipients: Vec<Recipient>,
    pub deliveries: Vec<NewDelivery>,
    pub events: Vec<NewEvent>,
    pub actor_org: String,
    pub now: i64,
}

/// An outbox entry claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub seq: i64,
    /// The stable idempotency id (`webhook-id`, e-mail Message-ID).
    pub id: String,
    pub warning_id: String,
    pub version: i64,
    pub org_id: String,
    pub channel: String,
    pub target: String,
    pub event: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: Option<String>,
    pub created: i64,
    pub delivered_at: Option<i64>,
}

impl DeliveryRow {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "warning_id": self.warning_id, "version": self.version,
            "organization_id": self.org_id, "channel": self.channel, "target": self.target,
            "event": self.event, "state": self.state, "attempts": self.attempts,
            "next_attempt": Timestamp(self.next_attempt).to_string(),
            "last_error": self.last_error, "created": Timestamp(self.created).to_string(),
            "delivered_at": self.delivered_at.map(|t| Timestamp(t).to_string()),
        })
    }
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at `next_attempt`.
    Retry {
        next_attempt: i64,
        error: String,
    },
    /// Failed for good (permanent error or attempts exhausted): a dead letter.
    Dead {
        error: String,
    },
}

/// One status report of a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub seq: i64,
    pub warning_id: String,
    pub org_id: String,
    pub status: String,
    pub note: Option<String>,
    /// `api` or `email-link`.
    pub via: String,
    pub at: i64,
}

impl StatusReport {
    pub fn to_json(&self) -> Value {
        json!({"warning_id": self.warning_id, "organization_id": self.org_id, "status": self.status,
               "note": self.note, "via": self.via, "at": Timestamp(self.at).to_string()})
    }
}

/// A Server-Sent Events feed entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub seq: i64,
    pub org_id: String,
    pub at: i64,
    pub event: String,
    pub warning_id: Option<String>,
    pub data: Value,
}

/// Per recipient of a warning: delivered, latest status, escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    pub org_id: String,
    pub since_version: i64,
    /// At least one delivery of the current version reached it.
    pub delivered: bool,
    pub pending: i64,
    pub dead: i64,
    pub status: Option<String>,
    pub status_at: Option<i64>,
    pub escalated_at: Option<i64>,
}

/// The stable idempotency id of one delivery: the same (warning, version, event,
/// organization, channel, target) always gets the same id, so enqueueing twice is a
/// no-op and receivers can deduplicate retries.
pub fn delivery_id(warning_id: &str, version: i64, d: &NewDelivery) -> String {
    let mut h = Sha256::new();
    for part in [
        warning_id,
        &version.to_string(),
        &d.event,
        &d.org_id,
        &d.channel,
        &d.target,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("msg_{}", &hex(&h.finalize())[..32])
}

const WARNING_COLUMNS: &str = "id, owner_org, state, version, severity, tlp, exercise, ack_required, ack_due, created, updated, body";
const DELIVERY_COLUMNS: &str = "seq, id, warning_id, version, org_id, channel, target, event, state, attempts, next_attempt, last_error, created, delivered_at";

fn warning_from_row(mut r: Row) -> WarningRow {
    WarningRow {
        id: r[0].text(),
        owner_org: r[1].text(),
        state: r[2].text(),
        version: r[3].int(),
        severity: r[4].text(),
        tlp: Tlp::from_i64(r[5].int()).unwrap_or(Tlp::Red),
        exercise: r[6].int() != 0,
        ack_required: r[7].int() != 0,
        ack_due: r[8].opt_int(),
        created: r[9].int(),
        updated: r[10].int(),
        body: serde_json::from_str(&r[11].take_text()).unwrap_or(Value::Null),
    }
}

fn delivery_from_row(r: &Row) -> DeliveryRow {
    DeliveryRow {
        seq: r[0].int(),
        id: r[1].text(),
        warning_id: r[2].text(),
        version: r[3].int(),
        org_id: r[4].text(),
        channel: r[5].text(),
        target: r[6].text(),
        event: r[7].text(),
        state: r[8].text(),
        attempts: r[9].int(),
        next_attempt: r[10].int(),
        last_error: r[11].opt_text(),
        created: r[12].int(),
        delivered_at: r[13].opt_int(),
    }
}

fn strings(v: &str) -> Vec<String> {
    serde_json::from_str(v).unwrap_or_default()
}

fn warning_params(w: &WarningRow) -> Vec<Val> {
    vec![
        w.id.as_str().into(),
        w.owner_org.as_str().into(),
        w.state.as_str().into(),
        w.version.into(),
        w.severity.as_str().into(),
        w.tlp.as_i64().into(),
        w.exercise.into(),
        w.ack_required.into(),
        w.ack_due.into(),
        w.created.into(),
        w.updated.into(),
        serde_json::to_string(&w.body).unwrap_or_default().into(),
    ]
}

/// Inserts `rows` of `width` values each with multi-row statements.
fn insert_many(
    c: &mut Conn,
    head: &str,
    tail: &str,
    width: usize,
    rows: Vec<Vec<Val>>,
) -> Result<(), StoreError> {
    let one = format!("({})", vec!["?"; width].join(", "));
    for chunk in rows.chunks(100) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            vec![one.as_str(); chunk.len()].join(", ")
        );
        let params: Vec<Val> = chunk.iter().flatten().cloned().collect();
        c.execute(&sql, &params)?;
    }
    Ok(())
}

fn insert_deliveries(
    c: &mut Conn,
    warning_id: &str,
    version: i64,
    deliveries: &[NewDelivery],
    now: i64,
) -> Result<(), StoreError> {
    let rows = deliveries
        .iter()
        .map(|d| {
            vec![
                delivery_id(warning_id, version, d).into(),
                warning_id.into(),
                version.into(),
                d.org_id.as_str().into(),
                d.channel.as_str().into(),
                d.target.as_str().into(),
                d.event.as_str().into(),
                "pending".into(),
                0i64.into(),
                now.into(),
                0i64.into(),
                now.into(),
            ]
        })
        .collect();
    insert_many(
        c,
        "INSERT INTO deliveries (id, warning_id, version, org_id, channel, target, event, state, attempts, next_attempt, lease_until, created)",
        "ON CONFLICT (id) DO NOTHING",
        12,
        rows,
    )
}

fn insert_events(c: &mut Conn, events: &[NewEvent], now: i64) -> Result<(), StoreError> {
    let rows = events
        .iter()
        .map(|e| {
            vec![
                e.org_id.as_str().into(),
                now.into(),
                e.event.as_str().into(),
                e.warning_id.as_deref().into(),
                serde_json::to_string(&e.data).unwrap_or_default().into(),
            ]
        })
        .collect();
    insert_many(
        c,
        "INSERT INTO stream_events (org_id, at, event, warning_id, data)",
        "",
        5,
        rows,
    )
}

fn coordinator_id(c: &mut Conn) -> Result<Option<String>, StoreError> {
    Ok(c.query_one(
        "SELECT id FROM organizations WHERE kind = 'coordinator'",
        &[],
    )?
    .map(|r| r[0].text()))
}

impl Store {
    // ---- subscriptions ----

    /// An organization's settings (the defaults when it never set any).
    pub fn org_settings(&self, org_id: &str) -> Result<OrgSettings, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT language, min_severity, sectors, report_types FROM org_settings WHERE org_id = ?",
                &[org_id.into()],
            )?
            .map(|r| OrgSettings {
                org_id: org_id.to_string(),
                language: r[0].text(),
                min_severity: r[1].text(),
                sectors: strings(&r[2].text()),
                report_types: strings(&r[3].text()),
            })
            .unwrap_or_else(|| OrgSettings::default_for(org_id)))
        })
    }

    /// The settings of every organization that set any.
    pub fn all_org_settings(&self) -> Result<Vec<OrgSettings>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT org_id, language, min_severity, sectors, report_types FROM org_settings",
                &[],
            )?
            .into_iter()
            .map(|r| OrgSettings {
                org_id: r[0].text(),
                language: r[1].text(),
                min_severity: r[2].text(),
                sectors: strings(&r[3].text()),
                report_types: strings(&r[4].text()),
            })
            .collect())
        })
    }

    /// Replaces an organization's settings.
    pub fn save_org_settings(&self, s: &OrgSettings, actor: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO org_settings (org_id, language, min_severity, sectors, report_types, updated) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (org_id) DO UPDATE SET language = excluded.language, min_severity = excluded.min_severity, sectors = excluded.sectors, report_types = excluded.report_types, updated = excluded.updated",
                    &[
                        s.org_id.as_str().into(),
                        s.language.as_str().into(),
                        s.min_severity.as_str().into(),
                        json!(s.sectors).to_string().into(),
                        json!(s.report_types).to_string().into(),
                        Timestamp::now().micros().into(),
                    ],
                )?;
                append_audit(c, Some(actor), "subscription.settings", Some(&s.org_id), &s.to_json())
            })
        })
    }

    /// Adds a webhook endpoint (its secret already sealed by the caller).
    pub fn add_webhook(&self, w: &Webhook, actor: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO webhooks (id, org_id, url, secret_sealed, created) VALUES (?, ?, ?, ?, ?)",
                    &[w.id.as_str().into(), w.org_id.as_str().into(), w.url.as_str().into(), w.secret_sealed.as_str().into(), w.created.micros().into()],
                )?;
                append_audit(c, Some(actor), "subscription.webhook.add", Some(&w.org_id), &json!({"id": w.id, "url": w.url}))
            })
        })
    }

    /// The active webhooks of an organization (`None`: of every organization).
    pub fn webhooks(&self, org_id: Option<&str>) -> Result<Vec<Webhook>, StoreError> {
        let rows = self.active_rows(
            "webhooks",
            "id, org_id, url, secret_sealed, created",
            org_id,
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Webhook {
                id: r[0].text(),
                org_id: r[1].text(),
                url: r[2].text(),
                secret_sealed: r[3].text(),
                created: Timestamp(r[4].int()),
            })
            .collect())
    }

    /// Rows of a subscription table (`webhooks`, `contacts`) not disabled, of one
    /// organization or all, oldest first.
    fn active_rows(
        &self,
        table: &str,
        columns: &str,
        org_id: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        self.pool.with(|c| {
            let mut sql = format!("SELECT {columns} FROM {table} WHERE disabled IS NULL");
            let mut params: Vec<Val> = vec![];
            if let Some(o) = org_id {
                sql.push_str(" AND org_id = ?");
                params.push(o.into());
            }
            sql.push_str(" ORDER BY created, id");
            c.query(&sql, &params)
        })
    }

    /// Disables a row of a subscription table owned by `org_id`, audited; false when it
    /// has none of that id.
    fn disable_row(
        &self,
        table: &str,
        what: &str,
        org_id: &str,
        id: &str,
        actor: &str,
    ) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    &format!("UPDATE {table} SET disabled = ? WHERE id = ? AND org_id = ? AND disabled IS NULL"),
                    &[Timestamp::now().micros().into(), id.into(), org_id.into()],
                )?;
                if n > 0 {
                    append_audit(c, Some(actor), &format!("subscription.{what}.remove"), Some(org_id), &json!({"id": id}))?;
                }
                Ok(n > 0)
            })
        })
    }

    /// One webhook by id, also a disabled one (the outbox may still hold its entries).
    pub fn webhook(&self, id: &str) -> Result<Option<(Webhook, bool)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT id, org_id, url, secret_sealed, created, disabled FROM webhooks WHERE id = ?",
                &[id.into()],
            )?
            .map(|r| {
                (
                    Webhook {
                        id: r[0].text(),
                        org_id: r[1].text(),
                        url: r[2].text(),
                        secret_sealed: r[3].text(),
                        created: Timestamp(r[4].int()),
                    },
                    r[5].opt_int().is_some(),
                )
            }))
        })
    }

    /// Disables a webhook of `org_id`; false when it has none of that id.
    pub fn disable_webhook(&self, org_id: &str, id: &str, actor: &str) -> Result<bool, StoreError> {
        self.disable_row("webhooks", "webhook", org_id, id, actor)
    }

    /// Adds an e-mail contact.
    pub fn add_contact(&self, ct: &Contact, actor: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO contacts (id, org_id, email, role, language, created) VALUES (?, ?, ?, ?, ?, ?)",
                    &[ct.id.as_str().into(), ct.org_id.as_str().into(), ct.email.as_str().into(), ct.role.as_str().into(), ct.language.as_deref().into(), ct.created.micros().into()],
                )?;
                append_audit(c, Some(actor), "subscription.contact.add", Some(&ct.org_id), &json!({"id": ct.id, "role": ct.role}))
            })
        })
    }

    /// The active contacts of an organization (`None`: of every organization).
    pub fn contacts(&self, org_id: Option<&str>) -> Result<Vec<Contact>, StoreError> {
        let rows = self.active_rows(
            "contacts",
            "id, org_id, email, role, language, created",
            org_id,
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Contact {
                id: r[0].text(),
                org_id: r[1].text(),
                email: r[2].text(),
                role: r[3].text(),
                language: r[4].opt_text(),
                created: Timestamp(r[5].int()),
            })
            .collect())
    }

    /// Disables a contact of `org_id`; false when it has none of that id.
    pub fn disable_contact(&self, org_id: &str, id: &str, actor: &str) -> Result<bool, StoreError> {
        self.disable_row("contacts", "contact", org_id, id, actor)
    }

    // ---- warnings ----

    /// Stores a new draft.
    pub fn create_warning(&self, w: &WarningRow) -> Result<(), StoreError> {
        self.pool.with(|c| c.write_tx(|c| insert_warning(c, w)))
    }

    /// Replaces a draft's content; false when the warning is not a draft any more.
    pub fn update_draft(&self, w: &WarningRow) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let mut p = warning_params(w);
                let id = p.remove(0);
                p.push(id);
                let n = c.execute(
                    "UPDATE warnings SET owner_org = ?, state = ?, version = ?, severity = ?, tlp = ?, exercise = ?, ack_required = ?, ack_due = ?, created = ?, updated = ?, body = ? WHERE id = ? AND state = 'draft'",
                    &p,
                )?;
                if n > 0 {
                    append_audit(c, Some(&w.owner_org), "warning.edit", Some(&w.id), &json!({}))?;
                }
                Ok(n > 0)
            })
        })
    }

    /// One warning.
    pub fn warning(&self, id: &str) -> Result<Option<WarningRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {WARNING_COLUMNS} FROM warnings WHERE id = ?"),
                &[id.into()],
            )?
            .map(warning_from_row))
        })
    }

    /// Every warning, newest change first. Callers filter with the access rule.
    pub fn warnings(&self) -> Result<Vec<WarningRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {WARNING_COLUMNS} FROM warnings ORDER BY updated DESC, id"),
                &[],
            )?
            .into_iter()
            .map(warning_from_row)
            .collect())
        })
    }

    /// A page of warnings, most recently changed first (`updated`, then `id`, both
    /// descending), after the keyset cursor `before` (the last row of the previous
    /// page), optionally of one state and one severity.
    pub fn warnings_page(
        &self,
        state: Option<&str>,
        severity: Option<&str>,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<WarningRow>, StoreError> {
        let mut cond = vec!["1 = 1"];
        let mut params: Vec<Val> = Vec::new();
        if let Some(st) = state {
            cond.push("state = ?");
            params.push(st.into());
        }
        if let Some(sev) = severity {
            cond.push("severity = ?");
            params.push(sev.into());
        }
        if let Some((t, id)) = before {
            cond.push("(updated < ? OR (updated = ? AND id < ?))");
            params.extend([t.into(), t.into(), id.into()]);
        }
        params.push((limit.clamp(1, 10_000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {WARNING_COLUMNS} FROM warnings WHERE {} ORDER BY updated DESC, id DESC LIMIT ?",
                    cond.join(" AND ")
                ),
                &params,
            )?
            .into_iter()
            .map(warning_from_row)
            .collect())
        })
    }

    /// The published versions of a warning, oldest first.
    pub fn warning_versions(&self, id: &str) -> Result<Vec<WarningVersion>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT version, at, event, changes, body FROM warning_versions WHERE warning_id = ? ORDER BY version",
                &[id.into()],
            )?
            .into_iter()
            .map(|mut r| WarningVersion { version: r[0].int(), at: r[1].int(), event: r[2].text(), changes: r[3].opt_text(), body: serde_json::from_str(&r[4].take_text()).unwrap_or(Value::Null) })
            .collect())
        })
    }

    /// One published version's document.
    pub fn warning_version(&self, id: &str, version: i64) -> Result<Option<Value>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT body FROM warning_versions WHERE warning_id = ? AND version = ?",
                &[id.into(), version.into()],
            )?
            .map(|mut r| serde_json::from_str(&r[0].take_text()).unwrap_or(Value::Null)))
        })
    }

    /// Publishes, updates or withdraws a warning with everything it sets off, in one
    /// transaction. Fails with `Invalid` when another publication of the same warning
    /// got there first.
    pub fn apply_publication(&self, p: Publication) -> Result<(), StoreError> {
        let added = p.objects.len();
        self.pool.with(|c| {
            c.write_tx(|c| {
                // The added clock first, as every write transaction takes it (one lock
                // order: a report supplement claims it, then updates its report row).
                let first_added = c.claim_added(p.objects.len() as i64)?;
                crate::casework::consent_holds_in(c, &p.warning.id, &p.event)?;
                let w = &p.warning;
                let mut params = warning_params(w);
                let id = params.remove(0);
                params.push(id);
                params.push(p.previous_version.into());
                let n = c.execute(
                    "UPDATE warnings SET owner_org = ?, state = ?, version = ?, severity = ?, tlp = ?, exercise = ?, ack_required = ?, ack_due = ?, created = ?, updated = ? , body = ? WHERE id = ? AND version = ?",
                    &params,
                )?;
                if n == 0 {
                    return Err(StoreError::Invalid(format!(
                        "warning {} changed meanwhile (expected version {}); reload it and try again",
                        w.id, p.previous_version
                    )));
                }
                c.execute(
                    "INSERT INTO warning_versions (warning_id, version, at, event, changes, body) VALUES (?, ?, ?, ?, ?, ?)",
                    &[
                        w.id.as_str().into(),
                        w.version.into(),
                        p.now.into(),
                        p.event.as_str().into(),
                        p.changes.as_deref().into(),
                        serde_json::to_string(&w.body).unwrap_or_default().into(),
                    ],
                )?;
                let ids: Vec<String> = p.objects.iter().map(|o| o.checked.id.clone()).collect();
                let outcomes = insert_objects(c, &p.collection_id, &w.owner_org, p.objects.clone(), first_added)?;
                if let Some((id, crate::Outcome::Refused(m))) = ids
                    .iter()
                    .zip(&outcomes)
                    .find(|(_, o)| matches!(o, crate::Outcome::Refused(_)))
                {
                    return Err(StoreError::Invalid(format!("{id}: {m}")));
                }
                let indicators: Vec<&String> = ids
                    .iter()
                    .zip(&outcomes)
                    .filter(|(id, o)| **o == crate::Outcome::Added && id.starts_with("indicator--"))
                    .map(|(id, _)| id)
                    .collect();
                notify_indicators(c, &indicators)?;
                let rows = p
                    .recipients
                    .iter()
                    .map(|r| {
                        vec![
                            w.id.as_str().into(),
                            r.org_id.as_str().into(),
                            r.since_version.into(),
                            r.detail.as_ref().map(|d| d.to_string()).into(),
                        ]
                    })
                    .collect();
                insert_many(
                    c,
                    "INSERT INTO warning_recipients (warning_id, org_id, since_version, detail)",
                    "ON CONFLICT (warning_id, org_id) DO NOTHING",
                    4,
                    rows,
                )?;
                insert_deliveries(c, &w.id, w.version, &p.deliveries, p.now)?;
                insert_events(c, &p.events, p.now)?;
                append_audit(
                    c,
                    Some(&p.actor_org),
                    &format!("warning.{}", p.event),
                    Some(&w.id),
                    &json!({"version": w.version, "recipients": p.recipients.len(),
                            "deliveries": p.deliveries.len(), "tlp": w.tlp.to_string()}),
                )
            })
        })?;
        self.note_rows_added(added as i64)
    }

    /// The recipients of a warning.
    pub fn recipients(&self, warning_id: &str) -> Result<Vec<Recipient>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT org_id, since_version, detail FROM warning_recipients WHERE warning_id = ? ORDER BY org_id",
                &[warning_id.into()],
            )?
            .into_iter()
            .map(|r| Recipient {
                org_id: r[0].text(),
                since_version: r[1].int(),
                detail: r[2].opt_text().and_then(|d| serde_json::from_str(&d).ok()),
            })
            .collect())
        })
    }

    /// One recipient of a warning, if `org_id` is one.
    pub fn recipient(
        &self,
        warning_id: &str,
        org_id: &str,
    ) -> Result<Option<Recipient>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT org_id, since_version, detail FROM warning_recipients WHERE warning_id = ? AND org_id = ?",
                &[warning_id.into(), org_id.into()],
            )?
            .map(|r| Recipient {
                org_id: r[0].text(),
                since_version: r[1].int(),
                detail: r[2].opt_text().and_then(|d| serde_json::from_str(&d).ok()),
            }))
        })
    }

    // ---- acknowledgement and remediation status ----

    /// Records a status report. Repeating the organization's latest status with no new
    /// note records nothing (a second click on the same link); returns whether a report
    /// was added.
    pub fn add_status(&self, r: &StatusReport) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let last = c.query_one(
                    "SELECT status, note FROM warning_statuses WHERE warning_id = ? AND org_id = ? ORDER BY seq DESC LIMIT 1",
                    &[r.warning_id.as_str().into(), r.org_id.as_str().into()],
                )?;
                if let Some(l) = last {
                    if l[0].text() == r.status && (r.note.is_none() || l[1].opt_text() == r.note) {
                        return Ok(false);
                    }
                }
                c.execute(
                    "INSERT INTO warning_statuses (warning_id, org_id, status, note, via, at) VALUES (?, ?, ?, ?, ?, ?)",
                    &[
                        r.warning_id.as_str().into(),
                        r.org_id.as_str().into(),
                        r.status.as_str().into(),
                        r.note.as_deref().into(),
                        r.via.as_str().into(),
                        r.at.into(),
                    ],
                )?;
                append_audit(c, Some(&r.org_id), "warning.status", Some(&r.warning_id), &json!({"status": r.status, "via": r.via}))?;
                Ok(true)
            })
        })
    }

    /// For an inbox page: of `warning_ids`, those addressed to `org_id` and the latest
    /// status it reported on each (None: addressed, nothing reported yet).
    pub fn inbox_marks(
        &self,
        org_id: &str,
        warning_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Option<String>>, StoreError> {
        let mut out = std::collections::HashMap::new();
        if warning_ids.is_empty() {
            return Ok(out);
        }
        self.pool.with(|c| {
            for chunk in warning_ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut params: Vec<Val> = vec![org_id.into()];
                params.extend(chunk.iter().map(|i| i.into()));
                params.push(org_id.into());
                for r in c.query(
                    &format!(
                        "SELECT r.warning_id, (SELECT s.status FROM warning_statuses s WHERE s.warning_id = r.warning_id AND s.org_id = ? ORDER BY s.seq DESC LIMIT 1) \
                         FROM warning_recipients r WHERE r.warning_id IN ({marks}) AND r.org_id = ?"
                    ),
                    &params,
                )? {
                    out.insert(r[0].text(), r[1].opt_text());
                }
            }
            Ok(out)
        })
    }

    /// The status history of a warning (of one organization, or of all), oldest first.
    pub fn statuses(
        &self,
        warning_id: &str,
        org_id: Option<&str>,
    ) -> Result<Vec<StatusReport>, StoreError> {
        self.pool.with(|c| {
            let mut sql = String::from("SELECT seq, warning_id, org_id, status, note, via, at FROM warning_statuses WHERE warning_id = ?");
            let mut params: Vec<Val> = vec![warning_id.into()];
            if let Some(o) = org_id {
                sql.push_str(" AND org_id = ?");
                params.push(o.into());
            }
            sql.push_str(" ORDER BY seq");
            Ok(c.query(&sql, &params)?
                .into_iter()
                .map(|r| StatusReport {
                    seq: r[0].int(),
                    warning_id: r[1].text(),
                    org_id: r[2].text(),
                    status: r[3].text(),
                    note: r[4].opt_text(),
                    via: r[5].text(),
                    at: r[6].int(),
                })
                .collect())
        })
    }

    /// Per recipient of a warning: delivery, latest status, escalation.
    pub fn recipient_states(&self, warning_id: &str) -> Result<Vec<RecipientState>, StoreError> {
        self.pool.with(|c| {
            let w = [warning_id.into()];
            let mut states: Vec<RecipientState> = c
                .query(
                    "SELECT org_id, since_version FROM warning_recipients WHERE warning_id = ? ORDER BY org_id",
                    &w,
                )?
                .into_iter()
                .map(|r| RecipientState {
                    org_id: r[0].text(),
                    since_version: r[1].int(),
                    delivered: false,
                    pending: 0,
                    dead: 0,
                    status: None,
                    status_at: None,
                    escalated_at: None,
                })
                .collect();
            let index: std::collections::HashMap<String, usize> = states
                .iter()
                .enumerate()
                .map(|(i, s)| (s.org_id.clone(), i))
                .collect();
            for r in c.query(
                "SELECT org_id, state, COUNT(*) FROM deliveries WHERE warning_id = ? AND event NOT LIKE 'alert%' GROUP BY org_id, state",
                &w,
            )? {
                if let Some(&i) = index.get(&r[0].text()) {
                    match r[1].text().as_str() {
                        "delivered" => states[i].delivered = true,
                        "pending" => states[i].pending += r[2].int(),
                        _ => states[i].dead += r[2].int(),
                    }
                }
            }
            for r in c.query(
                "SELECT org_id, status, at FROM warning_statuses WHERE warning_id = ? ORDER BY seq",
                &w,
            )? {
                if let Some(&i) = index.get(&r[0].text()) {
                    states[i].status = Some(r[1].text());
                    states[i].status_at = Some(r[2].int());
                }
            }
            for r in c.query("SELECT org_id, at FROM escalations WHERE warning_id = ?", &w)? {
                if let Some(&i) = index.get(&r[0].text()) {
                    states[i].escalated_at = Some(r[1].int());
                }
            }
            Ok(states)
        })
    }

    /// Recipients of published warnings of the given severities that need an
    /// acknowledgement, are past its due time at `now`, have reported no status, and
    /// were not escalated yet: (warning id, organization id).
    pub fn overdue_acknowledgements(
        &self,
        now: i64,
        severities: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if severities.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; severities.len()].join(", ");
        let mut params: Vec<Val> = vec![now.into()];
        params.extend(severities.iter().map(|x| Val::from(*x)));
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT w.id, r.org_id FROM warnings w JOIN warning_recipients r ON r.warning_id = w.id \
                     WHERE w.state = 'published' AND w.ack_required = 1 AND w.ack_due IS NOT NULL AND w.ack_due <= ? \
                     AND w.severity IN ({marks}) \
                     AND NOT EXISTS (SELECT 1 FROM warning_statuses s WHERE s.warning_id = w.id AND s.org_id = r.org_id) \
                     AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.warning_id = w.id AND e.org_id = r.org_id) \
                     ORDER BY w.ack_due, w.id, r.org_id"
                ),
                &params,
            )?
            .into_iter()
            .map(|r| (r[0].text(), r[1].text()))
            .collect())
        })
    }

    /// Records the escalation of (warning, organization) with its deliveries and feed
    /// events; false (and nothing written) when it was escalated already.
    pub fn record_escalation(
        &self,
        warning_id: &str,
        version: i64,
        org_id: &str,
        deliveries: &[NewDelivery],
        events: &[NewEvent],
        now: i64,
    ) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "INSERT INTO escalations (warning_id, org_id, at) VALUES (?, ?, ?) ON CONFLICT (warning_id, org_id) DO NOTHING",
                    &[warning_id.into(), org_id.into(), now.into()],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                insert_deliveries(c, warning_id, version, deliveries, now)?;
                insert_events(c, events, now)?;
                append_audit(c, None, "warning.escalate", Some(warning_id), &json!({"organization": org_id}))?;
                Ok(true)
            })
        })
    }

    // ---- the outbox ----

    /// Claims up to `limit` due deliveries, leasing them until `lease_until`. Only the
    /// oldest pending entry of each (channel, target) is due, so a receiver gets its
    /// deliveries in order. Several nodes may claim at once (PostgreSQL: `FOR UPDATE
    /// SKIP LOCKED`); a lease that runs out (a node died mid-delivery) makes the entry
    /// due again.
    pub fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let lock = match self.dialect {
            crate::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::Dialect::Sqlite => "",
        };
        self.pool.with(|c| {
            c.write_tx(|c| {
                let rows = c.query(
                    &format!(
                        "SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt <= ? AND d.lease_until <= ? \
                         AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.channel = d.channel AND e.target = d.target AND e.state = 'pending' AND e.seq < d.seq) \
                         ORDER BY d.next_attempt, d.seq LIMIT ?{lock}"
                    ),
                    &[now.into(), now.into(), limit.into()],
                )?;
                let claimed: Vec<DeliveryRow> = rows.iter().map(delivery_from_row).collect();
                for chunk in claimed.chunks(200) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let mut params: Vec<Val> = vec![lease_until.into()];
                    params.extend(chunk.iter().map(|d| Val::from(d.seq)));
                    c.execute(&format!("UPDATE deliveries SET lease_until = ? WHERE seq IN ({marks})"), &params)?;
                }
                Ok(claimed)
            })
        })
    }

    /// Records the outcome of claimed deliveries. A dead letter also alerts the
    /// coordinator on its feed.
    pub fn finish_deliveries(
        &self,
        results: &[(i64, Attempt)],
        now: i64,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        self.pool.with(|c| {
            c.write_tx(|c| {
                let delivered: Vec<i64> = results
                    .iter()
                    .filter(|(_, a)| *a == Attempt::Delivered)
                    .map(|(s, _)| *s)
                    .collect();
                for chunk in delivered.chunks(200) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let mut params: Vec<Val> = vec![now.into()];
                    params.extend(chunk.iter().map(|s| Val::from(*s)));
                    c.execute(
                        &format!("UPDATE deliveries SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, lease_until = 0, last_error = NULL WHERE seq IN ({marks}) AND state = 'pending'"),
                        &params,
                    )?;
                }
                let mut coordinator: Option<Option<String>> = None;
                for (seq, a) in results {
                    match a {
                        Attempt::Delivered => {}
                        Attempt::Retry { next_attempt, error } => {
                            c.execute(
                                "UPDATE deliveries SET attempts = attempts + 1, next_attempt = ?, lease_until = 0, last_error = ? WHERE seq = ? AND state = 'pending'",
                                &[(*next_attempt).into(), error.as_str().into(), (*seq).into()],
                            )?;
                        }
                        Attempt::Dead { error } => {
                            let n = c.execute(
                                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, lease_until = 0, last_error = ? WHERE seq = ? AND state = 'pending'",
                                &[error.as_str().into(), (*seq).into()],
                            )?;
                            if n == 0 {
                                continue;
                            }
                            if coordinator.is_none() {
                                coordinator = Some(coordinator_id(c)?);
                            }
                            let row = c.query_one(
                                &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE seq = ?"),
                                &[(*seq).into()],
                            )?;
                            if let (Some(Some(coord)), Some(row)) = (&coordinator, row) {
                                let d = delivery_from_row(&row);
                                let ev = NewEvent {
                                    org_id: coord.clone(),
                                    event: "delivery-failed".into(),
                                    warning_id: Some(d.warning_id.clone()),
                                    data: json!({"delivery": d.to_json()}),
                                };
                                insert_events(c, &[ev], now)?;
                            }
                        }
                    }
                }
                Ok(())
            })
        })
    }

    /// Outbox entries, newest first: of one warning and/or in one state.
    pub fn deliveries(
        &self,
        warning_id: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        self.pool.with(|c| {
            let mut sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE 1 = 1");
            let mut params: Vec<Val> = vec![];
            if let Some(w) = warning_id {
                sql.push_str(" AND warning_id = ?");
                params.push(w.into());
            }
            // A literal, so the planner may use the state's partial index.
            if let Some(s) = state {
                let Some(s) = ["pending", "delivered", "dead"]
                    .into_iter()
                    .find(|k| *k == s)
                else {
                    return Err(StoreError::Invalid(format!(
                        "state: '{s}' is not one of pending, delivered, dead"
                    )));
                };
                sql.push_str(&format!(" AND state = '{s}'"));
            }
            sql.push_str(" ORDER BY seq DESC LIMIT ?");
            params.push(limit.into());
            Ok(c.query(&sql, &params)?
                .iter()
                .map(delivery_from_row)
                .collect())
        })
    }

    /// Outbox counts by state: (pending, delivered, dead).
    pub fn delivery_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.pool.with(|c| {
            // One count per state, each over its partial index (not a table scan).
            let mut n = |state: &str| -> Result<i64, StoreError> {
                Ok(c.query_one(
                    &format!("SELECT COUNT(*) FROM deliveries WHERE state = '{state}'"),
                    &[],
                )?
                .map_or(0, |r| r[0].int()))
            };
            Ok((n("pending")?, n("delivered")?, n("dead")?))
        })
    }

    /// Deletes delivered entries and feed events older than `before` (retention).
    pub fn prune_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let a = c.execute(
                    "DELETE FROM deliveries WHERE state = 'delivered' AND delivered_at < ?",
                    &[before.into()],
                )?;
                let b = c.execute("DELETE FROM stream_events WHERE at < ?", &[before.into()])?;
                Ok(a + b)
            })
        })
    }

    // ---- the event feed ----

    /// Feed events of an organization after `after`, oldest first.
    pub fn stream_events(
        &self,
        org_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT seq, org_id, at, event, warning_id, data FROM stream_events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                &[org_id.into(), after.into(), limit.into()],
            )?
            .into_iter()
            .map(|mut r| StreamEvent {
                seq: r[0].int(),
                org_id: r[1].text(),
                at: r[2].int(),
                event: r[3].text(),
                warning_id: r[4].opt_text(),
                data: serde_json::from_str(&r[5].take_text()).unwrap_or(Value::Null),
            })
            .collect())
        })
    }

    /// The newest feed sequence number (0 when the feed is empty).
    pub fn last_stream_seq(&self) -> Result<i64, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one("SELECT MAX(seq) FROM stream_events", &[])?
                .and_then(|r| r[0].opt_int())
                .unwrap_or(0))
        })
    }

    /// Adds feed events outside a publication (alerts).
    pub fn add_events(&self, events: &[NewEvent], now: i64) -> Result<(), StoreError> {
        self.pool
            .with(|c| c.write_tx(|c| insert_events(c, events, now)))
    }
}

/// Inserts a new draft and its audit entry, inside the caller's write transaction.
pub(crate) fn insert_warning(c: &mut Conn, w: &WarningRow) -> Result<(), StoreError> {
    c.execute(
        &format!(
            "INSERT INTO warnings ({WARNING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        &warning_params(w),
    )?;
    append_audit(
        c,
        Some(&w.owner_org),
        "warning.create",
        Some(&w.id),
        &json!({"severity": w.severity}),
    )
}

#[cfg(test)]
mod tests {
    /// The outbox's queries by state and organization use their partial indexes: none
    /// reads the whole table, which grows with every delivered entry.
    #[test]
    fn outbox_queries_by_state_use_indexes() {
        let dir = std::env::temp_dir().join(format!("hinomi-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::Store::open_data_dir(&dir).unwrap();
        let queries = [
            "UPDATE deliveries SET state = 'dead', last_error = 'x' WHERE org_id = 'o' AND state = 'pending'".to_string(),
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'".into(),
            "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'".into(),
            "SELECT COUNT(*) FROM deliveries WHERE state = 'dead'".into(),
            // Each names its own index: its state's partial one.
            format!("SELECT {} FROM deliveries WHERE 1 = 1 AND state = 'dead' ORDER BY seq DESC LIMIT 10", super::DELIVERY_COLUMNS),
        ];
        for q in queries {
            let plan: Vec<String> = store
                .pool
                .with(|c| {
                    Ok(c.query(&format!("EXPLAIN QUERY PLAN {q}"), &[])?
                        .into_iter()
                        .map(|r| r[3].text())
                        .collect())
                })
                .unwrap();
            assert!(
                plan.iter()
                    .all(|p| !p.starts_with("SCAN deliveries") || p.contains("INDEX"))
                    && plan.iter().any(|p| p.contains("INDEX")),
                "{q}: {plan:?}"
            );
        }
        // The listing refuses a state it does not know, by name.
        let e = store.deliveries(None, Some("lost"), 10).unwrap_err();
        assert!(e.to_string().contains("'lost'"), "{e}");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
