//! The delivery worker: takes due entries from the durable outbox, sends them (signed
//! webhooks per the Standard Webhooks convention, e-mail over SMTP), records the
//! outcome, retries with exponential backoff and jitter, and runs escalations.
//!
//! At-least-once: an entry is marked delivered only after the receiver answered 2xx
//! (or the SMTP relay accepted the message). A node that dies mid-send leaves the
//! entry leased; when the lease runs out another run sends it again with the same
//! `webhook-id` / `Message-ID`, which receivers use to deduplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hinomi_notify::sealed::MasterKey;
use hinomi_notify::smtp::{Email, SmtpConfig};
use hinomi_notify::webhook::{self, WebhookSecret};
use hinomi_stix::{Timestamp, Tlp};
use hinomi_store::{Attempt, DeliveryRow, StoreError, WarningRow};

use super::warnings::{links, notice, severity_ja};
use crate::clock::Clock;
use crate::{AppState, Shared};

/// What the hub does when a new finding is known-exploited or critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetedWarnings {
    Off,
    /// Draft a warning for the coordinator to review and publish.
    Draft,
    /// Publish it at once.
    Publish,
}

/// Acknowledgement policy of one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPolicy {
    /// How long recipients have to acknowledge (from publication) when the warning sets
    /// no due time; None: no acknowledgement required by default.
    pub window: Option<Duration>,
    /// Whether an overdue acknowledgement is escalated.
    pub escalate: bool,
}

/// Notification settings of the hub.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The hub's address as recipients reach it, for links in e-mails and webhooks.
    pub public_url: String,
    /// The SMTP relay; None: no e-mail is sent (contacts are kept).
    pub smtp: Option<SmtpConfig>,
    /// Seals webhook secrets at rest and signs acknowledgement links.
    pub key: Arc<MasterKey>,
    /// Per severity, least severe first (informational, low, medium, high, critical).
    pub policies: [AckPolicy; 5],
    /// Attempts before an entry becomes a dead letter.
    pub max_attempts: u32,
    /// Concurrent sends of the worker.
    pub senders: usize,
    /// How often the worker looks for due work when nothing woke it.
    pub poll: Duration,
    /// How long a claimed entry is reserved for the node that claimed it.
    pub lease: Duration,
    /// Connect + response timeout of one webhook call.
    pub webhook_timeout: Duration,
    /// Most webhooks one organization may register.
    pub max_webhooks_per_org: usize,
    /// How long one-click acknowledgement links work after the version they came with.
    pub ack_link_ttl: Duration,
    /// Most organizations a member's warning may reach without the coordinator's
    /// approval.
    pub member_warning_max_recipients: usize,
    pub targeted: TargetedWarnings,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        let h = |x: u64| Some(Duration::from_secs(x * 3600));
        NotifyConfig {
            public_url: "http://127.0.0.1:8080".into(),
            smtp: None,
            key: Arc::new(MasterKey::generate()),
            policies: [
                AckPolicy {
                    window: None,
                    escalate: false,
                },
                AckPolicy {
                    window: None,
                    escalate: false,
                },
                AckPolicy {
                    window: h(24),
                    escalate: true,
                },
                AckPolicy {
                    window: h(4),
                    escalate: true,
                },
                AckPolicy {
                    window: h(1),
                    escalate: true,
                },
            ],
            max_attempts: 12,
            senders: 32,
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            webhook_timeout: Duration::from_secs(10),
            max_webhooks_per_org: 20,
            ack_link_ttl: Duration::from_secs(30 * 86_400),
            member_warning_max_recipients: 20,
            targeted: TargetedWarnings::Draft,
        }
    }
}

impl NotifyConfig {
    fn policy(&self, severity: &str) -> AckPolicy {
        let i = super::warnings::severity_rank(severity).unwrap_or(0);
        self.policies[i]
    }

    /// The default acknowledgement window of a severity.
    pub fn ack_window(&self, severity: &str) -> Option<Duration> {
        self.policy(severity).window
    }

    /// Whether overdue acknowledgements of this severity are escalated.
    pub fn escalates(&self, severity: &str) -> bool {
        self.policy(severity).escalate
    }
}

/// The delay before retry number `attempt` (1 = after the first failure): 5 s × 3ⁿ⁻¹,
/// at most 4 hours, ±25% jitter from `seed`. With the default 12 attempts the last
/// retry comes about 16 hours after the first failure.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = 5.0 * 3f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = base.min(4.0 * 3600.0);
    // A cheap hash of the seed to a factor in [0.75, 1.25).
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let f = 0.75 + (x % 10_000) as f64 / 20_000.0;
    Duration::from_secs_f64(capped * f)
}

/// Wakes the worker when work was added.
#[derive(Default)]
pub struct Waker {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    pub fn wake(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    pub(crate) fn wait(&self, timeout: Duration) {
        let g = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) = self
            .cv
            .wait_timeout_while(g, timeout, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *g = false;
    }
}

/// Starts the worker thread; it ends when the hub's state is dropped.
pub(crate) fn spawn(state: &Shared) {
    let weak = Arc::downgrade(state);
    let waker = state.delivery_waker.clone();
    let poll = state.config.notify.poll;
    let _ = std::thread::Builder::new()
        .name("hinomi-delivery".into())
        .spawn(move || {
            let Some(agent) = weak.upgrade().map(|s| agent(&s.config)) else {
                return;
            };
            loop {
                let worked = {
                    let Some(s) = weak.upgrade() else { return };
                    match run_once(&s, &agent) {
                        Ok(n) => n > 0,
                        Err(e) => {
                            tracing::warn!(error = %e, "delivery worker");
                            false
                        }
                    }
                };
                if !worked {
                    waker.wait(poll);
                }
            }
        });
}

/// The agent webhooks are sent with: the outbound policy, no redirects, pooled
/// connections.
pub fn agent(config: &crate::HubConfig) -> ureq::Agent {
    config
        .outbound
        .agent(Duration::from_secs(5))
        .max_idle_connections(1024)
        .max_idle_connections_per_host(64)
        .build()
}

/// An agent that keeps no connection: each request opens its own (a retry after a
/// pooled connection turned out closed).
fn fresh_agent(config: &crate::HubConfig) -> ureq::Agent {
    config
        .outbound
        .agent(Duration::from_secs(5))
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .build()
}

/// One pass: escalations, then every due outbox entry. Returns the number of entries
/// attempted.
pub fn run_once(s: &AppState, agent: &ureq::Agent) -> Result<usize, StoreError> {
    let clock: &Clock = &s.config.clock;
    super::warnings::escalate(s, clock.now())?;
    let mut ctx = Context::default();
    let mut total = 0;
    loop {
        let now = clock.now().micros();
        let lease = now + s.config.notify.lease.as_micros() as i64;
        let batch = s.store.claim_deliveries(now, lease, 512)?;
        if batch.is_empty() {
            return Ok(total);
        }
        total += batch.len();
        ctx.prepare(s, &batch)?;
        let results = send_all(s, agent, &ctx, &batch);
        s.store.finish_deliveries(&results, clock.now().micros())?;
    }
}

/// What sending a batch needs, loaded once per run.
#[derive(Default)]
struct Context {
    warnings: HashMap<String, WarningRow>,
    /// (warning id, version) → (body, event, changes).
    versions: HashMap<(String, i64), (Value, Option<String>)>,
    hooks: HashMap<String, Option<(String, WebhookSecret)>>,
    languages: HashMap<String, String>,
    contact_languages: HashMap<(String, String), String>,
    loaded_people: bool,
    /// (warning id, version) already looked for in the store during this run.
    looked_up: std::collections::HashSet<(String, i64)>,
}

impl Context {
    fn prepare(&mut self, s: &AppState, batch: &[DeliveryRow]) -> Result<(), StoreError> {
        for d in batch {
            // A version published while this run goes on is not in what was loaded for
            // an earlier batch: load the warning again, or the entry would go out with
            // the older version's content and acknowledgement link.
            let key = (d.warning_id.clone(), d.version);
            if !self.versions.contains_key(&key) && self.looked_up.insert(key) {
                if let Some(w) = s.store.warning(&d.warning_id)? {
                    for v in s.store.warning_versions(&w.id)? {
                        self.versions
                            .insert((w.id.clone(), v.version), (v.body, v.changes));
                    }
                    self.warnings.insert(w.id.clone(), w);
                }
            }
        }
        if batch.iter().any(|d| d.channel == "webhook") && self.hooks.is_empty() {
            for h in s.store.webhooks(None)? {
                let secret = unseal(&s.config.notify.key, &h.id, &h.secret_sealed);
                self.hooks
                    .insert(h.id.clone(), secret.map(|sec| (h.url, sec)));
            }
        }
        for d in batch.iter().filter(|d| d.channel == "webhook") {
            if !self.hooks.contains_key(&d.target) {
                // Removed (or added after this run began).
                let h = s
                    .store
                    .webhook(&d.target)?
                    .filter(|(_, disabled)| !disabled);
                let v = h.and_then(|(h, _)| {
                    unseal(&s.config.notify.key, &h.id, &h.secret_sealed).map(|sec| (h.url, sec))
                });
                self.hooks.insert(d.target.clone(), v);
            }
        }
        if !self.loaded_people && batch.iter().any(|d| d.channel == "email") {
            for st in s.store.all_org_settings()? {
                self.languages.insert(st.org_id, st.language);
            }
            for c in s.store.contacts(None)? {
                if let Some(l) = c.language {
                    self.contact_languages.insert((c.org_id, c.email), l);
                }
            }
            self.loaded_people = true;
        }
        Ok(())
    }

    /// The warning as it was at `d`'s version, and that version's change note.
    fn warning_at(&self, d: &DeliveryRow) -> Option<(WarningRow, Option<String>)> {
        let mut w = self.warnings.get(&d.warning_id)?.clone();
        if let Some((body, changes)) = self.versions.get(&(d.warning_id.clone(), d.version)) {
            w.body = body.clone();
            w.version = d.version;
            if let Some(st) = body["state"].as_str() {
                w.state = st.to_string();
            }
            if let Some(sev) = body["severity"].as_str() {
                w.severity = sev.to_string();
            }
            if let Some(t) = body["tlp"].as_str().and_then(|t| t.parse::<Tlp>().ok()) {
                w.tlp = t;
            }
            return Some((w, changes.clone()));
        }
        Some((w, None))
    }
}

fn unseal(key: &MasterKey, id: &str, sealed: &str) -> Option<WebhookSecret> {
    let raw = key.open(sealed, id.as_bytes()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    WebhookSecret::parse(&text).ok()
}

fn send_all(
    s: &AppState,
    agent: &ureq::Agent,
    ctx: &Context,
    batch: &[DeliveryRow],
) -> Vec<(i64, Attempt)> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(i64, Attempt)>> = Mutex::new(Vec::with_capacity(batch.len()));
    let threads = s.config.notify.senders.clamp(1, 256).min(batch.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = batch.get(i) else { return };
                let started = Instant::now();
                let r = send_one(s, agent, ctx, d);
                let attempt = match r {
                    Ok(()) => Attempt::Delivered,
                    Err((error, permanent)) => {
                        let n = d.attempts as u32 + 1;
                        if permanent || n >= s.config.notify.max_attempts {
                            Attempt::Dead { error }
                        } else {
                            let delay = backoff(n, d.seq as u64 ^ (n as u64) << 32);
                            Attempt::Retry {
                                next_attempt: s.config.clock.now().micros() + delay.as_micros() as i64,
                                error,
                            }
                        }
                    }
                };
                s.metrics.delivery(
                    &d.channel,
                    attempt == Attempt::Delivered,
                    matches!(attempt, Attempt::Dead { .. }),
                    started.elapsed(),
                );
                if let Attempt::Retry { error, .. } | Attempt::Dead { error } = &attempt {
                    tracing::info!(delivery = %d.id, channel = %d.channel, attempt = d.attempts + 1, %error, "delivery failed");
                }
                out.lock().unwrap_or_else(|p| p.into_inner()).push((d.seq, attempt));
            });
        }
    });
    out.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Sends one entry. Err((message, permanent)).
fn send_one(
    s: &AppState,
    agent: &ureq::Agent,
    ctx: &Context,
    d: &DeliveryRow,
) -> Result<(), (String, bool)> {
    let Some((w, changes)) = ctx.warning_at(d) else {
        return Err(("the warning no longer exists".into(), true));
    };
    match d.channel.as_str() {
        "webhook" => {
            let Some(Some((url, secret))) = ctx.hooks.get(&d.target) else {
                return Err((
                    "the webhook was removed or its secret cannot be read".into(),
                    true,
                ));
            };
            s.config
                .outbound
                .check_url(url, w.tlp)
                .map_err(|e| (format!("webhook {url}: {e}"), true))?;
            let body = webhook_body(s, &w, d, changes.as_deref());
            let ts = s.config.clock.now().micros().div_euclid(1_000_000);
            let sig = webhook::sign(secret, &d.id, ts, body.as_bytes());
            // ureq's own error type (large, as every ureq call returns it).
            #[allow(clippy::result_large_err)]
            let send = |agent: &ureq::Agent, timeout: Duration| {
                agent
                    .post(url)
                    .timeout(timeout)
                    .set("content-type", "application/json")
                    .set(webhook::HEADER_ID, &d.id)
                    .set(webhook::HEADER_TIMESTAMP, &ts.to_string())
                    .set(webhook::HEADER_SIGNATURE, &sig)
                    .set("user-agent", concat!("hinomi/", env!("CARGO_PKG_VERSION")))
                    .send_string(&body)
            };
            // A kept-alive connection the receiver closed while idle fails the next
            // request on it, and ureq does not retry a POST: once more at once, on a new
            // connection (not another pooled one, which may be as stale; the receiver
            // deduplicates by webhook-id), within what is left of the one timeout. Not
            // after a timeout.
            let started = Instant::now();
            let timeout = s.config.notify.webhook_timeout;
            let r = match send(agent, timeout) {
                Err(ureq::Error::Transport(t)) if stale_connection(&t) => {
                    let left = timeout.saturating_sub(started.elapsed());
                    if left < Duration::from_millis(1) {
                        Err(ureq::Error::Transport(t))
                    } else {
                        send(&fresh_agent(&s.config), left)
                    }
                }
                r => r,
            };
            match r {
                Ok(resp) if (300..400).contains(&resp.status()) => Err((
                    crate::outbound::redirect_error(resp.status(), resp.header("location")),
                    false,
                )),
                Ok(resp) => {
                    let _ = resp.into_string();
                    Ok(())
                }
                Err(ureq::Error::Status(410, _)) => {
                    Err(("HTTP 410 Gone: the receiver asked to stop".into(), true))
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let _ = resp.into_string();
                    Err((format!("HTTP {code} from the receiver"), false))
                }
                Err(ureq::Error::Transport(t)) => Err((format!("transport: {t}"), false)),
            }
        }
        "email" => {
            let Some(cfg) = &s.config.notify.smtp else {
                return Err(("no SMTP relay is configured".into(), true));
            };
            let lang = ctx
                .contact_languages
                .get(&(d.org_id.clone(), d.target.clone()))
                .or_else(|| ctx.languages.get(&d.org_id))
                .map(String::as_str)
                .unwrap_or("en");
            let email = render_email(s, &w, d, changes.as_deref(), lang);
            hinomi_notify::smtp::send(cfg, &email).map_err(|e| (e.to_string(), e.is_permanent()))
        }
        other => Err((format!("unknown channel '{other}'"), true)),
    }
}

/// Whether a transport error is what reusing a connection the peer closed gives: an I/O
/// error other than a timeout, on a connection that had been established.
fn stale_connection(t: &ureq::Transport) -> bool {
    if t.kind() != ureq::ErrorKind::Io {
        return false;
    }
    let io = std::error::Error::source(t).and_then(|e| e.downcast_ref::<std::io::Error>());
    !io.is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        )
    })
}

fn detail_for(w: &WarningRow, org: &str) -> Option<Value> {
    w.body["recipient_details"].get(org).cloned()
}

/// The Standard Webhooks payload: `{"type", "timestamp", "data"}`.
pub fn webhook_body(
    s: &AppState,
    w: &WarningRow,
    d: &DeliveryRow,
    changes: Option<&str>,
) -> String {
    let event = d.event.split(':').next().unwrap_or("");
    let data = notice(
        w,
        event,
        changes,
        detail_for(w, &d.org_id).as_ref(),
        &links(s, w, &d.org_id),
    );
    json!({
        "type": format!("warning.{event}"),
        "timestamp": Timestamp(d.created).to_string(),
        "data": data,
    })
    .to_string()
}

fn text(v: &Value, lang: &str) -> Option<String> {
    v.get(lang)
        .or_else(|| v.get("en"))
        .and_then(Value::as_str)
        .map(String::from)
}

/// One language's part of an e-mail.
fn email_part(
    s: &AppState,
    w: &WarningRow,
    d: &DeliveryRow,
    changes: Option<&str>,
    lang: &str,
) -> String {
    let ja = lang == "ja";
    let b = &w.body;
    let mut t = String::new();
    let line = |t: &mut String, en: &str, jp: &str, v: &str| {
        t.push_str(if ja { jp } else { en });
        t.push_str(v);
        t.push('\n');
    };
    if let Some(l) = issuer_line(&b["issuer"], ja) {
        t.push_str(&l);
        t.push_str("\n\n");
    }
    if let Some(org) = d.event.strip_prefix("alert:") {
        line(
            &mut t,
            "Acknowledgement overdue: organization ",
            "受領確認の期限超過: 組織 ",
            org,
        );
    }
    if d.event == "escalation" {
        t.push_str(if ja {
            "この警報の受領確認が期限までに届いていません。至急ご確認ください。\n\n"
        } else {
            "Your organization has not acknowledged this warning by its due time. Please act now.\n\n"
        });
    }
    if w.exercise {
        t.push_str(if ja {
            "*** 訓練 (EXERCISE) ***\n\n"
        } else {
            "*** EXERCISE ***\n\n"
        });
    }
    line(&mut t, "", "", &text(&b["title"], lang).unwrap_or_default());
    t.push('\n');
    let sev = if ja {
        severity_ja(&w.severity).to_string()
    } else {
        w.severity.to_uppercase()
    };
    line(&mut t, "Severity: ", "重要度: ", &sev);
    line(&mut t, "Handling: ", "取扱い: ", w.tlp.label());
    line(&mut t, "Version: ", "版: ", &w.version.to_string());
    if d.event == "withdrawn" {
        t.push_str(if ja {
            "この警報は取り下げられました。\n"
        } else {
            "This warning has been withdrawn.\n"
        });
    }
    if let Some(c) = changes {
        line(&mut t, "What changed: ", "変更点: ", c);
    }
    t.push('\n');
    t.push_str(&text(&b["summary"], lang).unwrap_or_default());
    t.push_str("\n\n");
    if let Some(a) = text(&b["required_action"], lang) {
        line(&mut t, "Required action: ", "必要な対応: ", &a);
    }
    if let Some(due) = b["action_due"].as_str() {
        line(&mut t, "Act by: ", "対応期限: ", due);
    }
    if let Some(x) = detail_for(w, &d.org_id) {
        if let Some(assets) = x["assets"].as_array() {
            t.push_str(if ja {
                "\n影響を受ける貴組織の資産:\n"
            } else {
                "\nYour affected assets:\n"
            });
            for a in assets {
                t.push_str("  - ");
                t.push_str(
                    a.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| a.to_string())
                        .as_str(),
                );
                t.push('\n');
            }
        }
    }
    let l = links(s, w, &d.org_id);
    if w.ack_required && w.state == "published" && !d.event.starts_with("alert") {
        if let Some(due) = w.ack_due {
            line(
                &mut t,
                "Acknowledge by: ",
                "受領確認期限: ",
                &Timestamp(due).to_string(),
            );
        }
        line(
            &mut t,
            "Acknowledge with one click: ",
            "ワンクリックで受領確認: ",
            l["acknowledge"].as_str().unwrap_or(""),
        );
    }
    line(
        &mut t,
        "Details: ",
        "詳細: ",
        l["self"].as_str().unwrap_or(""),
    );
    t
}

/// The e-mail of one delivery, in the recipient's language (Japanese e-mails carry the
/// English text too).
/// Who issued it, for the subject: the coordinator by name, or a member marked as not
/// the coordinator.
fn issuer_tag(issuer: &Value, ja: bool) -> String {
    let name = issuer["name"].as_str().unwrap_or("?");
    match (issuer["coordinator"].as_bool(), ja) {
        (None, _) => String::new(),
        (Some(true), false) => format!("[{name}] "),
        (Some(true), true) => format!("【{name}】"),
        (Some(false), false) => format!("[From member {name}, not the coordinator] "),
        (Some(false), true) => format!("【会員組織 {name} 発信・調整機関ではありません】"),
    }
}

/// The first line of the body: who issued it.
fn issuer_line(issuer: &Value, ja: bool) -> Option<String> {
    let name = issuer["name"].as_str()?;
    Some(match (issuer["coordinator"].as_bool() == Some(true), ja) {
        (true, false) => format!("Issued by {name}, the national coordinator."),
        (true, true) => format!("発信: {name}（調整機関）"),
        (false, false) => format!(
            "Issued by {name}, a member organization. It was not issued by the national coordinator."
        ),
        (false, true) => format!("発信: 会員組織 {name}。この警報は調整機関が発信したものではありません。"),
    })
}

pub fn render_email(
    s: &AppState,
    w: &WarningRow,
    d: &DeliveryRow,
    changes: Option<&str>,
    lang: &str,
) -> Email {
    let ja = lang == "ja";
    let title = text(&w.body["title"], if ja { "ja" } else { "en" }).unwrap_or_default();
    let mut subject = String::from("[hinomi] ");
    if w.exercise {
        subject.push_str(if ja { "【訓練】" } else { "[EXERCISE] " });
    }
    let kind = match (d.event.as_str(), ja) {
        ("updated", false) => format!("Updated (v{}): ", w.version),
        ("updated", true) => format!("【更新 第{}版】", w.version),
        ("withdrawn", false) => "Withdrawn: ".into(),
        ("withdrawn", true) => "【取消】".into(),
        ("escalation", false) => "ACKNOWLEDGEMENT OVERDUE: ".into(),
        ("escalation", true) => "【受領確認期限超過】".into(),
        (e, false) if e.starts_with("alert:") => "Overdue acknowledgement: ".into(),
        (e, true) if e.starts_with("alert:") => "【受領確認未了】".into(),
        _ => String::new(),
    };
    subject.push_str(&kind);
    subject.push_str(&issuer_tag(&w.body["issuer"], ja));
    if ja {
        subject.push_str(&format!(
            "【{}】{} {}",
            severity_ja(&w.severity),
            w.tlp.label(),
            title
        ));
    } else {
        subject.push_str(&format!(
            "{} {} {}",
            w.severity.to_uppercase(),
            w.tlp.label(),
            title
        ));
    }
    let mut body = email_part(s, w, d, changes, lang);
    if ja {
        body.push_str("\n----- English -----\n\n");
        body.push_str(&email_part(s, w, d, changes, "en"));
    }
    body.push_str(&format!(
        "\n--\nhinomi watch and warning. {} — handle this message as its TLP marking says (FIRST TLP 2.0).\n",
        w.tlp.label()
    ));
    Email {
        to: vec![d.target.clone()],
        subject,
        text: body,
        message_id: format!("{}@hinomi", d.id),
        headers: vec![
            ("X-Hinomi-Warning".into(), w.id.clone()),
            ("X-Hinomi-Version".into(), w.version.to_string()),
            ("X-Hinomi-Event".into(), d.event.clone()),
            ("X-Hinomi-TLP".into(), w.tlp.label().into()),
        ],
        date_unix: s.config.clock.now().micros().div_euclid(1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let d1 = backoff(1, 7).as_secs_f64();
        assert!((3.75..6.25).contains(&d1), "{d1}");
        let d3 = backoff(3, 7).as_secs_f64();
        assert!((33.0..57.0).contains(&d3), "{d3}");
        let d20 = backoff(20, 7).as_secs_f64();
        assert!(
            (4.0 * 3600.0 * 0.75..=4.0 * 3600.0 * 1.25).contains(&d20),
            "{d20}"
        );
        assert_ne!(backoff(5, 1), backoff(5, 2), "jitter differs by seed");
        let total: f64 = (1..12).map(|n| backoff(n, n as u64).as_secs_f64()).sum();
        assert!(total > 8.0 * 3600.0, "retries span hours: {total}");
    }
}
