//! Federation with peer hubs over TAXII 2.1: what may cross (the access rule for the
//! peer-hub reader plus the sharing agreement), anonymization on export, pull with
//! durable `added_after` checkpoints, push with durable cursors, ingest of what peers
//! send with provenance and the receiving hub's handling, tombstones, the worker and
//! the REST API under `/api/v1/peers`.
//!
//! Invariants:
//! - Nothing leaves for a peer without passing [`hinomi_access::Scope::allows`] for
//!   that peer's reader (in SQL, via the store's scope filter) and
//!   [`ExportView::admits`] (loops, forwarding, exercises, collections).
//! - Nothing received is stored wider than it was sent: GREEN becomes coordinator-only
//!   unless the agreement makes the hubs one community; AMBER must name this hub;
//!   AMBER+STRICT and RED are refused. The audience a peer names never reaches the
//!   store: received AMBER is the coordinator's, and only the coordinator extends it
//!   (`received_grants`, applied again to every later version).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::{OrgKind, Scope};
use hinomi_notify::sealed::MasterKey;
use hinomi_stix::{check_object, Timestamp, Tlp};
use hinomi_store::{
    Agreement, Cursor, IndicatorRow, NewObject, Order, Outcome, Peer, Store, StoreError,
    VersionFilter, FEDERATION_COLLECTION, TOMBSTONES_COLLECTION,
};

use super::access::ext;
use super::{objects, Error, ExportView, Kind, Result, Viewer};
use crate::outbound::OutboundPolicy;
use crate::{AppState, Shared, TAXII_MEDIA_TYPE};

/// Federation settings of the hub.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// How often each peer is pulled (and pushed, at the latest) without a wake-up.
    pub pull_interval: Duration,
    /// Objects per TAXII page or envelope.
    pub batch: usize,
    /// TLS for outgoing peer connections (a client certificate for mutual TLS, extra
    /// roots); None: ureq's defaults.
    pub client_tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    /// The wait after a peer's first failed sync; it doubles with every further failure
    /// up to `retry_max`. Changing the peer or a successful sync clears it.
    pub retry_first: Duration,
    pub retry_max: Duration,
    /// Pages one pull reads from one remote collection before it stops until the next
    /// pull (a peer answering `more: true` forever cannot hold the worker).
    pub max_pull_pages: usize,
    /// Largest page a peer may answer, bytes.
    pub max_page_bytes: u64,
}

impl Default for FederationConfig {
    fn default() -> FederationConfig {
        FederationConfig {
            pull_interval: Duration::from_secs(60),
            batch: 1000,
            client_tls: None,
            retry_first: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            max_pull_pages: 1000,
            max_page_bytes: 64 << 20,
        }
    }
}

/// The access-rule reader a peer is.
fn peer_scope(store: &Store, peer: &Peer) -> Result<Scope, StoreError> {
    Ok(Scope::for_reader(&super::org_reader(
        &peer.id,
        OrgKind::PeerHub,
        &peer.identity_id,
        &store.communities()?,
        peer.agreement.green,
    )))
}

/// What one ingest did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub added: usize,
    pub duplicates: usize,
    pub deleted: usize,
    /// (object id, reason).
    pub refused: Vec<(String, String)>,
    /// Added by TLP label.
    pub by_tlp: BTreeMap<String, i64>,
    /// Per submitted object: None for success, Some(reason) when refused.
    pub per_object: Vec<(String, String, Option<String>)>,
}

/// Stores what a peer sent (pulled or pushed) in the federation collection, owned by
/// the peer's organization, with the receiving hub's handling; applies tombstones.
pub fn ingest(
    store: &Store,
    state: Option<&AppState>,
    peer: &Peer,
    objects: Vec<Value>,
) -> Result<IngestReport, StoreError> {
    let a = &peer.agreement;
    let hub_identity = store
        .coordinator()?
        .map(|c| c.identity_id)
        .unwrap_or_default();
    let local: HashSet<String> = store
        .organizations()?
        .into_iter()
        .filter(|o| o.kind != OrgKind::PeerHub)
        .map(|o| o.identity_id)
        .collect();
    let ids: Vec<String> = objects
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    let grants = store.received_grants(&ids)?;
    let mut r = IngestReport::default();
    let mut batch: Vec<(String, String, Tlp, NewObject)> = Vec::new();
    for (i, raw) in objects.into_iter().enumerate() {
        let id = raw["id"].as_str().unwrap_or("").to_string();
        let version = raw["modified"]
            .as_str()
            .or(raw["created"].as_str())
            .unwrap_or("")
            .to_string();
        let refuse = |r: &mut IngestReport, why: String| {
            r.refused.push((id.clone(), why.clone()));
            r.per_object.push((id.clone(), version.clone(), Some(why)));
        };
        let mut checked = match check_object(raw) {
            Ok(c) => c,
            Err(e) => {
                refuse(&mut r, format!("objects[{i}].{}: {}", e.path, e.message));
                continue;
            }
        };
        if ext(&checked.value)["deleted"].as_bool() == Some(true) {
            let all = VersionFilter {
                all: true,
                ..VersionFilter::default()
            };
            r.deleted += store.delete_object(
                FEDERATION_COLLECTION,
                &checked.id,
                Some(&peer.id),
                &all,
                &peer.id,
            )?;
            r.per_object.push((id.clone(), version.clone(), None));
            continue;
        }
        // The TLP marking definitions are built in: a genuine copy is acknowledged and
        // not stored, one that redefines a TLP id is refused (as for members).
        if checked.object_type == "marking-definition" {
            if let Some(level) = Tlp::from_marking_id(&checked.id) {
                if super::objects::is_builtin_tlp(level, &checked.value) {
                    r.per_object.push((id.clone(), version.clone(), None));
                } else {
                    refuse(
                        &mut r,
                        format!(
                            "{} is the id of the built-in {} marking definition; it cannot be redefined",
                            checked.id,
                            level.label()
                        ),
                    );
                }
                continue;
            }
        }
        // An indicator whose STIX pattern does not parse could never match.
        if checked.object_type == "indicator" && checked.value["pattern_type"] == "stix" {
            if let Some(Err(e)) = checked.value["pattern"]
                .as_str()
                .map(hinomi_pattern::Pattern::parse)
            {
                refuse(&mut r, format!("objects[{i}].pattern: {e}"));
                continue;
            }
        }
        if checked.exercise && !a.exercise {
            refuse(
                &mut r,
                "exercise objects are not part of the sharing agreement".into(),
            );
            continue;
        }
        if checked
            .created_by_ref
            .as_ref()
            .is_some_and(|c| local.contains(c))
        {
            refuse(
                &mut r,
                "created_by_ref names an organization of this hub".into(),
            );
            continue;
        }
        let marked = checked.tlp.unwrap_or(Tlp::Amber);
        let effective = match marked {
            Tlp::Clear => Tlp::Clear,
            Tlp::Green if !a.green => {
                refuse(
                    &mut r,
                    "TLP:GREEN is not part of the sharing agreement".into(),
                );
                continue;
            }
            Tlp::Green if a.one_community => Tlp::Green,
            // The hubs are not one community: GREEN reaches the coordinator, who may
            // extend it on a need-to-know basis.
            Tlp::Green => Tlp::Amber,
            Tlp::Amber if a.amber && checked.audience.contains(&hub_identity) => Tlp::Amber,
            Tlp::Amber => {
                refuse(
                    &mut r,
                    "TLP:AMBER crosses only when the agreement includes named AMBER and its audience names this hub".into(),
                );
                continue;
            }
            t => {
                refuse(&mut r, format!("{t} never crosses between hubs"));
                continue;
            }
        };
        // Who reads it here is this hub's decision, never the peer's: the audience the
        // peer named (which may name local members) is replaced by the coordinator,
        // plus whom the coordinator extended the object to. GREEN and CLEAR reach
        // whom their level reaches and need no audience.
        checked.audience = if effective == Tlp::Amber {
            let mut a = vec![hub_identity.clone()];
            a.extend(grants.get(&checked.id).into_iter().flatten().cloned());
            a.retain(|i| !i.is_empty());
            a.sort();
            a.dedup();
            a
        } else {
            Vec::new()
        };
        let values = super::correlation::values_of(&checked.value);
        let context = checked.value["extensions"][hinomi_stix::REPORT_EXTENSION_ID]["report_ref"]
            .as_str()
            .map(str::to_string);
        batch.push((
            id,
            version,
            marked,
            NewObject::new(checked, effective).with_observables(values, context),
        ));
    }
    if !batch.is_empty() {
        let rows: Vec<Option<IndicatorRow>> = batch
            .iter()
            .map(|(_, _, _, o)| {
                (o.checked.object_type == "indicator").then(|| IndicatorRow {
                    stix_id: o.checked.id.clone(),
                    owner_org: peer.id.clone(),
                    tlp: o.tlp,
                    audience: o.checked.audience.clone(),
                    version: o.checked.version.map_or(0, Timestamp::micros),
                    json: o.json.clone(),
                })
            })
            .collect();
        let meta: Vec<(String, String, Tlp)> = batch
            .iter()
            .map(|(a, b, t, _)| (a.clone(), b.clone(), *t))
            .collect();
        let objs: Vec<NewObject> = batch.into_iter().map(|(_, _, _, o)| o).collect();
        // Our own writes: other nodes' notifications are re-read, ours are queued below.
        let own: Vec<String> = rows.iter().flatten().map(|r| r.stix_id.clone()).collect();
        if let Some(s) = state {
            s.indicators.expect_local(&own);
        }
        let outcomes = match store.add_objects(FEDERATION_COLLECTION, &peer.id, objs) {
            Ok(o) => o,
            Err(e) => {
                if let Some(s) = state {
                    s.indicators.forget_local(&own);
                }
                return Err(e);
            }
        };
        let mut indexed = Vec::new();
        for (((id, version, tlp), o), row) in meta.into_iter().zip(outcomes).zip(rows) {
            match o {
                Outcome::Added => {
                    r.added += 1;
                    *r.by_tlp.entry(tlp.label().to_string()).or_default() += 1;
                    indexed.extend(row);
                    r.per_object.push((id, version, None));
                }
                Outcome::Duplicate => {
                    r.duplicates += 1;
                    r.per_object.push((id, version, None));
                }
                // Owned by another organization here: it arrived by another path first.
                Outcome::Refused(m) if m.contains("owner") => {
                    r.duplicates += 1;
                    r.per_object.push((id, version, None));
                }
                Outcome::Refused(m) => {
                    r.refused.push((id.clone(), m.clone()));
                    r.per_object.push((id, version, Some(m)));
                }
            }
        }
        if let (Some(s), false) = (state, indexed.is_empty()) {
            s.indicators.queue(indexed);
        }
    }
    Ok(r)
}

/// Context of one sync run.
pub struct Fed<'a> {
    pub store: &'a Store,
    pub key: &'a MasterKey,
    pub agent: &'a ureq::Agent,
    pub batch: usize,
    pub state: Option<&'a AppState>,
    /// Checked again before every sync (the configuration may have changed since the
    /// peer was registered).
    pub outbound: &'a OutboundPolicy,
    pub config: &'a FederationConfig,
}

/// What a sync moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub pulled: usize,
    pub pushed: usize,
    pub duplicates: usize,
    pub deleted: usize,
    pub refused: usize,
}

impl SyncReport {
    pub fn to_json(&self) -> Value {
        json!({"pulled": self.pulled, "pushed": self.pushed, "duplicates": self.duplicates,
               "deleted": self.deleted, "refused": self.refused})
    }
}

fn token(fed: &Fed<'_>, peer: &Peer) -> Result<Option<String>, String> {
    peer.credentials_sealed
        .as_deref()
        .map(|s| {
            fed.key
                .open(s, peer.id.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    "the stored credentials cannot be read with this hub's key".to_string()
                })
        })
        .transpose()
}

fn request(fed: &Fed<'_>, method: &str, url: &str, token: &Option<String>) -> ureq::Request {
    let mut r = fed
        .agent
        .request(method, url)
        .set("Accept", TAXII_MEDIA_TYPE);
    if let Some(t) = token {
        r = r.set("Authorization", t);
    }
    r
}

fn http_err(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, resp) => {
            let body = resp.into_string().unwrap_or_default();
            let msg: String = body.chars().take(300).collect();
            format!("HTTP {code}: {msg}")
        }
        ureq::Error::Transport(t) => format!("transport: {t}"),
    }
}

/// Reads a TAXII envelope of at most `max` bytes.
fn read_page(resp: ureq::Response, max: u64) -> Result<Value, String> {
    use std::io::Read as _;
    let mut body = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the page: {e}"))?;
    if body.len() as u64 > max {
        return Err(format!(
            "the peer's page is larger than {max} bytes, the most this hub reads"
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a TAXII envelope: {e}"))
}

/// A 3xx answer is an error: redirects are not followed.
fn not_redirected(resp: ureq::Response) -> Result<ureq::Response, String> {
    if (300..400).contains(&resp.status()) {
        return Err(crate::outbound::redirect_error(
            resp.status(),
            resp.header("location"),
        ));
    }
    Ok(resp)
}

/// Pulls every configured remote collection from its checkpoint on.
pub fn pull(fed: &Fed<'_>, peer: &Peer) -> Result<SyncReport, String> {
    let token = token(fed, peer)?;
    let mut rep = SyncReport::default();
    let mut by_tlp: BTreeMap<String, i64> = BTreeMap::new();
    for cid in &peer.pull_collections {
        let since = fed
            .store
            .checkpoint(&peer.id, cid)
            .map_err(|e| e.to_string())?;
        let mut next: Option<String> = None;
        for page in 1.. {
            if page > fed.config.max_pull_pages {
                tracing::info!(peer = %peer.name, collection = %cid, pages = page - 1,
                    "pull stopped at the page limit; it goes on from the checkpoint next time");
                break;
            }
            let mut url = format!(
                "{}collections/{cid}/objects/?limit={}&match%5Bversion%5D=all",
                peer.api_root, fed.batch
            );
            if let Some(a) = &since {
                url.push_str(&format!("&added_after={}", urlencode(a)));
            }
            if let Some(n) = &next {
                url.push_str(&format!("&next={}", urlencode(n)));
            }
            let resp = match request(fed, "GET", &url, &token).call() {
                Ok(r) => not_redirected(r).map_err(|e| format!("{cid}: {e}"))?,
                // No objects at all is a 404 for some servers; nothing to pull.
                Err(ureq::Error::Status(404, _)) if next.is_none() => break,
                Err(e) => return Err(format!("{cid}: {}", http_err(e))),
            };
            let last = resp.header("x-taxii-date-added-last").map(String::from);
            let env =
                read_page(resp, fed.config.max_page_bytes).map_err(|e| format!("{cid}: {e}"))?;
            let objects = env["objects"].as_array().cloned().unwrap_or_default();
            let n = objects.len();
            if n > fed.batch {
                return Err(format!(
                    "{cid}: the peer answered {n} objects to a request for at most {}",
                    fed.batch
                ));
            }
            let r = ingest(fed.store, fed.state, peer, objects).map_err(|e| e.to_string())?;
            rep.pulled += r.added;
            rep.duplicates += r.duplicates;
            rep.deleted += r.deleted;
            rep.refused += r.refused.len();
            for (t, k) in r.by_tlp {
                *by_tlp.entry(t).or_default() += k;
            }
            if let Some(l) = &last {
                fed.store
                    .set_checkpoint(&peer.id, cid, l)
                    .map_err(|e| e.to_string())?;
            }
            let more = env["more"].as_bool().unwrap_or(false);
            match env["next"].as_str() {
                Some(nx) if more && n > 0 => next = Some(nx.to_string()),
                _ => break,
            }
        }
    }
    let moved: Vec<(String, i64)> = by_tlp.into_iter().collect();
    if let Some(s) = fed.state {
        s.metrics.federation(&peer.name, "in", &moved);
    }
    fed.store
        .record_sync(&peer.id, "in", Ok(&moved), Timestamp::now().micros())
        .map_err(|e| e.to_string())?;
    Ok(rep)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The local collections pushed to (and readable by) a peer, tombstones last.
fn exported(peer: &Peer) -> Vec<String> {
    let mut v = peer.agreement.exported_collections.clone();
    v.push(TOMBSTONES_COLLECTION.into());
    v
}

/// Pushes what may cross, from each exported collection's cursor on.
pub fn push(fed: &Fed<'_>, peer: &Peer) -> Result<SyncReport, String> {
    let Some(target) = &peer.push_collection else {
        return Err("no push_collection is configured for this peer".into());
    };
    let token = token(fed, peer)?;
    let scope = peer_scope(fed.store, peer).map_err(|e| e.to_string())?;
    let view = ExportView::load(fed.store, &peer.id)
        .map_err(|e| e.to_string())?
        .ok_or("the peer is not registered")?;
    let exported_ids = exported(peer);
    let reader = Viewer::peer(view, scope, exported_ids.clone());
    let mut rep = SyncReport::default();
    let mut by_tlp: BTreeMap<String, i64> = BTreeMap::new();
    let url = format!("{}collections/{target}/objects/", peer.api_root);
    for cid in exported_ids {
        let Some(col) = fed.store.collection(&cid).map_err(|e| e.to_string())? else {
            continue;
        };
        loop {
            let (added, pk) = fed
                .store
                .push_cursor(&peer.id, &cid)
                .map_err(|e| e.to_string())?;
            let q = objects::Query {
                versions: VersionFilter {
                    all: true,
                    ..VersionFilter::default()
                },
                after: Some(Cursor { key: added, pk }),
                limit: fed.batch,
                order: Order::Added,
                ..objects::Query::default()
            };
            // The one read: the access rule for the peer's reader, then its agreement.
            let page = objects::read(fed.store, &reader, &col, &q).map_err(|e| e.to_string())?;
            let Some(last) = page.last.map(|l| (l.key, l.pk)) else {
                break;
            };
            let mut objs = Vec::new();
            for i in &page.items {
                let Ok(v) = serde_json::from_str::<Value>(&i.json) else {
                    continue;
                };
                *by_tlp.entry(i.tlp.label().to_string()).or_default() += 1;
                objs.push(v);
            }
            if !objs.is_empty() {
                let n = objs.len();
                let body = json!({ "objects": objs }).to_string();
                let resp = request(fed, "POST", &url, &token)
                    .set("Content-Type", TAXII_MEDIA_TYPE)
                    .send_string(&body)
                    .map_err(http_err)
                    .and_then(not_redirected)
                    .map_err(|e| format!("{target}: {e}"))?;
                let status: Value = resp.into_json().unwrap_or(Value::Null);
                let failed = status["failure_count"].as_u64().unwrap_or(0) as usize;
                rep.pushed += n - failed.min(n);
                rep.refused += failed;
                if failed > 0 {
                    tracing::info!(peer = %peer.name, failed, first = %status["failures"][0], "peer refused objects");
                }
            }
            fed.store
                .set_push_cursor(&peer.id, &cid, last.0, last.1)
                .map_err(|e| e.to_string())?;
            if !page.more {
                break;
            }
        }
    }
    let moved: Vec<(String, i64)> = by_tlp.into_iter().collect();
    if let Some(s) = fed.state {
        s.metrics.federation(&peer.name, "out", &moved);
    }
    fed.store
        .record_sync(&peer.id, "out", Ok(&moved), Timestamp::now().micros())
        .map_err(|e| e.to_string())?;
    Ok(rep)
}

/// Pull (if the peer is pulled) then push (if pushed); errors are recorded.
pub fn sync(fed: &Fed<'_>, peer: &Peer) -> Result<SyncReport, String> {
    let mut total = SyncReport::default();
    let record = |dir: &str, e: &str| {
        let _ = fed
            .store
            .record_sync(&peer.id, dir, Err(e), Timestamp::now().micros());
        if let Some(s) = fed.state {
            s.metrics.federation_error(&peer.name);
        }
        tracing::warn!(peer = %peer.name, direction = dir, error = %e, "federation");
    };
    if let Err(e) = fed
        .outbound
        .check_url(&peer.api_root, carries(&peer.agreement))
    {
        let e = format!("api_root {}: {e}", peer.api_root);
        record(if peer.pulls() { "in" } else { "out" }, &e);
        return Err(format!("{}: {e}", peer.name));
    }
    if peer.pulls() {
        match pull(fed, peer) {
            Ok(r) => {
                total.pulled += r.pulled;
                total.duplicates += r.duplicates;
                total.deleted += r.deleted;
                total.refused += r.refused;
            }
            Err(e) => {
                record("in", &e);
                return Err(format!("pull from {}: {e}", peer.name));
            }
        }
    }
    if peer.pushes() {
        match push(fed, peer) {
            Ok(r) => {
                total.pushed += r.pushed;
                total.refused += r.refused;
            }
            Err(e) => {
                record("out", &e);
                return Err(format!("push to {}: {e}", peer.name));
            }
        }
    }
    Ok(total)
}

/// The most restricted TLP that crosses under an agreement (named AMBER includes
/// AMBER+STRICT).
fn carries(a: &Agreement) -> Tlp {
    if a.amber {
        Tlp::AmberStrict
    } else if a.green {
        Tlp::Green
    } else {
        Tlp::Clear
    }
}

/// An HTTP agent for peer connections: the outbound policy, no redirects, the client
/// certificate if one is configured.
pub fn agent(config: &crate::HubConfig) -> ureq::Agent {
    let mut b = config
        .outbound
        .agent(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    if let Some(tls) = &config.federation.client_tls {
        b = b.tls_config(tls.clone());
    }
    b.build()
}

/// Starts the federation worker: pushes whenever woken (new local objects) and at least
/// every second, pulls every `pull_interval`; a failing peer backs off up to 5 minutes.
pub(crate) fn spawn(state: &Shared) {
    let weak = Arc::downgrade(state);
    let waker = state.federation_waker.clone();
    let _ = std::thread::Builder::new()
        .name("hinomi-federation".into())
        .spawn(move || {
            let mut next_pull: HashMap<String, Instant> = HashMap::new();
            let mut agent: Option<ureq::Agent> = None;
            loop {
                {
                    let Some(s) = weak.upgrade() else { return };
                    let agent = agent.get_or_insert_with(|| crate::federation::agent(&s.config));
                    let peers = s.store.peers().unwrap_or_default();
                    let forced: HashSet<String> = std::mem::take(
                        &mut *s
                            .federation_forced
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()),
                    );
                    for peer in peers {
                        if s.federation_backoff.waiting(&peer) && !forced.contains(&peer.id) {
                            continue;
                        }
                        let fed = Fed {
                            store: &s.store,
                            key: &s.config.notify.key,
                            agent,
                            batch: s.config.federation.batch,
                            state: Some(&s),
                            outbound: &s.config.outbound,
                            config: &s.config.federation,
                        };
                        let pull_due = next_pull.get(&peer.id).is_none_or(|t| Instant::now() >= *t)
                            || forced.contains(&peer.id);
                        let mut p = peer.clone();
                        if !pull_due {
                            p.direction = if peer.pushes() {
                                "push".into()
                            } else {
                                continue;
                            };
                        }
                        let result = {
                            let _one_at_a_time = s
                                .federation_sync_lock
                                .lock()
                                .unwrap_or_else(|p| p.into_inner());
                            sync(&fed, &p)
                        };
                        match result {
                            Ok(_) => {
                                s.federation_backoff.clear(&peer.id);
                                if pull_due {
                                    next_pull.insert(
                                        peer.id.clone(),
                                        Instant::now() + s.config.federation.pull_interval,
                                    );
                                }
                            }
                            Err(_) => s.federation_backoff.failed(&peer, &s.config.federation),
                        }
                    }
                }
                waker.wait(Duration::from_secs(1));
            }
        });
}

// ---- Peers: registration, agreements, on-demand sync ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    #[serde(default)]
    green: bool,
    #[serde(default)]
    amber: bool,
    #[serde(default)]
    one_community: bool,
    #[serde(default)]
    exported_collections: Vec<String>,
    #[serde(default)]
    exercise: bool,
    #[serde(default)]
    anonymize: bool,
    #[serde(default)]
    forward: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerInput {
    name: String,
    #[serde(default)]
    country: Option<String>,
    identity_id: String,
    api_root: String,
    #[serde(default)]
    pull_collections: Vec<String>,
    #[serde(default)]
    push_collection: Option<String>,
    /// The token this hub presents to the peer (Bearer)…
    #[serde(default)]
    token: Option<String>,
    /// …or HTTP Basic credentials (for example a medallion server).
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    direction: String,
    agreement: AgreementInput,
    /// The SHA-256 fingerprint of the client certificate the peer must present with
    /// its token (hex, colons allowed); absent keeps the current one, "" removes it.
    #[serde(default)]
    client_certificate_sha256: Option<String>,
}

/// A SHA-256 certificate fingerprint as `openssl x509 -fingerprint -sha256` prints it
/// (with or without the label and colons, any case), as lowercase hex.
pub fn parse_fingerprint(v: &str) -> std::result::Result<String, String> {
    let v = v.trim();
    let v = v.rsplit_once('=').map_or(v, |(_, f)| f);
    let hex: String = v.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
            v.chars().take(120).collect::<String>()
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

fn peer_from_input(s: &AppState, id: &str, inp: PeerInput, old: Option<&Peer>) -> Result<Peer> {
    if inp.name.trim().is_empty() || inp.name.len() > 200 {
        return Err(bad("name: 1 to 200 characters"));
    }
    hinomi_stix::check_identifier(&inp.identity_id)
        .ok()
        .filter(|(t, _)| *t == "identity")
        .ok_or_else(|| {
            bad(format!(
                "identity_id: '{}' is not a STIX identity id",
                inp.identity_id
            ))
        })?;
    let mut api_root = inp.api_root.trim().to_string();
    if !(api_root.starts_with("http://") || api_root.starts_with("https://"))
        || api_root.len() > 2000
    {
        return Err(bad("api_root: the peer's TAXII API root URL, http(s)://…/"));
    }
    if !api_root.ends_with('/') {
        api_root.push('/');
    }
    let crosses = Agreement {
        green: inp.agreement.green,
        amber: inp.agreement.amber,
        ..Agreement::default()
    };
    s.config
        .outbound
        .check_url(&api_root, carries(&crosses))
        .map_err(|e| bad(format!("api_root: {e}")))?;
    if !["pull", "push", "both"].contains(&inp.direction.as_str()) {
        return Err(bad(format!(
            "direction: '{}' is not one of pull, push, both",
            inp.direction
        )));
    }
    if inp.direction != "pull" && inp.push_collection.is_none() {
        return Err(bad(
            "push_collection: needed to push (the peer's collection that receives)",
        ));
    }
    if inp.direction != "push" && inp.pull_collections.is_empty() {
        return Err(bad(
            "pull_collections: name at least one remote collection to pull",
        ));
    }
    let cols = s.store.collections()?;
    let mut exported = Vec::new();
    for (i, c) in inp.agreement.exported_collections.iter().enumerate() {
        let col = cols
            .iter()
            .find(|x| &x.id == c || x.alias.as_deref() == Some(c.as_str()))
            .ok_or_else(|| {
                bad(format!(
                    "agreement.exported_collections[{i}]: no collection '{c}'"
                ))
            })?;
        if col.id == TOMBSTONES_COLLECTION {
            continue; // always exported
        }
        exported.push(col.id.clone());
    }
    // Stored sealed as the Authorization header value.
    let header = match (&inp.token, &inp.username) {
        (Some(_), Some(_)) => return Err(bad("token or username/password, not both")),
        (Some(t), None) if !t.is_empty() => Some(format!("Bearer {t}")),
        (None, Some(u)) => {
            use base64::Engine;
            let pass = inp.password.clone().unwrap_or_default();
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pass}"))
            ))
        }
        _ => None,
    };
    let credentials_sealed = match header {
        Some(h) => Some(s.config.notify.key.seal(h.as_bytes(), id.as_bytes())),
        None => old.and_then(|o| o.credentials_sealed.clone()),
    };
    let client_cert_sha256 = match inp.client_certificate_sha256.as_deref() {
        None => old.and_then(|o| o.client_cert_sha256.clone()),
        Some("") => None,
        Some(f) => {
            Some(parse_fingerprint(f).map_err(|e| bad(format!("client_certificate_sha256: {e}")))?)
        }
    };
    let now = s.config.clock.now();
    Ok(Peer {
        id: id.to_string(),
        client_cert_sha256,
        name: inp.name.trim().to_string(),
        country: inp.country,
        identity_id: inp.identity_id,
        api_root,
        pull_collections: inp.pull_collections,
        push_collection: inp.push_collection,
        credentials_sealed,
        direction: inp.direction,
        agreement: Agreement {
            green: inp.agreement.green,
            amber: inp.agreement.amber,
            one_community: inp.agreement.one_community,
            exported_collections: exported,
            exercise: inp.agreement.exercise,
            anonymize: inp.agreement.anonymize,
            forward: inp.agreement.forward,
        },
        created: old.map_or(now, |o| o.created),
        updated: now,
    })
}

/// The peer with its operational status.
fn peer_view(store: &Store, p: &Peer) -> Result<Value, StoreError> {
    let st = store.peer_status(&p.id)?;
    let mut pending = 0;
    let mut oldest: Option<i64> = None;
    if p.pushes() {
        for cid in exported(p) {
            let (added, _) = store.push_cursor(&p.id, &cid)?;
            let (n, first) = store.backlog(&cid, added)?;
            pending += n;
            oldest = match (oldest, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let now = Timestamp::now().micros();
    let mut v = p.to_json();
    v["status"] = json!({
        "last_pull": st.last_pull.map(|t| Timestamp(t).to_string()),
        "last_push": st.last_push.map(|t| Timestamp(t).to_string()),
        "last_error": st.last_error,
        "last_error_at": st.last_error_at.map(|t| Timestamp(t).to_string()),
        "objects": st.counts,
        "push_pending": pending,
        "push_lag_seconds": oldest.map(|o| ((now - o).max(0) as f64 / 1e6 * 10.0).round() / 10.0),
    });
    Ok(v)
}

/// Registers a peer (admin); the answer carries the token the peer uses with this hub,
/// shown once.
pub fn create_peer(s: &AppState, who: &Viewer, inp: PeerInput) -> Result<Value> {
    let admin = who.require_admin()?.org.id.clone();
    let id = uuid::Uuid::new_v4().to_string();
    let p = peer_from_input(s, &id, inp, None)?;
    let token = s.store.create_peer(&p, &admin)?;
    let mut v = peer_view(&s.store, &p)?;
    v["token"] = json!(token);
    s.wake_federation();
    Ok(v)
}

/// The peers with their status (admin).
pub fn list_peers(s: &AppState, who: &Viewer) -> Result<Value> {
    who.require_admin()?;
    let st = &s.store;
    let v = st
        .peers()?
        .iter()
        .map(|p| peer_view(st, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "peers": v }))
}

fn load_peer(s: &AppState, id: &str) -> Result<Peer> {
    s.store
        .peer(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("peer {id} not found")))
}

/// One peer with its status (admin).
pub fn get_peer(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    who.require_admin()?;
    let p = load_peer(s, id)?;
    Ok(peer_view(&s.store, &p)?)
}

/// Replaces a peer's settings and agreement (admin); `token` may be left out to keep
/// the stored one.
pub fn update_peer(s: &AppState, who: &Viewer, id: &str, inp: PeerInput) -> Result<Value> {
    let admin = who.require_admin()?.org.id.clone();
    let old = load_peer(s, id)?;
    if inp.identity_id != old.identity_id {
        return Err(bad(
            "identity_id: a peer's identity does not change; register a new peer",
        ));
    }
    let p = peer_from_input(s, &old.id, inp, Some(&old))?;
    s.store.update_peer(&p, &admin)?;
    s.federation_backoff.clear(&p.id);
    s.wake_federation();
    Ok(peer_view(&s.store, &p)?)
}

/// Disconnects a peer (admin).
pub fn delete_peer(s: &AppState, who: &Viewer, id: &str) -> Result<()> {
    let admin = who.require_admin()?.org.id.clone();
    let p = load_peer(s, id)?;
    s.store.disable_peer(&p.id, &admin)?;
    Ok(())
}

/// Pulls from and pushes to a peer now (admin); answers what moved.
pub fn sync_peer(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    who.require_admin()?;
    let p = load_peer(s, id)?;
    let agent = agent(&s.config);
    let fed = Fed {
        store: &s.store,
        key: &s.config.notify.key,
        agent: &agent,
        batch: s.config.federation.batch,
        state: Some(s),
        outbound: &s.config.outbound,
        config: &s.config.federation,
    };
    let _guard = s
        .federation_sync_lock
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match sync(&fed, &p) {
        Ok(rep) => {
            s.federation_backoff.clear(&p.id);
            s.wake_federation();
            Ok(rep.to_json())
        }
        Err(e) => Err(Error::new(Kind::Unavailable, e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceInput {
    organizations: Vec<String>,
}

/// The caller, if it may extend the audience of received objects (the coordinator).
pub fn may_extend(who: &Viewer) -> Result<&hinomi_store::Principal> {
    let p = who.require()?;
    if p.org.kind != OrgKind::Coordinator || !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "only the coordinator extends the audience of received objects",
        ));
    }
    Ok(p)
}

/// Extends the audience of an object received from a peer to named member
/// organizations (need-to-know; the coordinator only); audited.
pub fn extend_audience(s: &AppState, who: &Viewer, id: &str, inp: AudienceInput) -> Result<Value> {
    let p = may_extend(who)?.clone();
    let orgs = s.store.organizations()?;
    let mut identities = vec![p.org.identity_id.clone()];
    for (i, o) in inp.organizations.iter().enumerate() {
        let org = orgs
            .iter()
            .find(|x| (&x.id == o || &x.identity_id == o) && x.kind.is_member())
            .ok_or_else(|| bad(format!("organizations[{i}]: no member organization '{o}'")))?;
        identities.push(org.identity_id.clone());
    }
    let n = s
        .store
        .extend_audience(FEDERATION_COLLECTION, id, &identities, &p.org.id)?;
    if n == 0 {
        return Err(Error::new(
            Kind::NotFound,
            format!("no object '{id}' received from a peer"),
        ));
    }
    if id.starts_with("indicator--") {
        // Matching knows the audience: the members extended to match it from now on.
        super::index::refresh(s, id)?;
    }
    Ok(json!({"versions": n}))
}

/// Ingest for a peer hub posting to this hub's TAXII (push from the peer's side): the
/// TAXII status of the envelope.
pub fn ingest_status(
    store: &Store,
    state: &AppState,
    peer_org: &str,
    objects: Vec<Value>,
) -> Result<Value, StoreError> {
    let Some(peer) = store.peer(peer_org)? else {
        return Err(StoreError::Invalid(
            "this peer hub is not registered (or disconnected)".into(),
        ));
    };
    let total = objects.len();
    let r = ingest(store, Some(state), &peer, objects)?;
    state.metrics.federation(
        &peer.name,
        "in",
        &r.by_tlp
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>(),
    );
    let _ = store.record_sync(
        &peer.id,
        "in",
        Ok(&r.by_tlp.into_iter().collect::<Vec<_>>()),
        Timestamp::now().micros(),
    );
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for (id, version, err) in r.per_object {
        match err {
            None => successes.push(json!({"id": id, "version": version})),
            Some(m) => failures.push(json!({"id": id, "version": version, "message": m})),
        }
    }
    let mut status = json!({
        "id": uuid::Uuid::new_v4().to_string(), "status": "complete",
        "request_timestamp": Timestamp::now().to_string(), "total_count": total,
        "success_count": successes.len(), "failure_count": failures.len(), "pending_count": 0,
    });
    if !successes.is_empty() {
        status["successes"] = Value::Array(successes);
    }
    if !failures.is_empty() {
        status["failures"] = Value::Array(failures);
    }
    Ok(status)
}

/// When each failing peer is tried again. An entry is forgotten when the sync succeeds
/// (from the worker or on demand) and when the peer's registration changes, so a fixed
/// peer is tried at once rather than after the grown delay.
#[derive(Default)]
pub struct Backoff(Mutex<HashMap<String, (Instant, u32, Timestamp)>>);

impl Backoff {
    /// Whether `peer` is still waiting after a failure under its current registration.
    pub fn waiting(&self, peer: &Peer) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(&peer.id) {
            Some((_, _, updated)) if *updated != peer.updated => {
                m.remove(&peer.id);
                false
            }
            Some((until, _, _)) => Instant::now() < *until,
            None => false,
        }
    }

    /// Records a failure: the wait doubles from `retry_first` up to `retry_max`.
    pub fn failed(&self, peer: &Peer, c: &FederationConfig) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.get(&peer.id).map_or(0, |(_, n, _)| *n);
        let wait = c
            .retry_first
            .saturating_mul(1u32 << n.min(16))
            .min(c.retry_max.max(c.retry_first));
        m.insert(
            peer.id.clone(),
            (Instant::now() + wait, n + 1, peer.updated),
        );
    }

    pub fn clear(&self, peer_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer_id);
    }
}

/// A lock so on-demand syncs of the REST API do not run two at once.
pub type SyncLock = Mutex<()>;
