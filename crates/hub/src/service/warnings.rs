//! Warnings: the lifecycle
//! (draft → published → updated → withdrawn), who receives a warning (its audience,
//! narrowed by the access rule and the recipients' subscription filters), the STIX
//! objects that carry it over TAXII (a `report`, a `course-of-action` for the required
//! action, `language-content` for the translations), acknowledgement and remediation
//! status, and the coordinator's tracking view.
//!
//! Invariant: a warning reaches an organization (outbox, feed, recipient list) only if
//! [`hinomi_access::Scope::allows`] lets that organization read the warning's report.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::{Item, OrgKind, Scope};
use hinomi_stix::{check_object, Timestamp, Tlp, HUB_EXTENSION_ID};
use hinomi_store::{
    Community, NewDelivery, NewEvent, NewObject, OrgSettings, Organization, Principal, Publication,
    Recipient, StatusReport, Store, StoreError, WarningRow, WARNINGS_COLLECTION,
};

use super::{derived_uuid, parse_cursor, Error, Kind, Result, Viewer};
use crate::AppState;

/// Warning severities, least severe first.
pub const SEVERITIES: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// Status reports a recipient may give, in the order of a typical response.
pub const STATUSES: [&str; 5] = [
    "acknowledged",
    "not-affected",
    "affected",
    "mitigating",
    "remediated",
];

/// The rank of a severity (0 = informational … 4 = critical).
pub fn severity_rank(s: &str) -> Option<usize> {
    SEVERITIES.iter().position(|x| *x == s)
}

/// The Japanese label of a severity.
pub fn severity_ja(s: &str) -> &'static str {
    match s {
        "critical" => "緊急",
        "high" => "重要",
        "medium" => "警告",
        "low" => "注意",
        _ => "情報",
    }
}

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

/// Texts by language tag; English is required.
type Texts = BTreeMap<String, String>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AudienceInput {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    organizations: Vec<String>,
    #[serde(default)]
    communities: Vec<String>,
}

/// The body of `POST /api/v1/warnings` and `PUT /api/v1/warnings/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningInput {
    title: Texts,
    summary: Texts,
    #[serde(default)]
    required_action: Option<Texts>,
    severity: String,
    #[serde(default)]
    tlp: Option<String>,
    audience: AudienceInput,
    #[serde(default)]
    action_due: Option<String>,
    #[serde(default)]
    ack_required: Option<bool>,
    #[serde(default)]
    ack_due: Option<String>,
    #[serde(default)]
    exercise: bool,
    #[serde(default)]
    report_types: Vec<String>,
    #[serde(default)]
    objects: Vec<Value>,
    /// For an update of a published warning: what changed, told to recipients.
    #[serde(default)]
    changes: Option<String>,
}

fn check_texts(field: &str, t: &Texts, max: usize) -> Result<()> {
    if t.get("en").is_none_or(|s| s.trim().is_empty()) {
        return Err(bad(format!(
            "{field}.en: an English text is required (add 'ja' for Japanese)"
        )));
    }
    for (lang, text) in t {
        let ok = !lang.is_empty()
            && lang.len() <= 12
            && lang
                .split('-')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return Err(bad(format!(
                "{field}: '{lang}' is not a language tag (use en, ja, …)"
            )));
        }
        if text.len() > max {
            return Err(bad(format!("{field}.{lang}: longer than {max} bytes")));
        }
    }
    Ok(())
}

fn parse_time(field: &str, s: &Option<String>) -> Result<Option<Timestamp>> {
    s.as_deref()
        .map(|v| Timestamp::parse(v).map_err(|e| bad(format!("{field}: {e}"))))
        .transpose()
}

/// A checked warning input.
struct CheckedWarning {
    /// The stored document (`ack_required_asked` set when the input said).
    doc: Value,
    severity: String,
    tlp: Tlp,
    exercise: bool,
}

/// Checks a warning input and turns it into the stored document. `now` is the
/// creation time of a new warning.
fn document_from_input(
    s: &AppState,
    p: &Principal,
    inp: WarningInput,
    orgs: &[Organization],
    communities: &[Community],
) -> Result<CheckedWarning> {
    check_texts("title", &inp.title, 500)?;
    check_texts("summary", &inp.summary, 20_000)?;
    if let Some(a) = &inp.required_action {
        check_texts("required_action", a, 20_000)?;
    }
    if severity_rank(&inp.severity).is_none() {
        return Err(bad(format!(
            "severity: '{}' is not one of {}",
            inp.severity,
            SEVERITIES.join(", ")
        )));
    }
    let tlp = match &inp.tlp {
        Some(t) => t.parse::<Tlp>().map_err(|e| bad(format!("tlp: {e}")))?,
        None => s.config.default_tlp,
    };
    let a = &inp.audience;
    let coordinator = p.org.kind == OrgKind::Coordinator;
    if !coordinator && (a.all || !a.sectors.is_empty()) {
        return Err(Error::new(
            Kind::Forbidden,
            "audience: only the coordinator may address all members or whole sectors; name organizations or communities you belong to",
        ));
    }
    if !a.all && a.sectors.is_empty() && a.organizations.is_empty() && a.communities.is_empty() {
        return Err(bad(
            "audience: name at least one of all, sectors, organizations, communities",
        ));
    }
    for (field, list) in [
        ("organizations", &a.organizations),
        ("sectors", &a.sectors),
        ("communities", &a.communities),
    ] {
        if list.len() > hinomi_stix::MAX_AUDIENCE {
            return Err(bad(format!(
                "audience.{field}: {} entries; at most {}",
                list.len(),
                hinomi_stix::MAX_AUDIENCE
            )));
        }
    }
    let members: HashSet<&str> = orgs
        .iter()
        .filter(|x| x.kind.is_member())
        .flat_map(|x| [x.id.as_str(), x.identity_id.as_str()])
        .collect();
    for (i, o) in a.organizations.iter().enumerate() {
        if !members.contains(o.as_str()) {
            return Err(bad(format!(
                "audience.organizations[{i}]: no member organization '{o}'"
            )));
        }
    }
    for (i, c) in a.communities.iter().enumerate() {
        let Some(comm) = communities
            .iter()
            .find(|x| &x.id == c || &x.identity_id == c)
        else {
            return Err(bad(format!(
                "audience.communities[{i}]: no community '{c}'"
            )));
        };
        if !coordinator && !comm.members.contains(&p.org.id) {
            return Err(Error::new(
                Kind::Forbidden,
                format!("audience.communities[{i}]: your organization is not a member of community '{c}'"),
            ));
        }
    }
    if tlp == Tlp::Red && a.all {
        return Err(bad(
            "tlp: a TLP:RED warning must name its recipients (organizations or communities), not all members",
        ));
    }
    let action_due = parse_time("action_due", &inp.action_due)?;
    let ack_due = parse_time("ack_due", &inp.ack_due)?;
    if inp.report_types.len() > 20
        || inp
            .report_types
            .iter()
            .any(|t| t.is_empty() || t.len() > 100)
    {
        return Err(bad("report_types: at most 20 non-empty names"));
    }
    for (i, o) in inp.objects.iter().enumerate() {
        let checked = check_object(o.clone()).map_err(|e| {
            let path = if e.path.is_empty() {
                format!("objects[{i}]")
            } else {
                format!("objects[{i}].{}", e.path)
            };
            bad(format!("{path}: {}", e.message))
        })?;
        if let Some(c) = &checked.created_by_ref {
            if c != &p.org.identity_id {
                return Err(bad(format!(
                    "objects[{i}].created_by_ref: must be your organization's identity {}",
                    p.org.identity_id
                )));
            }
        }
        if checked.object_type == "report" {
            return Err(bad(format!(
                "objects[{i}]: the warning is the report; give its indicators, vulnerabilities and courses of action"
            )));
        }
    }
    let doc = json!({
        "title": inp.title,
        "summary": inp.summary,
        "required_action": inp.required_action,
        "severity": inp.severity,
        "tlp": tlp.label(),
        "audience": {"all": a.all, "sectors": a.sectors, "organizations": a.organizations, "communities": a.communities},
        "action_due": action_due.map(|t| t.to_string()),
        "ack_due": ack_due.map(|t| t.to_string()),
        "exercise": inp.exercise,
        "report_types": if inp.report_types.is_empty() { vec!["threat-report".to_string()] } else { inp.report_types },
        "objects": inp.objects,
    });
    let mut doc = doc;
    if let Some(a) = inp.ack_required {
        doc["ack_required_asked"] = json!(a);
    }
    Ok(CheckedWarning {
        doc,
        severity: inp.severity,
        tlp,
        exercise: inp.exercise,
    })
}

/// The acknowledgement due time: the warning's own, else its severity's policy window
/// from `from`; and whether an acknowledgement is required at all.
fn ack_terms(
    s: &AppState,
    severity: &str,
    asked: Option<bool>,
    due: Option<Timestamp>,
    from: Timestamp,
) -> (bool, Option<i64>) {
    let window = s.config.notify.ack_window(severity);
    let required = asked.unwrap_or(window.is_some() || due.is_some());
    if !required {
        return (false, None);
    }
    let due = due.map(Timestamp::micros).or_else(|| {
        Some(
            from.micros()
                + window
                    .unwrap_or(std::time::Duration::from_secs(86_400))
                    .as_micros() as i64,
        )
    });
    (true, due)
}

/// Who the audience names: member organization ids, and the identity ids the STIX
/// report's audience lists.
fn resolve_audience(
    doc: &Value,
    tlp: Tlp,
    owner: &str,
    orgs: &[Organization],
    communities: &[Community],
) -> (Vec<String>, Vec<String>) {
    let a = &doc["audience"];
    let list = |k: &str| -> Vec<String> {
        a[k].as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all = a["all"].as_bool().unwrap_or(false);
    let sectors = list("sectors");
    let named = list("organizations");
    let comms = list("communities");
    let mut ids: Vec<String> = Vec::new();
    let mut identities: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut add =
        |o: &Organization, ids: &mut Vec<String>, identities: &mut Vec<String>, named: bool| {
            if o.kind.is_member() && o.id != owner && seen.insert(o.id.clone()) {
                ids.push(o.id.clone());
                if named {
                    identities.push(o.identity_id.clone());
                }
            }
        };
    // GREEN and CLEAR reach every member anyway; a list of every identity adds nothing.
    let list_all = tlp > Tlp::Green;
    for o in orgs {
        if all {
            add(o, &mut ids, &mut identities, list_all);
        } else if o.sectors.iter().any(|s| sectors.contains(s))
            || named.iter().any(|n| n == &o.id || n == &o.identity_id)
        {
            add(o, &mut ids, &mut identities, true);
        }
    }
    for c in communities {
        if comms.iter().any(|n| n == &c.id || n == &c.identity_id) {
            identities.push(c.identity_id.clone());
            for m in &c.members {
                if let Some(o) = orgs.iter().find(|o| &o.id == m) {
                    add(o, &mut ids, &mut identities, false);
                }
            }
        }
    }
    identities.sort();
    identities.dedup();
    (ids, identities)
}

/// Whether an organization's subscription filters take a warning.
fn filters_take(settings: &OrgSettings, doc: &Value, severity: &str) -> bool {
    let rank = severity_rank(severity).unwrap_or(0);
    if rank < severity_rank(&settings.min_severity).unwrap_or(0) {
        return false;
    }
    let strs = |k: &str| -> Vec<&str> {
        doc[k]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    if !settings.sectors.is_empty() {
        let concerned = doc["audience"]["sectors"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        if !concerned.is_empty()
            && !concerned
                .iter()
                .any(|s| settings.sectors.iter().any(|x| x == s))
        {
            return false;
        }
    }
    if !settings.report_types.is_empty()
        && !strs("report_types")
            .iter()
            .any(|t| settings.report_types.iter().any(|x| x == t))
    {
        return false;
    }
    true
}

/// The STIX objects of one version of a warning.
fn stix_objects(
    w: &WarningRow,
    owner_identity: &str,
    audience: &[String],
    modified: Timestamp,
    published: Timestamp,
) -> Result<Vec<NewObject>> {
    let doc = &w.body;
    let marking = w.tlp.marking_id();
    let ext = |extra: Value| {
        let mut e = json!({"extension_type": "property-extension", "audience": audience, "exercise": w.exercise});
        if let (Some(m), Value::Object(x)) = (e.as_object_mut(), extra) {
            m.extend(x);
        }
        json!({ HUB_EXTENSION_ID: e })
    };
    let created = Timestamp(w.created).to_string();
    let modified_s = modified.to_string();
    let en = |k: &str| doc[k]["en"].as_str().unwrap_or("").to_string();
    let report_id = format!("report--{}", w.id);
    let coa_id = format!(
        "course-of-action--{}",
        derived_uuid(&format!("{}/action", w.id))
    );
    let mut refs = vec![coa_id.clone()];
    let mut out: Vec<Value> = Vec::new();
    for o in doc["objects"].as_array().into_iter().flatten() {
        let mut o = o.clone();
        if let Some(id) = o["id"].as_str() {
            refs.push(id.to_string());
        }
        // Objects without handling of their own travel under the warning's.
        if o.get("object_marking_refs").is_none() && o.get("extensions").is_none() {
            o["object_marking_refs"] = json!([marking]);
            o["extensions"] = ext(json!({}));
        }
        out.push(o);
    }
    let action_en = doc["required_action"]["en"]
        .as_str()
        .unwrap_or("No action is required; for information.");
    out.push(json!({
        "type": "course-of-action", "spec_version": "2.1", "id": coa_id,
        "created": created, "modified": modified_s, "created_by_ref": owner_identity,
        "name": "Required action", "description": action_en, "lang": "en",
        "revoked": w.state == "withdrawn",
        "object_marking_refs": [marking], "extensions": ext(json!({})),
    }));
    let mut report = json!({
        "type": "report", "spec_version": "2.1", "id": report_id,
        "created": created, "modified": modified_s, "created_by_ref": owner_identity,
        "name": en("title"), "description": en("summary"), "lang": "en",
        "published": published.to_string(),
        "report_types": doc["report_types"].clone(),
        "object_refs": refs,
        "object_marking_refs": [marking],
        "extensions": ext(json!({"warning": {
            "severity": w.severity, "version": w.version, "state": w.state,
            "ack_required": w.ack_required,
            "ack_due": w.ack_due.map(|t| Timestamp(t).to_string()),
            "action_due": doc["action_due"].clone(),
        }})),
    });
    if w.state == "withdrawn" {
        report["revoked"] = json!(true);
    }
    out.push(report);
    // Translations: one language-content per translated object.
    for (object_ref, fields) in [
        (
            format!("report--{}", w.id),
            [("title", "name"), ("summary", "description")],
        ),
        (
            coa_id.clone(),
            [("required_action", "description"), ("", "")],
        ),
    ] {
        let mut contents = serde_json::Map::new();
        for (k, prop) in fields.iter().filter(|(k, _)| !k.is_empty()) {
            for (lang, text) in doc[*k].as_object().into_iter().flatten() {
                if lang == "en" {
                    continue;
                }
                let e = contents.entry(lang.clone()).or_insert_with(|| json!({}));
                e[*prop] = text.clone();
            }
        }
        if contents.is_empty() {
            continue;
        }
        out.push(json!({
            "type": "language-content", "spec_version": "2.1",
            "id": format!("language-content--{}", derived_uuid(&format!("{}/lang/{object_ref}", w.id))),
            "created": created, "modified": modified_s, "created_by_ref": owner_identity,
            "object_ref": object_ref, "object_modified": modified_s,
            "contents": contents,
            "object_marking_refs": [marking], "extensions": ext(json!({})),
        }));
    }
    out.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let c = check_object(v).map_err(|e| {
                bad(format!(
                    "stix object {i} of the warning: {}: {}",
                    e.path, e.message
                ))
            })?;
            let tlp = c.tlp.unwrap_or(w.tlp);
            let values = super::correlation::values_of(&c.value);
            Ok(NewObject::new(c, tlp).with_observables(values, None))
        })
        .collect()
}

/// What a recipient is told about a version (webhook `data`, feed event, e-mail).
pub fn notice(
    w: &WarningRow,
    event: &str,
    changes: Option<&str>,
    detail: Option<&Value>,
    links: &Value,
) -> Value {
    let d = &w.body;
    let mut n = json!({
        "id": w.id, "event": event, "version": w.version, "state": w.state,
        "severity": w.severity, "tlp": w.tlp.label(), "exercise": w.exercise,
        "title": d["title"], "summary": d["summary"], "required_action": d["required_action"],
        "action_due": d["action_due"], "ack_required": w.ack_required,
        "ack_due": w.ack_due.map(|t| Timestamp(t).to_string()),
        "report_types": d["report_types"], "stix_report": format!("report--{}", w.id),
        "published": d["published"], "updated": Timestamp(w.updated).to_string(),
        "issuer": d["issuer"], "links": links,
    });
    if let Some(c) = changes {
        n["changes"] = json!(c);
    }
    if let Some(x) = detail {
        n["for_you"] = x.clone();
    }
    n
}

/// Links of a warning version for one recipient organization. The acknowledgement link
/// is signed with the hub's key over the warning, the organization, the version and the
/// expiry (the version's time plus `ack_link_ttl`), so it is the same on every retry of
/// one delivery and stops working when it expires or the warning changes.
pub fn links(s: &AppState, w: &WarningRow, org_id: &str) -> Value {
    let base = s.config.notify.public_url.trim_end_matches('/');
    let exp = (w.updated.div_euclid(1_000_000))
        .saturating_add(s.config.notify.ack_link_ttl.as_secs() as i64);
    let sig = s.config.notify.key.mac(
        "ack-link",
        ack_message(&w.id, org_id, w.version, exp).as_bytes(),
    );
    json!({
        "self": format!("{base}/api/v1/warnings/{}", w.id),
        "acknowledge": format!("{base}/api/v1/warnings/{}/ack?org={org_id}&v={}&exp={exp}&sig={sig}", w.id, w.version),
    })
}

fn ack_message(id: &str, org: &str, version: i64, exp: i64) -> String {
    format!("{id}|{org}|{version}|{exp}")
}

/// Publishes (first version), updates (a new version) or withdraws a warning: decides
/// the recipients under the access rule and the filters, writes the version, its STIX
/// objects, the outbox and the feed events at once.
pub fn publish(
    s: &AppState,
    mut w: WarningRow,
    event: &str,
    changes: Option<String>,
    actor: &str,
    details: &HashMap<String, Value>,
) -> Result<WarningRow, Error> {
    let store: &Store = &s.store;
    let now = s.config.clock.now();
    let orgs = store.organizations()?;
    let communities = store.communities()?;
    let owner = orgs
        .iter()
        .find(|o| o.id == w.owner_org)
        .ok_or_else(|| Error::internal("the warning's owner organization is gone"))?
        .clone();
    let previous_version = w.version;
    let prev_modified = w.body["modified"]
        .as_str()
        .and_then(|t| Timestamp::parse(t).ok());
    // Each version's `modified` is later than the last one, whatever the clock says.
    let modified = Timestamp(
        now.micros()
            .max(prev_modified.map_or(0, |t| t.micros() + 1000)),
    );
    let published = w.body["published"]
        .as_str()
        .and_then(|t| Timestamp::parse(t).ok())
        .unwrap_or(modified);
    w.version += 1;
    w.updated = now.micros();
    w.state = if event == "withdrawn" {
        "withdrawn"
    } else {
        "published"
    }
    .into();
    if event == "published" {
        let (req, due) = ack_terms(
            s,
            &w.severity,
            w.body["ack_required_asked"].as_bool(),
            w.body["ack_due"]
                .as_str()
                .and_then(|t| Timestamp::parse(t).ok()),
            now,
        );
        w.ack_required = req;
        w.ack_due = due;
    }
    w.body["modified"] = json!(modified.to_string());
    w.body["published"] = json!(published.to_string());
    // Every channel names who issued it, as the hub knew it when this version went out.
    w.body["issuer"] = json!({
        "organization_id": owner.id, "name": owner.name, "identity_id": owner.identity_id,
        "coordinator": owner.kind == OrgKind::Coordinator,
    });
    w.body["state"] = json!(w.state);
    w.body["version"] = json!(w.version);

    let (candidates, stix_audience) =
        resolve_audience(&w.body, w.tlp, &w.owner_org, &orgs, &communities);
    w.body["stix_audience"] = json!(stix_audience);
    let objects = stix_objects(&w, &owner.identity_id, &stix_audience, modified, published)?;
    let item_audience = stix_audience.clone();
    let item = Item {
        owner_org: &w.owner_org,
        tlp: w.tlp,
        audience: &item_audience,
    };
    let by_id: HashMap<&str, &Organization> = orgs.iter().map(|o| (o.id.as_str(), o)).collect();
    let existing: Vec<Recipient> = store.recipients(&w.id)?;
    let existing_ids: HashSet<String> = existing.iter().map(|r| r.org_id.clone()).collect();

    // Who may read it: the one access rule, per organization.
    let mut targets: Vec<&Organization> = Vec::new();
    let mut new_recipients = Vec::new();
    let mut excluded = 0usize;
    let pool: Vec<String> = if event == "withdrawn" {
        existing.iter().map(|r| r.org_id.clone()).collect()
    } else {
        let mut v: Vec<String> = existing.iter().map(|r| r.org_id.clone()).collect();
        v.extend(
            candidates
                .iter()
                .filter(|c| !existing_ids.contains(*c))
                .cloned(),
        );
        v
    };
    for id in &pool {
        // Suspended and removed organizations receive nothing.
        let Some(org) = by_id.get(id.as_str()).filter(|o| o.is_active()) else {
            continue;
        };
        let reader = super::org_reader(&org.id, org.kind, &org.identity_id, &communities, false);
        if !Scope::for_reader(&reader).allows(&item) {
            excluded += 1;
            continue;
        }
        if !existing_ids.contains(id) {
            new_recipients.push(Recipient {
                org_id: id.clone(),
                since_version: w.version,
                detail: details.get(id).cloned(),
            });
        }
        targets.push(org);
    }
    if excluded > 0 {
        tracing::info!(warning = %w.id, excluded, "audience members the access rule excludes get nothing");
    }
    let settings: HashMap<String, OrgSettings> = store
        .all_org_settings()?
        .into_iter()
        .map(|x| (x.org_id.clone(), x))
        .collect();
    let mut hooks: HashMap<String, Vec<String>> = HashMap::new();
    for h in store.webhooks(None)? {
        hooks.entry(h.org_id).or_default().push(h.id);
    }
    let mut mails: HashMap<String, Vec<String>> = HashMap::new();
    // Without a relay no e-mail entries are written (they could never be sent).
    let contacts = if s.config.notify.smtp.is_some() {
        store.contacts(None)?
    } else {
        vec![]
    };
    for c in contacts {
        if c.role == "primary" {
            mails.entry(c.org_id).or_default().push(c.email);
        }
    }
    let mut deliveries = Vec::new();
    let mut events = Vec::new();
    let recipient_detail: HashMap<String, Option<Value>> = existing
        .iter()
        .map(|r| (r.org_id.clone(), r.detail.clone()))
        .chain(
            new_recipients
                .iter()
                .map(|r| (r.org_id.clone(), r.detail.clone())),
        )
        .collect();
    for org in &targets {
        let st = settings
            .get(&org.id)
            .cloned()
            .unwrap_or_else(|| OrgSettings::default_for(&org.id));
        let detail = recipient_detail.get(&org.id).cloned().flatten();
        events.push(NewEvent {
            org_id: org.id.clone(),
            event: format!("warning.{event}"),
            warning_id: Some(w.id.clone()),
            data: notice(
                &w,
                event,
                changes.as_deref(),
                detail.as_ref(),
                &links(s, &w, &org.id),
            ),
        });
        if !filters_take(&st, &w.body, &w.severity) {
            continue;
        }
        for h in hooks.get(&org.id).into_iter().flatten() {
            deliveries.push(NewDelivery {
                org_id: org.id.clone(),
                channel: "webhook".into(),
                target: h.clone(),
                event: event.into(),
            });
        }
        for m in mails.get(&org.id).into_iter().flatten() {
            deliveries.push(NewDelivery {
                org_id: org.id.clone(),
                channel: "email".into(),
                target: m.clone(),
                event: event.into(),
            });
        }
    }
    // The owner's own feed shows its publications too.
    events.push(NewEvent {
        org_id: w.owner_org.clone(),
        event: format!("warning.{event}"),
        warning_id: Some(w.id.clone()),
        data: notice(&w, event, changes.as_deref(), None, &json!({})),
    });
    let n_deliveries = deliveries.len();
    store.apply_publication(Publication {
        warning: w.clone(),
        previous_version,
        event: event.into(),
        changes,
        collection_id: WARNINGS_COLLECTION.into(),
        objects,
        recipients: new_recipients,
        deliveries,
        events,
        actor_org: actor.into(),
        now: now.micros(),
    })?;
    if !w.exercise {
        s.metrics.warning_published(n_deliveries as u64);
    }
    s.wake_delivery();
    s.wake_stream();
    Ok(w)
}

/// The warning as `p` may see it, or 404 (a warning `p` may not see does not exist for
/// it).
/// Whether the caller may see a warning: its issuer always; others not while it is a
/// draft, and then as [`Viewer::sees`] decides for the warning's report.
pub fn visible(who: &Viewer, w: &WarningRow) -> bool {
    if who.scope.owner.as_deref() == Some(w.owner_org.as_str()) {
        return true;
    }
    if w.state == PENDING_APPROVAL {
        return who
            .principal
            .as_ref()
            .is_some_and(|p| p.org.kind == OrgKind::Coordinator);
    }
    if w.state == "draft" {
        return false;
    }
    let audience: Vec<String> = w.body["stix_audience"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let item = Item {
        owner_org: &w.owner_org,
        tlp: w.tlp,
        audience: &audience,
    };
    who.sees(&item, &report_marks(w))
}

/// What the export view looks at in a warning's report: the exercise flag.
fn report_marks(w: &WarningRow) -> Value {
    json!({"type": "report", "extensions": {HUB_EXTENSION_ID: {"exercise": w.exercise}}})
}

fn can_track(p: &Principal, w: &WarningRow, seen: bool) -> bool {
    w.owner_org == p.org.id || (p.org.kind == OrgKind::Coordinator && seen)
}

/// The warning as an API answer. `full`: for those who track it (its issuer, the
/// coordinator), with whom it was addressed to; others see the warning, not its
/// recipients.
fn view(w: &WarningRow, full: bool, own_detail: Option<&Value>) -> Value {
    let mut v = w.body.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("ack_required_asked");
        if !full {
            for k in ["recipient_details", "audience", "stix_audience"] {
                m.remove(k);
            }
        }
    }
    v["id"] = json!(w.id);
    v["owner_organization"] = json!(w.owner_org);
    v["state"] = json!(w.state);
    v["version"] = json!(w.version);
    v["severity"] = json!(w.severity);
    v["tlp"] = json!(w.tlp.label());
    v["exercise"] = json!(w.exercise);
    v["ack_required"] = json!(w.ack_required);
    v["ack_due"] = json!(w.ack_due.map(|t| Timestamp(t).to_string()));
    v["created"] = json!(Timestamp(w.created).to_string());
    v["updated"] = json!(Timestamp(w.updated).to_string());
    if w.state != "draft" {
        v["stix_report"] = json!(format!("report--{}", w.id));
    }
    if let Some(d) = own_detail {
        v["for_you"] = d.clone();
    }
    v
}

fn load(s: &AppState, id: &str) -> Result<WarningRow> {
    s.store
        .warning(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("warning {id} not found")))
}

/// The caller, if its token may write warnings.
pub fn writer(who: &Viewer) -> Result<Principal> {
    let p = who.require()?.clone();
    if !p.role.can_write() || p.org.kind == OrgKind::PeerHub {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not write warnings",
        ));
    }
    Ok(p)
}

fn context(s: &AppState) -> Result<(Vec<Organization>, Vec<Community>)> {
    Ok((s.store.organizations()?, s.store.communities()?))
}

fn row_from(
    id: String,
    owner: &str,
    doc: Value,
    severity: String,
    tlp: Tlp,
    exercise: bool,
    now: i64,
) -> WarningRow {
    WarningRow {
        id,
        owner_org: owner.to_string(),
        state: "draft".into(),
        version: 0,
        severity,
        tlp,
        exercise,
        ack_required: false,
        ack_due: None,
        created: now,
        updated: now,
        body: doc,
    }
}

/// For a warning drafted from an incident: every report it drew from still consents, as
/// it did when the draft was made (a reporter may withdraw consent before publication).
fn consent_holds(s: &AppState, id: &str) -> Result<()> {
    let Some(o) = s.store.warning_origin(id)? else {
        return Ok(());
    };
    let named = o.kept["reporter"] == true;
    for r in &o.reports {
        let ok = s
            .store
            .report(r)?
            .is_some_and(|r| r.share_anonymized && (!named || r.share_named));
        if !ok {
            return Err(Error::new(
                Kind::Forbidden,
                format!("report {r}: its reporter no longer consents to this warning; draft it again from the incident"),
            ));
        }
    }
    Ok(())
}

/// A new draft, issued by the caller's organization.
pub fn create(s: &AppState, who: &Viewer, inp: WarningInput) -> Result<Value> {
    let w = checked_draft(s, who, inp)?;
    s.store.create_warning(&w)?;
    Ok(draft_view(&w))
}

/// The draft a warning input makes, checked as [`create`] checks it, not yet stored.
/// What [`create`] would draft, checked the same way, without storing anything (the
/// authoring page's preview).
pub fn preview(s: &AppState, who: &Viewer, inp: WarningInput) -> Result<Value> {
    let mut v = draft_view(&checked_draft(s, who, inp)?);
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    Ok(v)
}

pub fn checked_draft(s: &AppState, who: &Viewer, inp: WarningInput) -> Result<WarningRow> {
    let p = writer(who)?;
    let (orgs, comms) = context(s)?;
    let CheckedWarning {
        doc,
        severity,
        tlp,
        exercise,
    } = document_from_input(s, &p, inp, &orgs, &comms)?;
    let now = s.config.clock.now().micros();
    Ok(row_from(
        uuid::Uuid::new_v4().to_string(),
        &p.org.id,
        doc,
        severity,
        tlp,
        exercise,
        now,
    ))
}

/// A draft as its issuer sees it.
pub fn draft_view(w: &WarningRow) -> Value {
    view(w, true, None)
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<String>,
    pub severity: Option<String>,
    /// Words that must all occur in the title or summary (any language), case-folded.
    pub q: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// Warnings per page (1 to 1000, default 100).
    pub limit: Option<usize>,
}

/// Whether every word of `words` occurs in the warning's titles or summaries.
fn matches_words(w: &WarningRow, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let mut hay = String::new();
    for k in ["title", "summary"] {
        if let Some(m) = w.body[k].as_object() {
            for v in m.values().filter_map(Value::as_str) {
                hay.push_str(&v.to_lowercase());
                hay.push('\n');
            }
        }
    }
    words.iter().all(|x| hay.contains(x.as_str()))
}

/// How many stored warnings one page looks at, at most, whatever the caller may see of
/// them: a page costs what its size says, and `next` goes on from where it stopped.
const LIST_SCAN: usize = 5000;
/// [`LIST_SCAN`] for a search by the public.
const PUBLIC_SEARCH_SCAN: usize = 1000;

/// The warnings the caller may see, newest change first, a page at a time: the page and
/// the cursor of the next one (None at the end).
pub fn list(s: &AppState, who: &Viewer, q: &ListQuery) -> Result<(Vec<Value>, Option<String>)> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut cursor = q.before.as_deref().map(parse_cursor).transpose()?;
    let text = q.q.as_deref().unwrap_or("");
    if text.len() > 200 {
        return Err(bad("q: at most 200 bytes"));
    }
    let words: Vec<String> = text
        .split_whitespace()
        .take(10)
        .map(str::to_lowercase)
        .collect();
    // The public's searches look at fewer warnings per page (the page says where to go
    // on): anyone may send them, so each costs less.
    let scan = if who.principal.is_none() && !words.is_empty() {
        PUBLIC_SEARCH_SCAN
    } else {
        LIST_SCAN
    };
    let p = who.principal.as_ref();
    let hub = hub_org(s, who)?;
    let batch = (limit * 2).clamp(50, 1000);
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        let rows = s.store.warnings_page(
            q.state.as_deref(),
            q.severity.as_deref(),
            cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
            batch,
        )?;
        let exhausted = rows.len() < batch;
        for w in &rows {
            scanned += 1;
            cursor = Some((w.updated, w.id.clone()));
            if visible(who, w) && matches_words(w, &words) {
                let v = view(w, p.is_some_and(|p| can_track(p, w, true)), None);
                items.push(rendered(who, hub.as_deref(), v));
                if items.len() == limit {
                    break;
                }
            }
        }
        if items.len() == limit || scanned >= scan {
            break;
        }
        if exhausted {
            return Ok((items, None));
        }
    }
    Ok((items, cursor.map(|(t, id)| format!("{t}/{id}"))))
}

/// A page of [`list`] for an organization's inbox: each warning also says whether it
/// was addressed to the caller's organization (`addressed`) and the latest status the
/// organization reported on it (`your_status`).
pub fn inbox(s: &AppState, who: &Viewer, q: &ListQuery) -> Result<(Vec<Value>, Option<String>)> {
    let p = who.require()?;
    let (mut items, next) = list(s, who, q)?;
    let ids: Vec<String> = items
        .iter()
        .filter_map(|v| v["id"].as_str().map(String::from))
        .collect();
    let marks = s.store.inbox_marks(&p.org.id, &ids)?;
    for v in &mut items {
        let m = v["id"].as_str().and_then(|id| marks.get(id));
        v["addressed"] = json!(m.is_some());
        v["your_status"] = json!(m.cloned().flatten());
    }
    Ok((items, next))
}

/// For a viewer that anonymizes (a peer hub whose agreement says so): the
/// coordinator's organization id, which stands for every member's.
fn hub_org(s: &AppState, who: &Viewer) -> Result<Option<String>> {
    if !who.anonymizes() {
        return Ok(None);
    }
    Ok(s.store.coordinator()?.map(|c| c.id))
}

/// The warning as `who` receives it: a peer whose agreement anonymizes sees the hub,
/// not the member, as its issuer.
fn rendered(who: &Viewer, hub: Option<&str>, mut v: Value) -> Value {
    if let Some(h) = hub {
        v["owner_organization"] = json!(h);
        if !v["issuer"].is_null() {
            v["issuer"] = json!({"organization_id": h, "anonymized": true});
        }
    }
    who.render(v)
}

/// One warning as the caller may see it, with its version history.
pub fn get(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let w = load(s, id)?;
    let p = who.principal.as_ref();
    if !visible(who, &w) {
        return Err(Error::new(
            Kind::NotFound,
            format!("warning {id} not found"),
        ));
    }
    let full = p.is_some_and(|p| can_track(p, &w, true));
    let detail = match p {
        Some(p) => s.store.recipient(&w.id, &p.org.id)?.and_then(|r| r.detail),
        None => None,
    };
    let versions = s.store.warning_versions(&w.id)?;
    let hub = hub_org(s, who)?;
    let mut v = rendered(who, hub.as_deref(), view(&w, full, detail.as_ref()));
    v["versions"] = versions
        .iter()
        .map(|v| json!({"version": v.version, "at": Timestamp(v.at).to_string(), "event": v.event, "changes": v.changes}))
        .collect();
    Ok(v)
}

/// Edits a draft, or updates a published warning (a new version; `changes` says what
/// changed and is required).
pub fn update(s: &AppState, who: &Viewer, id: &str, inp: WarningInput) -> Result<Value> {
    let p = writer(who)?;
    let w = load(s, id)?;
    if w.owner_org != p.org.id {
        return Err(if visible(who, &w) {
            Error::new(
                Kind::Forbidden,
                "only the organization that issued a warning may change it",
            )
        } else {
            Error::new(Kind::NotFound, format!("warning {id} not found"))
        });
    }
    if s.store.warning_origin(id)?.is_some() {
        return Err(Error::new(
            Kind::Conflict,
            format!("warning {id} was drafted from an incident and is not edited by hand (its texts were checked for what names the reporters); draft it again from the incident"),
        ));
    }
    let changes = inp.changes.clone();
    let (orgs, comms) = context(s)?;
    let CheckedWarning {
        mut doc,
        severity,
        tlp,
        exercise,
    } = document_from_input(s, &p, inp, &orgs, &comms)?;
    match w.state.as_str() {
        "draft" => {
            let now = s.config.clock.now().micros();
            let mut nw = row_from(
                w.id.clone(),
                &w.owner_org,
                doc,
                severity,
                tlp,
                exercise,
                w.created,
            );
            nw.updated = now;
            if !s.store.update_draft(&nw)? {
                return Err(Error::new(
                    Kind::Conflict,
                    "the warning was published meanwhile; reload it",
                ));
            }
            Ok(view(&nw, true, None))
        }
        "published" => {
            let Some(changes) = changes.filter(|c| !c.trim().is_empty()) else {
                return Err(bad("changes: say what changed; recipients are told"));
            };
            if tlp != w.tlp && tlp < w.tlp {
                return Err(bad(format!(
                    "tlp: a published {} warning cannot be relaxed to {}; issue a new warning",
                    w.tlp, tlp
                )));
            }
            let mut nw = w.clone();
            for k in ["modified", "published"] {
                doc[k] = w.body[k].clone();
            }
            if doc.get("ack_due").is_none_or(Value::is_null) {
                if let Some(d) = w.ack_due {
                    doc["ack_due"] = json!(Timestamp(d).to_string());
                }
            }
            if let Some(d) = doc["ack_due"]
                .as_str()
                .and_then(|t| Timestamp::parse(t).ok())
            {
                nw.ack_due = Some(d.micros());
            }
            if let Some(r) = doc
                .get("recipient_details")
                .or(w.body.get("recipient_details"))
                .cloned()
            {
                doc["recipient_details"] = r;
            }
            nw.body = doc;
            nw.severity = severity;
            nw.tlp = tlp;
            nw.exercise = exercise;
            let out = publish(s, nw, "updated", Some(changes), &p.org.id, &HashMap::new())?;
            Ok(view(&out, true, None))
        }
        _ => Err(Error::new(
            Kind::Conflict,
            "a withdrawn warning cannot change",
        )),
    }
}

fn details_of(w: &WarningRow) -> HashMap<String, Value> {
    w.body["recipient_details"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Warning `id` if `p`'s organization issued it; otherwise it does not exist for `p`.
fn own(s: &AppState, p: &Principal, id: &str) -> Result<WarningRow> {
    let w = load(s, id)?;
    if w.owner_org != p.org.id {
        return Err(Error::new(
            Kind::NotFound,
            format!("warning {id} not found"),
        ));
    }
    Ok(w)
}

/// A draft becomes version 1 and goes out.
pub fn publish_draft(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = writer(who)?;
    let w = own(s, &p, id)?;
    if w.state != "draft" {
        return Err(Error::new(
            Kind::Conflict,
            format!("warning {id} is {}, not a draft", w.state),
        ));
    }
    consent_holds(s, id)?;
    if p.org.kind != OrgKind::Coordinator {
        let (orgs, communities) = context(s)?;
        let (named, _) = resolve_audience(&w.body, w.tlp, &w.owner_org, &orgs, &communities);
        let limit = s.config.notify.member_warning_max_recipients;
        if named.len() > limit {
            let mut w = w;
            w.state = PENDING_APPROVAL.into();
            w.body["state"] = json!(PENDING_APPROVAL);
            w.body["approval"] = json!({
                "requested": s.config.clock.now().to_string(), "recipients": named.len(),
                "limit": limit,
            });
            if !s.store.update_draft(&w)? {
                return Err(Error::new(
                    Kind::Conflict,
                    format!("warning {id} changed meanwhile"),
                ));
            }
            return Ok(view(&w, true, None));
        }
    }
    let d = details_of(&w);
    let out = publish(s, w, "published", None, &p.org.id, &d)?;
    Ok(view(&out, true, None))
}

/// The state of a member's warning that names more organizations than
/// `member_warning_max_recipients`: nothing goes out until the coordinator approves.
pub const PENDING_APPROVAL: &str = "pending-approval";

/// The coordinator approves a member's warning that awaits approval: it is published
/// as its issuer wrote it, still naming the member as issuer; audited.
pub fn approve(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = writer(who)?;
    if p.org.kind != OrgKind::Coordinator {
        return Err(Error::new(
            Kind::Forbidden,
            "only the coordinator approves warnings",
        ));
    }
    let mut w = load(s, id)?;
    if w.state != PENDING_APPROVAL {
        return Err(Error::new(
            Kind::Conflict,
            format!("warning {id} is {}, not awaiting approval", w.state),
        ));
    }
    w.state = "draft".into();
    w.body["approval"]["approved_by"] = json!(p.org.id);
    w.body["approval"]["approved"] = json!(s.config.clock.now().to_string());
    let d = details_of(&w);
    let out = publish(s, w, "published", None, &p.org.id, &d)?;
    Ok(view(&out, true, None))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WithdrawInput {
    #[serde(default)]
    reason: Option<String>,
}

/// Withdraws a published warning: recipients are told; the report is revoked.
pub fn withdraw(s: &AppState, who: &Viewer, id: &str, inp: WithdrawInput) -> Result<Value> {
    let p = writer(who)?;
    let w = own(s, &p, id)?;
    if w.state != "published" {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "warning {id} is {}; only a published warning is withdrawn",
                w.state
            ),
        ));
    }
    let reason = inp
        .reason
        .unwrap_or_else(|| "withdrawn by the issuer".into());
    let out = publish(s, w, "withdrawn", Some(reason), &p.org.id, &HashMap::new())?;
    Ok(view(&out, true, None))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    pub status: String,
    #[serde(default)]
    pub note: Option<String>,
}

fn record_status(
    s: &AppState,
    w: &WarningRow,
    org_id: &str,
    status: &str,
    note: Option<String>,
    via: &str,
) -> Result<bool, StoreError> {
    let at = s.config.clock.now().micros();
    let added = s.store.add_status(&StatusReport {
        seq: 0,
        warning_id: w.id.clone(),
        org_id: org_id.to_string(),
        status: status.to_string(),
        note,
        via: via.to_string(),
        at,
    })?;
    if added {
        s.store.add_events(
            &[NewEvent {
                org_id: w.owner_org.clone(),
                event: "warning.status".into(),
                warning_id: Some(w.id.clone()),
                data: json!({"warning_id": w.id, "organization_id": org_id, "status": status, "at": Timestamp(at).to_string()}),
            }],
            at,
        )?;
        s.wake_stream();
    }
    Ok(added)
}

/// A recipient reports its status. Answers whether it was new (the same status twice
/// records nothing) and the organization's history.
pub fn acknowledge(
    s: &AppState,
    who: &Viewer,
    id: &str,
    inp: StatusInput,
) -> Result<(bool, Value)> {
    let p = writer(who)?;
    if !STATUSES.contains(&inp.status.as_str()) {
        return Err(bad(format!(
            "status: '{}' is not one of {}",
            inp.status,
            STATUSES.join(", ")
        )));
    }
    if inp.note.as_ref().is_some_and(|n| n.len() > 10_000) {
        return Err(bad("note: longer than 10000 bytes"));
    }
    let w = load(s, id)?;
    let is_recipient = s.store.recipient(&w.id, &p.org.id)?.is_some();
    let seen = visible(who, &w);
    if !is_recipient || !seen {
        return Err(if seen {
            Error::new(
                Kind::Forbidden,
                "only a recipient of this warning reports status on it",
            )
        } else {
            Error::new(Kind::NotFound, format!("warning {id} not found"))
        });
    }
    if w.state != "published" {
        return Err(Error::new(
            Kind::Conflict,
            format!("warning {id} is {}", w.state),
        ));
    }
    let org = p.org.id.clone();
    let added = record_status(s, &w, &org, &inp.status, inp.note, "api")?;
    let history = s.store.statuses(&w.id, Some(&org))?;
    Ok((
        added,
        json!({"recorded": added, "history": history.iter().map(|h| h.to_json()).collect::<Vec<_>>()}),
    ))
}

/// The status history: all of it for the issuer (and the coordinator), a recipient's
/// own otherwise.
pub fn acknowledgements(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = who.require()?.clone();
    let w = load(s, id)?;
    if !visible(who, &w) {
        return Err(Error::new(
            Kind::NotFound,
            format!("warning {id} not found"),
        ));
    }
    let only = (!can_track(&p, &w, true)).then(|| p.org.id.clone());
    let h = s.store.statuses(&w.id, only.as_deref())?;
    Ok(json!({"history": h.iter().map(|x| x.to_json()).collect::<Vec<_>>()}))
}

/// What a one-click acknowledgement link is or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckLink {
    /// A valid link opened (GET): the warning's title (en, ja) to confirm; nothing is
    /// recorded until the confirmation is posted.
    Confirm { en: String, ja: String },
    /// The organization's acknowledgement is recorded (or already was).
    Recorded,
    /// The signature does not match, or the organization is no recipient.
    Invalid,
    /// The link is older than `ack_link_ttl`.
    Expired,
    /// The warning has a newer version than the message the link came in.
    Superseded,
    /// No such warning.
    NoWarning,
    /// The warning was withdrawn.
    Withdrawn,
}

/// The parameters of a one-click link.
#[derive(Debug, Clone, Deserialize)]
pub struct AckLinkQuery {
    pub org: String,
    #[serde(default)]
    pub v: i64,
    #[serde(default)]
    pub exp: i64,
    pub sig: String,
}

/// The one-click acknowledgement link of e-mails and webhooks, for organization
/// `q.org`. Opening it (`record` false) only checks it, so a mail scanner that fetches
/// links acknowledges nothing; the confirmation (`record` true, a POST) records it.
/// Acknowledging twice changes nothing.
pub fn ack_link(s: &AppState, id: &str, q: &AckLinkQuery, record: bool) -> Result<AckLink> {
    let ok = s.config.notify.key.verify_mac(
        "ack-link",
        ack_message(id, &q.org, q.v, q.exp).as_bytes(),
        &q.sig,
    );
    if !ok {
        return Ok(AckLink::Invalid);
    }
    if s.config.clock.now().micros().div_euclid(1_000_000) > q.exp {
        return Ok(AckLink::Expired);
    }
    let Some(w) = s.store.warning(id)? else {
        return Ok(AckLink::NoWarning);
    };
    if w.state != "published" {
        return Ok(AckLink::Withdrawn);
    }
    if w.version != q.v {
        return Ok(AckLink::Superseded);
    }
    if s.store.recipient(&w.id, &q.org)?.is_none() {
        return Ok(AckLink::Invalid);
    }
    if !record {
        let title = |l: &str| w.body["title"][l].as_str().unwrap_or("").to_string();
        return Ok(AckLink::Confirm {
            en: title("en"),
            ja: title("ja"),
        });
    }
    record_status(s, &w, &q.org, "acknowledged", None, "email-link")?;
    Ok(AckLink::Recorded)
}

/// For the issuer and the coordinator: per recipient delivery, status and escalation,
/// the counts, and who is overdue.
pub fn tracking(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = who.require()?.clone();
    let w = load(s, id)?;
    let seen = visible(who, &w);
    if !seen {
        return Err(Error::new(
            Kind::NotFound,
            format!("warning {id} not found"),
        ));
    }
    if !can_track(&p, &w, seen) {
        return Err(Error::new(
            Kind::Forbidden,
            "only the issuer and the coordinator track a warning",
        ));
    }
    let states = s.store.recipient_states(&w.id)?;
    let now = s.config.clock.now().micros();
    let overdue_at = w
        .ack_due
        .filter(|d| w.ack_required && *d <= now && w.state == "published");
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    let mut overdue = Vec::new();
    let (mut delivered, mut acknowledged, mut affected, mut remediated, mut not_affected) =
        (0, 0, 0, 0, 0);
    let mut rows = Vec::new();
    for r in &states {
        if r.delivered {
            delivered += 1;
        }
        if let Some(st) = &r.status {
            acknowledged += 1;
            *counts.entry(st.as_str()).or_default() += 1;
            match st.as_str() {
                "affected" | "mitigating" => affected += 1,
                "remediated" => {
                    affected += 1;
                    remediated += 1
                }
                "not-affected" => not_affected += 1,
                _ => {}
            }
        } else if overdue_at.is_some() {
            overdue.push(r.org_id.clone());
        }
        rows.push(json!({
            "organization_id": r.org_id, "since_version": r.since_version, "delivered": r.delivered,
            "pending_deliveries": r.pending, "failed_deliveries": r.dead,
            "status": r.status, "status_at": r.status_at.map(|t| Timestamp(t).to_string()),
            "escalated_at": r.escalated_at.map(|t| Timestamp(t).to_string()),
        }));
    }
    Ok(json!({
        "warning_id": w.id, "version": w.version, "state": w.state, "exercise": w.exercise,
        "ack_due": w.ack_due.map(|t| Timestamp(t).to_string()),
        "counts": {"recipients": states.len(), "delivered": delivered, "acknowledged": acknowledged,
                   "affected": affected, "remediated": remediated, "not_affected": not_affected,
                   "overdue": overdue.len(), "by_status": counts},
        "overdue": overdue,
        "recipients": rows,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    state: Option<String>,
    warning: Option<String>,
    limit: Option<i64>,
}

/// The outbox for the coordinator: pending entries, failures with their last error,
/// and dead letters.
pub fn deliveries(s: &AppState, who: &Viewer, q: &DeliveriesQuery) -> Result<Value> {
    let p = who.require()?;
    if p.org.kind != OrgKind::Coordinator {
        return Err(Error::new(
            Kind::Forbidden,
            "the outbox is the coordinator's view",
        ));
    }
    if let Some(st) = &q.state {
        if !["pending", "delivered", "dead"].contains(&st.as_str()) {
            return Err(bad(format!(
                "state: '{st}' is not one of pending, delivered, dead"
            )));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let list = s
        .store
        .deliveries(q.warning.as_deref(), q.state.as_deref(), limit)?;
    let (pending, delivered, dead) = s.store.delivery_counts()?;
    Ok(json!({
        "counts": {"pending": pending, "delivered": delivered, "dead": dead},
        "deliveries": list.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
    }))
}

/// Overdue acknowledgements at `now`: re-notify the organization's escalation contacts
/// (its primary contacts when it named none) and its webhooks, and alert the
/// coordinator (feed event and e-mail to its primary contacts). Runs from the delivery
/// worker; returns how many (warning, organization) pairs were escalated.
pub fn escalate(s: &AppState, now: Timestamp) -> Result<usize, StoreError> {
    let store = &s.store;
    // Only severities whose policy escalates; the others stay overdue in tracking.
    let escalating: Vec<&str> = SEVERITIES
        .iter()
        .copied()
        .filter(|x| s.config.notify.escalates(x))
        .collect();
    let overdue = store.overdue_acknowledgements(now.micros(), &escalating)?;
    if overdue.is_empty() {
        return Ok(0);
    }
    let coordinator = store.coordinator()?;
    let contacts = if s.config.notify.smtp.is_some() {
        store.contacts(None)?
    } else {
        vec![]
    };
    let hooks = store.webhooks(None)?;
    // Suspended and removed organizations are not chased.
    let inactive: HashSet<String> = store
        .organizations()?
        .into_iter()
        .filter(|o| !o.is_active())
        .map(|o| o.id)
        .collect();
    let mut done = 0;
    let mut cache: HashMap<String, Option<WarningRow>> = HashMap::new();
    for (wid, org) in overdue {
        if inactive.contains(&org) {
            continue;
        }
        let w = match cache
            .entry(wid.clone())
            .or_insert_with(|| store.warning(&wid).ok().flatten())
        {
            Some(w) => w.clone(),
            None => continue,
        };
        let mut deliveries = Vec::new();
        let esc: Vec<&str> = contacts
            .iter()
            .filter(|c| c.org_id == org && c.role == "escalation")
            .map(|c| c.email.as_str())
            .collect();
        let to: Vec<&str> = if esc.is_empty() {
            contacts
                .iter()
                .filter(|c| c.org_id == org && c.role == "primary")
                .map(|c| c.email.as_str())
                .collect()
        } else {
            esc
        };
        for m in to {
            deliveries.push(NewDelivery {
                org_id: org.clone(),
                channel: "email".into(),
                target: m.to_string(),
                event: "escalation".into(),
            });
        }
        for h in hooks.iter().filter(|h| h.org_id == org) {
            deliveries.push(NewDelivery {
                org_id: org.clone(),
                channel: "webhook".into(),
                target: h.id.clone(),
                event: "escalation".into(),
            });
        }
        let mut events = vec![NewEvent {
            org_id: org.clone(),
            event: "warning.escalation".into(),
            warning_id: Some(w.id.clone()),
            data: notice(&w, "escalation", None, None, &links(s, &w, &org)),
        }];
        if let Some(c) = &coordinator {
            let alert = json!({"warning_id": w.id, "title": w.body["title"], "severity": w.severity,
                               "organization_id": org, "ack_due": w.ack_due.map(|t| Timestamp(t).to_string())});
            events.push(NewEvent {
                org_id: c.id.clone(),
                event: "warning.overdue".into(),
                warning_id: Some(w.id.clone()),
                data: alert,
            });
            for m in contacts
                .iter()
                .filter(|x| x.org_id == c.id && x.role == "primary")
            {
                deliveries.push(NewDelivery {
                    org_id: c.id.clone(),
                    channel: "email".into(),
                    target: m.email.clone(),
                    event: format!("alert:{org}"),
                });
            }
        }
        if store.record_escalation(&w.id, w.version, &org, &deliveries, &events, now.micros())? {
            done += 1;
        }
    }
    if done > 0 {
        s.wake_delivery();
        s.wake_stream();
    }
    Ok(done)
}
