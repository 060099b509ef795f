//! Incidents: members report, the coordinator triages.
//!
//! A report is a STIX 2.1 `incident` with the OASIS Incident Core Extension (version 2,
//! the Incident Extension Suite draft of 20 February 2024 in oasis-open/
//! cti-stix-common-objects, `incident-ef7`) and the hub's report extension, plus the
//! observed-data, cyber observables, indicators and other objects it came with. They are
//! stored in the incidents collection, owned by the reporter, and read through
//! [`super::objects::read`] like every object, so TAXII serves them to whoever the access
//! rule admits. By default a report is TLP:AMBER+STRICT without an audience: the
//! reporter and the coordinator only. When the reporter names an audience, the
//! coordinator's identity is added to it: a report always reaches the coordinator.
//!
//! The coordinator's case (state, severity, assignee, timeline, tasks, notes, links,
//! merges) is the coordinator's alone; a reporter sees the state of the cases its
//! reports are in. Every change is a timeline entry and an audit entry, in the same
//! transaction (`hinomi_store` incidents).

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use hinomi_access::OrgKind;
use hinomi_stix::{
    check_object, ObjectKind, Timestamp, Tlp, HUB_EXTENSION_ID, INCIDENT_CORE_EXTENSION_ID,
    REPORT_EXTENSION_ID,
};
use hinomi_store::{
    Actor, AttachmentRow, IncidentChange, IncidentQuery, IncidentRow, NewAttachment, NewObject,
    NoteRow, Principal, ReportRow, ReportWrite, TaskRow, INCIDENTS_COLLECTION,
};

use super::{correlation, derived_uuid, hex, parse_cursor, Error, Kind, Result, Viewer};
use crate::AppState;

/// Reporting deadlines and bounds.
#[derive(Debug, Clone)]
pub struct IncidentConfig {
    /// A report of kind `incident` is due this long after discovery (CIRCIA: 72 h).
    pub report_within: Duration,
    /// A report of kind `ransom-payment` is due this long after the payment (24 h).
    pub ransom_report_within: Duration,
    /// The final report is due this long after discovery.
    pub final_report_within: Duration,
    /// A value found in more than this many reports is common: not listed.
    pub common_after: usize,
    /// Largest attachment, bytes.
    pub max_attachment_bytes: usize,
    /// Attachments per report or supplement.
    pub max_attachments: usize,
    /// STIX objects per report or supplement.
    pub max_objects: usize,
}

impl Default for IncidentConfig {
    fn default() -> IncidentConfig {
        IncidentConfig {
            report_within: Duration::from_secs(72 * 3600),
            ransom_report_within: Duration::from_secs(24 * 3600),
            final_report_within: Duration::from_secs(30 * 86_400),
            common_after: 20,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_attachments: 20,
            max_objects: 1000,
        }
    }
}

/// The states of a case, in order of a case's life.
pub const STATES: &[&str] = &[
    "new",
    "triaging",
    "confirmed",
    "false-positive",
    "duplicate",
    "contained",
    "recovering",
    "closed",
];

/// The coordinator's severity scale (after the CISA National Cyber Incident Scoring
/// System levels 5 to 0).
pub const SEVERITIES: &[&str] = &["emergency", "severe", "high", "medium", "low", "baseline"];

/// Where a case may go from `from` by a state change (merging makes `duplicate`;
/// `triaging` from an ended state is a reopening).
fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("new", "triaging" | "confirmed" | "false-positive")
            | ("triaging", "confirmed" | "false-positive")
            | ("confirmed", "contained" | "recovering" | "closed")
            | ("contained", "recovering" | "closed")
            | ("recovering", "contained" | "closed")
            | ("false-positive" | "closed", "triaging")
    )
}

/// CISA Federal Incident Notification Guidelines: functional impact.
pub const FUNCTIONAL_IMPACT: &[&str] = &[
    "no-impact",
    "no-impact-to-services",
    "minimal-impact-to-non-critical-services",
    "minimal-impact-to-critical-services",
    "significant-impact-to-non-critical-services",
    "denial-of-non-critical-services",
    "significant-impact-to-critical-services",
    "denial-of-critical-services",
];
/// … information impact (several may apply).
const INFORMATION_IMPACT: &[&str] = &[
    "no-impact",
    "suspected-but-not-identified",
    "privacy-data-breach",
    "proprietary-information-breach",
    "destruction-of-non-critical-systems",
    "critical-systems-data-breach",
    "core-credential-compromise",
    "destruction-of-critical-system",
];
/// … recoverability (the OASIS extension's recoverability has the same first four).
const RECOVERABILITY: &[&str] = &["regular", "supplemented", "extended", "not-recoverable"];
/// … attack vector.
const ATTACK_VECTORS: &[&str] = &[
    "unknown",
    "attrition",
    "web",
    "email-phishing",
    "external-removable-media",
    "impersonation-spoofing",
    "improper-usage",
    "loss-or-theft-of-equipment",
    "other",
];
/// … location of observed activity.
const LOCATIONS: &[&str] = &[
    "level-1-business-demilitarized-zone",
    "level-2-business-network",
    "level-3-business-network-management",
    "level-4-critical-system-dmz",
    "level-5-critical-system-management",
    "level-6-critical-systems",
    "level-7-safety-systems",
    "unknown",
];

/// ENISA Reference Security Incident Taxonomy: classes and their types.
const TAXONOMY: &[(&str, &[&str])] = &[
    ("abusive-content", &["spam", "harmful-speech", "violence"]),
    (
        "malicious-code",
        &[
            "infected-system",
            "c2-server",
            "malware-distribution",
            "malware-configuration",
        ],
    ),
    (
        "information-gathering",
        &["scanner", "sniffing", "social-engineering"],
    ),
    (
        "intrusion-attempts",
        &["ids-alert", "brute-force", "exploit"],
    ),
    (
        "intrusions",
        &[
            "privileged-account-compromise",
            "unprivileged-account-compromise",
            "application-compromise",
            "system-compromise",
            "burglary",
        ],
    ),
    (
        "availability",
        &["dos", "ddos", "misconfiguration", "sabotage", "outage"],
    ),
    (
        "information-content-security",
        &[
            "unauthorised-information-access",
            "unauthorised-information-modification",
            "data-loss",
            "data-leak",
        ],
    ),
    (
        "fraud",
        &[
            "unauthorised-use-of-resources",
            "copyright",
            "masquerade",
            "phishing",
        ],
    ),
    (
        "vulnerable",
        &[
            "weak-crypto",
            "ddos-amplifier",
            "potentially-unwanted-accessible",
            "information-disclosure",
            "vulnerable-system",
        ],
    ),
    ("other", &["other", "undetermined"]),
    ("test", &["test"]),
];

/// The determination vocabulary of the pinned draft (version 2).
pub const DETERMINATIONS: &[&str] = &[
    "blocked",
    "confirmed",
    "failed-attempt",
    "false-positive",
    "suspected",
];

/// A determination in either vocabulary, as the pinned draft says it: version 1's
/// `successful-attempt` is version 2's `confirmed`; `low-value`, which version 2 dropped,
/// becomes `suspected` (the coordinator's triage decides).
pub fn determination(v: &str) -> Option<&'static str> {
    match v {
        "successful-attempt" => Some("confirmed"),
        "low-value" => Some("suspected"),
        _ => DETERMINATIONS.iter().find(|d| **d == v).copied(),
    }
}

pub(super) fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

pub(super) fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<String> {
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(bad(format!(
            "{field}: '{v}' is not one of {}",
            allowed.join(", ")
        )))
    }
}

pub(super) fn text(field: &str, v: &str, max: usize) -> Result<String> {
    if v.len() > max {
        return Err(bad(format!("{field}: longer than {max} bytes")));
    }
    Ok(v.to_string())
}

pub(super) fn texts(
    field: &str,
    v: &[String],
    max_items: usize,
    max: usize,
) -> Result<Vec<String>> {
    if v.len() > max_items {
        return Err(bad(format!("{field}: more than {max_items} entries")));
    }
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            if s.trim().is_empty() {
                return Err(bad(format!("{field}[{i}]: empty")));
            }
            text(&format!("{field}[{i}]"), s, max)
        })
        .collect()
}

pub(super) fn time(field: &str, v: &str) -> Result<Timestamp> {
    Timestamp::parse(v).map_err(|e| bad(format!("{field}: {e}")))
}

/// Impact after the CISA Federal Incident Notification Guidelines.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ImpactInput {
    #[serde(default)]
    pub functional: Option<String>,
    #[serde(default)]
    pub information: Vec<String>,
    #[serde(default)]
    pub recoverability: Option<String>,
    #[serde(default)]
    pub attack_vector: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
}

/// The ENISA taxonomy class and type.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyInput {
    pub class: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What the reporter consents to.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// May be shared with other members with the reporter removed (default yes).
    #[serde(default = "yes")]
    pub share_anonymized: bool,
    /// May be shared naming the reporter (default no).
    #[serde(default)]
    pub share_named: bool,
    /// May be referred to law enforcement: `no`, `yes` or `ask` (default).
    #[serde(default = "ask")]
    pub law_enforcement: String,
}

fn yes() -> bool {
    true
}
fn ask() -> String {
    "ask".into()
}

impl Default for ConsentInput {
    fn default() -> ConsentInput {
        ConsentInput {
            share_anonymized: true,
            share_named: false,
            law_enforcement: ask(),
        }
    }
}

/// An attachment: a name and its bytes in base64. It is stored and hashed, never
/// executed or rendered; it is served as a download to those who may see the report.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub name: String,
    #[serde(default)]
    pub media_type: Option<String>,
    pub content_base64: String,
}

/// The body of `POST /api/v1/incidents/reports`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `incident` (default) or `ransom-payment`.
    #[serde(default)]
    pub kind: Option<String>,
    pub discovered: String,
    #[serde(default)]
    pub occurred: Option<String>,
    /// How it was detected, in the reporter's words.
    #[serde(default)]
    pub detection: Option<String>,
    /// The OASIS detection-methods vocabulary (open).
    #[serde(default)]
    pub detection_methods: Vec<String>,
    /// Version 1 or 2 vocabulary; default `suspected`.
    #[serde(default)]
    pub determination: Option<String>,
    #[serde(default)]
    pub sector: Option<String>,
    #[serde(default)]
    pub systems: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub impact: ImpactInput,
    #[serde(default)]
    pub taxonomy: Option<TaxonomyInput>,
    /// Default `amber+strict`.
    #[serde(default)]
    pub tlp: Option<String>,
    /// Organization or community ids (or identity ids) besides the coordinator.
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub consent: ConsentInput,
    #[serde(default)]
    pub exercise: bool,
    /// STIX objects: cyber observables (gathered into one observed-data), indicators,
    /// observed-data, notes, relationships…, validated as on TAXII.
    #[serde(default)]
    pub objects: Vec<Value>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// The body of `POST /api/v1/incidents/reports/{id}/supplements`: what changed. Given
/// fields replace the report's; `text` is the supplement's own account.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct SupplementInput {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub occurred: Option<String>,
    #[serde(default)]
    pub determination: Option<String>,
    #[serde(default)]
    pub systems: Option<Vec<String>>,
    #[serde(default)]
    pub services: Option<Vec<String>>,
    #[serde(default)]
    pub impact: Option<ImpactInput>,
    #[serde(default)]
    pub taxonomy: Option<TaxonomyInput>,
    /// This is the final report.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    #[serde(default)]
    pub objects: Vec<Value>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

pub(super) fn actor(p: &Principal) -> Actor<'_> {
    Actor {
        org: &p.org.id,
        credential: Some(&p.token_id),
    }
}

/// A caller that may file reports: a member organization or the coordinator, with a
/// token that writes.
pub(super) fn reporter(who: &Viewer) -> Result<&Principal> {
    let p = who.require()?;
    if p.org.kind == OrgKind::PeerHub || !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "incident reports are filed by member organizations with a token that writes",
        ));
    }
    Ok(p)
}

/// The coordinator (any role).
pub(super) fn coordinator(who: &Viewer) -> Result<&Principal> {
    who.require_coordinator()
}

/// The coordinator with a token that writes (analysts and admins).
pub(super) fn triager(who: &Viewer) -> Result<&Principal> {
    let p = coordinator(who)?;
    if !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not triage incidents",
        ));
    }
    Ok(p)
}

pub(super) fn is_coordinator(who: &Viewer) -> bool {
    who.principal
        .as_ref()
        .is_some_and(|p| p.org.kind == OrgKind::Coordinator)
}

/// The checked, normalized fields of a report.
#[derive(Debug, Clone)]
struct Fields {
    title: String,
    description: String,
    kind: String,
    discovered: Timestamp,
    occurred: Option<Timestamp>,
    detection: Option<String>,
    detection_methods: Vec<String>,
    determination: String,
    sector: Option<String>,
    systems: Vec<String>,
    services: Vec<String>,
    impact: Value,
    taxonomy: Option<Value>,
}

pub(super) fn check_impact(i: &ImpactInput) -> Result<Value> {
    let mut info = Vec::new();
    for (n, v) in i.information.iter().enumerate() {
        let v = one_of(&format!("impact.information[{n}]"), v, INFORMATION_IMPACT)?;
        if !info.contains(&v) {
            info.push(v);
        }
    }
    Ok(json!({
        "functional": i.functional.as_deref().map(|v| one_of("impact.functional", v, FUNCTIONAL_IMPACT)).transpose()?,
        "information": info,
        "recoverability": i.recoverability.as_deref().map(|v| one_of("impact.recoverability", v, RECOVERABILITY)).transpose()?,
        "attack_vector": i.attack_vector.as_deref().map(|v| one_of("impact.attack_vector", v, ATTACK_VECTORS)).transpose()?,
        "location": i.location.as_deref().map(|v| one_of("impact.location", v, LOCATIONS)).transpose()?,
    }))
}

fn check_taxonomy(t: &TaxonomyInput) -> Result<Value> {
    let classes: Vec<&str> = TAXONOMY.iter().map(|c| c.0).collect();
    let (_, types) = TAXONOMY.iter().find(|c| c.0 == t.class).ok_or_else(|| {
        bad(format!(
            "taxonomy.class: '{}' is not one of {}",
            t.class,
            classes.join(", ")
        ))
    })?;
    one_of("taxonomy.type", &t.kind, types)?;
    Ok(json!({"class": t.class, "type": t.kind}))
}

fn check_determination(v: Option<&str>) -> Result<String> {
    let v = v.unwrap_or("suspected");
    determination(v).map(str::to_string).ok_or_else(|| {
        bad(format!(
            "determination: '{v}' is not one of {} (or version 1's successful-attempt, low-value)",
            DETERMINATIONS.join(", ")
        ))
    })
}

fn check_methods(v: &[String]) -> Result<Vec<String>> {
    let v = texts("detection_methods", v, 20, 100)?;
    for (i, m) in v.iter().enumerate() {
        if !m
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(format!(
                "detection_methods[{i}]: '{m}' is not a vocabulary term (lower-case words joined by '-', such as automated-tool, human-review, user-reporting)"
            )));
        }
    }
    Ok(v)
}

fn check_fields(inp: &ReportInput) -> Result<Fields> {
    if inp.title.trim().is_empty() {
        return Err(bad("title: required"));
    }
    let kind = inp.kind.clone().unwrap_or_else(|| "incident".into());
    Ok(Fields {
        title: text("title", &inp.title, 300)?,
        description: text("description", &inp.description, 64 * 1024)?,
        kind: one_of("kind", &kind, &["incident", "ransom-payment"])?,
        discovered: time("discovered", &inp.discovered)?,
        occurred: inp
            .occurred
            .as_deref()
            .map(|t| time("occurred", t))
            .transpose()?,
        detection: inp
            .detection
            .as_deref()
            .map(|d| text("detection", d, 4096))
            .transpose()?,
        detection_methods: check_methods(&inp.detection_methods)?,
        determination: check_determination(inp.determination.as_deref())?,
        sector: inp
            .sector
            .as_deref()
            .map(|s| text("sector", s, 100))
            .transpose()?,
        systems: texts("systems", &inp.systems, 100, 300)?,
        services: texts("services", &inp.services, 100, 300)?,
        impact: check_impact(&inp.impact)?,
        taxonomy: inp.taxonomy.as_ref().map(check_taxonomy).transpose()?,
    })
}

/// The handling a report is shared under.
#[derive(Debug, Clone)]
struct Handling {
    tlp: Tlp,
    /// Identity ids; the coordinator's is in it whenever it is not empty.
    audience: Vec<String>,
    exercise: bool,
}

fn handling(
    s: &AppState,
    tlp: Option<&str>,
    audience: &[String],
    exercise: bool,
) -> Result<Handling> {
    let tlp = match tlp {
        None => Tlp::AmberStrict,
        Some(t) => t.parse::<Tlp>().map_err(|e| bad(format!("tlp: {e}")))?,
    };
    if audience.len() > 1000 {
        return Err(bad("audience: more than 1000 entries"));
    }
    let orgs = s.store.organizations()?;
    let comms = s.store.communities()?;
    let mut ids = BTreeSet::new();
    for (i, a) in audience.iter().enumerate() {
        let id = orgs
            .iter()
            .find(|o| &o.id == a || &o.identity_id == a)
            .filter(|o| o.kind.is_member())
            .map(|o| o.identity_id.clone())
            .or_else(|| {
                comms
                    .iter()
                    .find(|c| &c.id == a || &c.identity_id == a)
                    .map(|c| c.identity_id.clone())
            })
            .ok_or_else(|| {
                bad(format!(
                    "audience[{i}]: no member organization or community '{a}'"
                ))
            })?;
        ids.insert(id);
    }
    if !ids.is_empty() {
        if let Some(c) = orgs.iter().find(|o| o.kind == OrgKind::Coordinator) {
            ids.insert(c.identity_id.clone());
        }
    }
    Ok(Handling {
        tlp,
        audience: ids.into_iter().collect(),
        exercise,
    })
}

fn handling_ext(h: &Handling) -> Option<Value> {
    (!h.audience.is_empty() || h.exercise).then(|| {
        let mut e = json!({"extension_type": "property-extension"});
        if !h.audience.is_empty() {
            e["audience"] = json!(h.audience);
        }
        if h.exercise {
            e["exercise"] = json!(true);
        }
        e
    })
}

/// Gives an object the report's handling where it says none of its own, and links it
/// to the report through the report extension.
fn with_handling(mut v: Value, h: &Handling, report_id: &str, sco: bool) -> Value {
    let Value::Object(m) = &mut v else {
        return v;
    };
    if !m.contains_key("object_marking_refs") {
        m.insert("object_marking_refs".into(), json!([h.tlp.marking_id()]));
    }
    let exts = m.entry("extensions").or_insert_with(|| json!({}));
    if let Value::Object(e) = exts {
        if !e.contains_key(HUB_EXTENSION_ID) {
            if let Some(x) = handling_ext(h) {
                e.insert(HUB_EXTENSION_ID.into(), x);
            }
        }
        if !sco {
            e.insert(
                REPORT_EXTENSION_ID.into(),
                json!({"extension_type": "property-extension", "report_ref": report_id}),
            );
        }
        if e.is_empty() {
            m.remove("extensions");
        }
    }
    v
}

/// The report's STIX incident.
#[allow(clippy::too_many_arguments)]
fn incident_object(
    id: &str,
    f: &Fields,
    h: &Handling,
    identity: &str,
    created: Timestamp,
    modified: Timestamp,
    supplements: &[Value],
    final_report: bool,
) -> Value {
    let mut core = json!({
        "extension_type": "property-extension",
        "determination": f.determination,
        "investigation_status": if final_report { "closed" } else { "open" },
    });
    if !f.detection_methods.is_empty() {
        core["detection_methods"] = json!(f.detection_methods);
    }
    if let Some(r) = f.impact["recoverability"].as_str() {
        core["recoverability"] = json!(r);
    }
    let mut report = json!({
        "extension_type": "property-extension",
        "report_ref": id,
        "kind": f.kind,
        "discovered": f.discovered.to_string(),
        "impact": f.impact,
        "systems": f.systems,
        "services": f.services,
    });
    if let Some(o) = f.occurred {
        report["occurred"] = json!(o.to_string());
    }
    if let Some(d) = &f.detection {
        report["detection"] = json!(d);
    }
    if let Some(s) = &f.sector {
        report["sector"] = json!(s);
    }
    if let Some(t) = &f.taxonomy {
        report["taxonomy"] = t.clone();
    }
    if !supplements.is_empty() {
        report["supplements"] = json!(supplements);
    }
    if final_report {
        report["final"] = json!(true);
    }
    let mut exts = json!({
        INCIDENT_CORE_EXTENSION_ID: core,
        REPORT_EXTENSION_ID: report,
    });
    if let Some(x) = handling_ext(h) {
        exts[HUB_EXTENSION_ID] = x;
    }
    let mut v = json!({
        "type": "incident",
        "spec_version": "2.1",
        "id": id,
        "created": created.to_string(),
        "modified": modified.to_string(),
        "created_by_ref": identity,
        "name": f.title,
        "object_marking_refs": [h.tlp.marking_id()],
        "extensions": exts,
    });
    if !f.description.is_empty() {
        v["description"] = json!(f.description);
    }
    v
}

/// Validates submitted objects as TAXII would, gives them the report's handling, and
/// gathers cyber observables into one observed-data. Answers the objects to store
/// (the observed-data last) and their ids.
fn submitted_objects(
    s: &AppState,
    p: &Principal,
    h: &Handling,
    report_id: &str,
    seed: &str,
    at: Timestamp,
    objects: Vec<Value>,
) -> Result<Vec<NewObject>> {
    if objects.len() > s.config.incidents.max_objects {
        return Err(Error::new(
            Kind::PayloadTooLarge,
            format!(
                "objects: more than {} objects in one report",
                s.config.incidents.max_objects
            ),
        ));
    }
    let mut out = Vec::new();
    let mut scos: Vec<(String, Value)> = Vec::new();
    for (i, raw) in objects.into_iter().enumerate() {
        let is_sco = raw["type"]
            .as_str()
            .is_some_and(|t| hinomi_stix::SCO_TYPES.contains(&t));
        let v = with_handling(raw, h, report_id, is_sco);
        let checked = super::objects::check_submitted(s, &p.org, false, i, v).map_err(bad)?;
        let Some(mut obj) = checked else {
            continue;
        };
        if matches!(
            obj.checked.object_type.as_str(),
            "incident" | "marking-definition" | "extension-definition" | "identity"
        ) {
            return Err(bad(format!(
                "objects[{i}]: a report carries observables, indicators, observed-data, notes and relationships, not {} objects",
                obj.checked.object_type
            )));
        }
        if obj.checked.kind == ObjectKind::Observable {
            // Indexed through the observed-data that gathers them, under the report.
            scos.push((obj.checked.id.clone(), obj.checked.value.clone()));
            out.push(obj.with_observables(vec![], None));
            continue;
        }
        let values = std::mem::take(&mut obj.observables);
        out.push(obj.with_observables(values, Some(report_id.to_string())));
    }
    if !scos.is_empty() {
        let mut values = BTreeSet::new();
        for (_, v) in &scos {
            values.extend(correlation::values_of(v));
        }
        let od = with_handling(
            json!({
                "type": "observed-data",
                "spec_version": "2.1",
                "id": format!("observed-data--{}", derived_uuid(&format!("{seed}/observed-data"))),
                "created": at.to_string(),
                "modified": at.to_string(),
                "created_by_ref": p.org.identity_id,
                "first_observed": at.to_string(),
                "last_observed": at.to_string(),
                "number_observed": 1,
                "object_refs": scos.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            }),
            h,
            report_id,
            false,
        );
        let checked =
            check_object(od).map_err(|e| Error::internal(format!("observed-data: {e}")))?;
        out.push(
            NewObject::new(checked, h.tlp)
                .with_observables(values.into_iter().collect(), Some(report_id.to_string())),
        );
    }
    Ok(out)
}

fn attachments(
    s: &AppState,
    report_id: &str,
    at: Timestamp,
    list: &[AttachmentInput],
) -> Result<Vec<NewAttachment>> {
    let c = &s.config.incidents;
    if list.len() > c.max_attachments {
        return Err(Error::new(
            Kind::PayloadTooLarge,
            format!("attachments: more than {} in one report", c.max_attachments),
        ));
    }
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let name = a.name.trim();
        if name.is_empty()
            || name.len() > 255
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(bad(format!(
                "attachments[{i}].name: 1 to 255 characters, no control characters or path separators"
            )));
        }
        let media_type = a
            .media_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        if media_type.len() > 100
            || !media_type.contains('/')
            || !media_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
        {
            return Err(bad(format!(
                "attachments[{i}].media_type: '{media_type}' is not a media type"
            )));
        }
        if a.content_base64.len() > c.max_attachment_bytes / 3 * 4 + 8 {
            return Err(Error::new(
                Kind::PayloadTooLarge,
                format!(
                    "attachments[{i}]: larger than {} bytes",
                    c.max_attachment_bytes
                ),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.content_base64.as_bytes())
            .map_err(|e| bad(format!("attachments[{i}].content_base64: {e}")))?;
        if bytes.len() > c.max_attachment_bytes {
            return Err(Error::new(
                Kind::PayloadTooLarge,
                format!(
                    "attachments[{i}]: larger than {} bytes",
                    c.max_attachment_bytes
                ),
            ));
        }
        let sha = hex(&Sha256::digest(&bytes));
        out.push(NewAttachment {
            row: AttachmentRow {
                id: uuid::Uuid::new_v4().to_string(),
                report_id: report_id.to_string(),
                name: name.to_string(),
                media_type,
                size: bytes.len() as i64,
                sha256: sha,
                created: at,
            },
            base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        });
    }
    Ok(out)
}

fn deadline(from: Timestamp, d: Duration) -> Timestamp {
    Timestamp(
        from.micros()
            .saturating_add(d.as_micros().min(i64::MAX as u128) as i64),
    )
}

fn check_consent(c: &ConsentInput) -> Result<()> {
    one_of(
        "consent.law_enforcement",
        &c.law_enforcement,
        &["no", "yes", "ask"],
    )
    .map(|_| ())
}

/// Files a report: its STIX objects, a new case for the coordinator, the timeline's
/// first entry. Answers the report as its reporter sees it.
pub fn report(s: &AppState, who: &Viewer, inp: ReportInput) -> Result<Value> {
    let p = reporter(who)?;
    let f = check_fields(&inp)?;
    check_consent(&inp.consent)?;
    let h = handling(s, inp.tlp.as_deref(), &inp.audience, inp.exercise)?;
    if h.tlp == Tlp::Red && h.audience.is_empty() {
        return Err(bad(
            "tlp: a TLP:RED report must name its audience (the coordinator is added to it)",
        ));
    }
    let now = s.config.clock.now();
    let uuid = uuid::Uuid::new_v4().to_string();
    let report_id = format!("incident--{uuid}");
    let incident = incident_object(&report_id, &f, &h, &p.org.identity_id, now, now, &[], false);
    let checked = check_object(incident).map_err(|e| Error::internal(format!("incident: {e}")))?;
    let mut objects = vec![NewObject::new(checked, h.tlp)];
    objects.extend(submitted_objects(
        s,
        p,
        &h,
        &report_id,
        &uuid,
        now,
        inp.objects,
    )?);
    let files = attachments(s, &report_id, now, &inp.attachments)?;
    let within = if f.kind == "ransom-payment" {
        s.config.incidents.ransom_report_within
    } else {
        s.config.incidents.report_within
    };
    let report = ReportRow {
        id: report_id.clone(),
        incident_id: format!("incident--{}", derived_uuid(&format!("case/{uuid}"))),
        reporter_org: p.org.id.clone(),
        kind: f.kind.clone(),
        share_anonymized: inp.consent.share_anonymized,
        share_named: inp.consent.share_named,
        law_enforcement: inp.consent.law_enforcement.clone(),
        exercise: h.exercise,
        discovered: f.discovered,
        report_due: deadline(
            f.occurred
                .filter(|_| f.kind == "ransom-payment")
                .unwrap_or(f.discovered),
            within,
        ),
        final_due: deadline(f.discovered, s.config.incidents.final_report_within),
        final_at: None,
        created: now,
        updated: now,
        supplements: 0,
        objects: objects.iter().map(|o| o.checked.id.clone()).collect(),
    };
    let case = IncidentRow {
        id: report.incident_id.clone(),
        title: f.title.clone(),
        state: "new".into(),
        severity: None,
        assignee: None,
        merged_into: None,
        exercise: h.exercise,
        created: now,
        updated: now,
    };
    write(
        s,
        p,
        ReportWrite {
            report: report.clone(),
            incident: Some(case),
            objects,
            attachments: files,
            event: "reported".into(),
            detail: json!({"report": report_id, "reporter": p.org.id, "kind": f.kind, "tlp": h.tlp.label()}),
        },
    )?;
    report_view(s, who, &report_id)
}

/// Writes a report or supplement, feeding its indicators to the index (marked as this
/// node's own before the write, whose change notices can arrive first).
fn write(s: &AppState, p: &Principal, w: ReportWrite) -> Result<()> {
    let indicators: Vec<_> = w
        .objects
        .iter()
        .filter_map(|o| super::objects::indicator_row(&p.org.id, o))
        .collect();
    let own: Vec<String> = indicators.iter().map(|r| r.stix_id.clone()).collect();
    s.indicators.expect_local(&own);
    if let Err(e) = s.store.write_report(w, actor(p)) {
        s.indicators.forget_local(&own);
        return Err(e.into());
    }
    s.indicators.queue(indicators);
    s.wake_federation();
    Ok(())
}

pub(super) fn load_report(s: &AppState, id: &str) -> Result<ReportRow> {
    s.store
        .report(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("report {id} not found")))
}

/// The report's current STIX incident as `who` may see it (through the one read).
pub(super) fn report_object(s: &AppState, who: &Viewer, id: &str) -> Result<Option<Value>> {
    let col = s
        .store
        .collection(INCIDENTS_COLLECTION)?
        .ok_or_else(|| Error::internal("the incidents collection is missing"))?;
    if !who.can_read(&col) {
        return Ok(None);
    }
    let q = super::objects::Query {
        ids: vec![id.to_string()],
        limit: 1,
        ..super::objects::Query::default()
    };
    let page = super::objects::read(&s.store, who, &col, &q)?;
    Ok(page
        .items
        .into_iter()
        .next()
        .map(|o| serde_json::from_str(&o.json).unwrap_or(Value::Null)))
}

/// Every STIX object of a report that `who` may see, latest versions.
pub(super) fn report_objects(s: &AppState, who: &Viewer, r: &ReportRow) -> Result<Vec<Value>> {
    let Some(col) = s.store.collection(INCIDENTS_COLLECTION)? else {
        return Ok(vec![]);
    };
    if !who.can_read(&col) {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for chunk in r.objects.chunks(500) {
        let q = super::objects::Query {
            ids: chunk.to_vec(),
            limit: chunk.len(),
            ..super::objects::Query::default()
        };
        out.extend(
            super::objects::read(&s.store, who, &col, &q)?
                .items
                .into_iter()
                .map(|o| serde_json::from_str(&o.json).unwrap_or(Value::Null)),
        );
    }
    Ok(out)
}

fn may_manage_report(who: &Viewer, r: &ReportRow) -> bool {
    who.principal
        .as_ref()
        .is_some_and(|p| p.org.id == r.reporter_org || p.org.kind == OrgKind::Coordinator)
}

pub(super) fn report_json(s: &AppState, r: &ReportRow, now: Timestamp) -> Result<Value> {
    let files: Vec<Value> = s
        .store
        .report_attachments(&r.id)?
        .into_iter()
        .map(|a| {
            json!({"id": a.id, "name": a.name, "media_type": a.media_type, "size": a.size,
                   "sha256": a.sha256, "created": a.created.to_string()})
        })
        .collect();
    Ok(json!({
        "id": r.id,
        "incident": s.store.current_incident(&r.incident_id)?,
        "reporter": r.reporter_org,
        "kind": r.kind,
        "exercise": r.exercise,
        "consent": {
            "share_anonymized": r.share_anonymized,
            "share_named": r.share_named,
            "law_enforcement": r.law_enforcement,
        },
        "discovered": r.discovered.to_string(),
        "report_due": r.report_due.to_string(),
        "reported_late": r.created > r.report_due,
        "final_due": r.final_due.to_string(),
        "final_at": r.final_at.map(|t| t.to_string()),
        "final_overdue": r.final_at.is_none() && now > r.final_due,
        "created": r.created.to_string(),
        "updated": r.updated.to_string(),
        "supplements": r.supplements,
        "attachments": files,
    }))
}

/// One report. Its reporter and the coordinator see it whole (consent, deadlines,
/// attachments, every object); anyone else the access rule admits sees its STIX objects.
pub fn report_view(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    who.require()?;
    let r = load_report(s, id)?;
    let Some(stix) = report_object(s, who, id)? else {
        return Err(Error::new(Kind::NotFound, format!("report {id} not found")));
    };
    let objects = report_objects(s, who, &r)?;
    let mut v = if may_manage_report(who, &r) {
        report_json(s, &r, s.config.clock.now())?
    } else {
        json!({"id": r.id})
    };
    v["stix"] = stix;
    v["objects"] = json!(objects);
    Ok(v)
}

/// The caller's organization's reports, newest first (`before`: the cursor of the last
/// page, `created/id`).
pub fn my_reports(s: &AppState, who: &Viewer, before: Option<&str>, limit: usize) -> Result<Value> {
    let p = reporter(who)?;
    let cursor = before.map(parse_cursor).transpose()?;
    let limit = limit.clamp(1, 1000);
    let rows = s.store.reports_by(&p.org.id, cursor, limit)?;
    let now = s.config.clock.now();
    let next = (rows.len() == limit)
        .then(|| {
            rows.last()
                .map(|r| format!("{}/{}", r.created.micros(), r.id))
        })
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| report_json(s, r, now))
        .collect::<Result<_>>()?;
    Ok(json!({"reports": items, "next": next}))
}

/// A supplement by the reporter: a new version of the STIX incident (given fields
/// replaced, the supplement's text kept in order), more objects and attachments.
pub fn supplement(s: &AppState, who: &Viewer, id: &str, inp: SupplementInput) -> Result<Value> {
    let p = reporter(who)?;
    let r = load_report(s, id)?;
    if r.reporter_org != p.org.id {
        return Err(Error::new(Kind::NotFound, format!("report {id} not found")));
    }
    if r.supplements >= 100 {
        return Err(bad("this report has 100 supplements; file a new report"));
    }
    let Some(cur) = report_object(s, who, id)? else {
        return Err(Error::internal(format!(
            "report {id} has no stored incident"
        )));
    };
    let rep = &cur["extensions"][REPORT_EXTENSION_ID];
    let core = &cur["extensions"][INCIDENT_CORE_EXTENSION_ID];
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut f = Fields {
        title: cur["name"].as_str().unwrap_or_default().to_string(),
        description: cur["description"].as_str().unwrap_or_default().to_string(),
        kind: r.kind.clone(),
        discovered: r.discovered,
        occurred: rep["occurred"]
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok()),
        detection: rep["detection"].as_str().map(str::to_string),
        detection_methods: strs(&core["detection_methods"]),
        determination: core["determination"]
            .as_str()
            .unwrap_or("suspected")
            .to_string(),
        sector: rep["sector"].as_str().map(str::to_string),
        systems: strs(&rep["systems"]),
        services: strs(&rep["services"]),
        impact: rep["impact"].clone(),
        taxonomy: rep.get("taxonomy").cloned(),
    };
    if let Some(t) = &inp.title {
        if t.trim().is_empty() {
            return Err(bad("title: must not be empty"));
        }
        f.title = text("title", t, 300)?;
    }
    if let Some(d) = &inp.description {
        f.description = text("description", d, 64 * 1024)?;
    }
    if let Some(o) = &inp.occurred {
        f.occurred = Some(time("occurred", o)?);
    }
    if let Some(d) = &inp.determination {
        f.determination = check_determination(Some(d))?;
    }
    if let Some(v) = &inp.systems {
        f.systems = texts("systems", v, 100, 300)?;
    }
    if let Some(v) = &inp.services {
        f.services = texts("services", v, 100, 300)?;
    }
    if let Some(i) = &inp.impact {
        f.impact = check_impact(i)?;
    }
    if let Some(t) = &inp.taxonomy {
        f.taxonomy = Some(check_taxonomy(t)?);
    }
    let now = s.config.clock.now();
    let mut supplements: Vec<Value> = rep["supplements"].as_array().cloned().unwrap_or_default();
    let note = inp
        .text
        .as_deref()
        .map(|t| text("text", t, 64 * 1024))
        .transpose()?;
    supplements.push(json!({"at": now.to_string(), "text": note, "final": inp.is_final}));
    let h = Handling {
        tlp: cur["object_marking_refs"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .filter_map(|x| x.as_str().and_then(Tlp::from_marking_id))
                    .max()
            })
            .unwrap_or(Tlp::AmberStrict),
        audience: strs(&cur["extensions"][HUB_EXTENSION_ID]["audience"]),
        exercise: r.exercise,
    };
    let created =
        Timestamp::parse(cur["created"].as_str().unwrap_or_default()).unwrap_or(r.created);
    let prev = Timestamp::parse(cur["modified"].as_str().unwrap_or_default()).unwrap_or(r.updated);
    // Versions must strictly increase, even when the clock stands still.
    let modified = if now.micros() > prev.micros() {
        now
    } else {
        Timestamp(prev.micros() + 1000)
    };
    let is_final = inp.is_final || r.final_at.is_some();
    let v = incident_object(
        id,
        &f,
        &h,
        &p.org.identity_id,
        created,
        modified,
        &supplements,
        is_final,
    );
    let checked = check_object(v).map_err(|e| Error::internal(format!("incident: {e}")))?;
    let mut objects = vec![NewObject::new(checked, h.tlp)];
    let seed = format!("{id}/supplement/{}", r.supplements + 1);
    objects.extend(submitted_objects(
        s,
        p,
        &h,
        id,
        &seed,
        modified,
        inp.objects,
    )?);
    let files = attachments(s, id, now, &inp.attachments)?;
    let mut ids = r.objects.clone();
    for o in &objects {
        if !ids.contains(&o.checked.id) {
            ids.push(o.checked.id.clone());
        }
    }
    let next = ReportRow {
        updated: now,
        supplements: r.supplements + 1,
        final_at: inp.is_final.then_some(now).or(r.final_at),
        objects: ids,
        ..r.clone()
    };
    write(
        s,
        p,
        ReportWrite {
            report: next,
            incident: None,
            objects,
            attachments: files,
            event: "supplement".into(),
            detail: json!({"report": id, "supplement": r.supplements + 1, "final": inp.is_final}),
        },
    )?;
    report_view(s, who, id)
}

/// Changes a report's consent (its reporter only).
pub fn set_consent(s: &AppState, who: &Viewer, id: &str, c: ConsentInput) -> Result<Value> {
    let p = reporter(who)?;
    let r = load_report(s, id)?;
    if r.reporter_org != p.org.id {
        return Err(Error::new(Kind::NotFound, format!("report {id} not found")));
    }
    check_consent(&c)?;
    let now = s.config.clock.now();
    let r = s.store.set_report_consent(
        id,
        c.share_anonymized,
        c.share_named,
        &c.law_enforcement,
        now,
        actor(p),
    )?;
    report_json(s, &r, now)
}

/// An attachment's bytes for a download, if `who` may see its report.
pub fn attachment(
    s: &AppState,
    who: &Viewer,
    report_id: &str,
    attachment_id: &str,
) -> Result<(AttachmentRow, Vec<u8>)> {
    who.require()?;
    if report_object(s, who, report_id)?.is_none() {
        return Err(Error::new(
            Kind::NotFound,
            format!("report {report_id} not found"),
        ));
    }
    match s.store.attachment(attachment_id)? {
        Some((a, data)) if a.report_id == report_id => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(Error::internal)?;
            Ok((a, bytes))
        }
        _ => Err(Error::new(
            Kind::NotFound,
            format!("attachment {attachment_id} not found"),
        )),
    }
}

/// How a report's observables correlate, for `who` (who must see the report).
pub fn report_correlation(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    if report_object(s, who, id)?.is_none() {
        return Err(Error::new(Kind::NotFound, format!("report {id} not found")));
    }
    let values = s.store.context_values(id, 10_000)?;
    Ok(json!({"report": id, "values": correlation::correlate(s, who, &values, &[id.to_string()])?}))
}

pub(super) fn load_case(s: &AppState, id: &str) -> Result<IncidentRow> {
    s.store
        .incident(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("incident {id} not found")))
}

pub(super) fn case_json(i: &IncidentRow, full: bool) -> Value {
    let mut v = json!({
        "id": i.id,
        "title": i.title,
        "state": i.state,
        "exercise": i.exercise,
        "created": i.created.to_string(),
        "updated": i.updated.to_string(),
        "merged_into": i.merged_into,
    });
    if full {
        v["severity"] = json!(i.severity);
        v["assignee"] = json!(i.assignee);
    } else {
        v["title"] = Value::Null;
    }
    v
}

/// Query parameters of `GET /api/v1/incidents`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated states.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub exercise: Option<bool>,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Cases, most recently changed first: the coordinator's all; a member's those its
/// reports are in (state only).
pub fn list(s: &AppState, who: &Viewer, q: &ListQuery) -> Result<Value> {
    let p = who.require()?;
    if p.org.kind == OrgKind::PeerHub {
        return Err(Error::new(
            Kind::Forbidden,
            "incidents are the hub's members' and coordinator's",
        ));
    }
    let coordinator = p.org.kind == OrgKind::Coordinator;
    let states: Vec<String> = q
        .state
        .as_deref()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    for st in &states {
        if !STATES.contains(&st.as_str()) {
            return Err(Error::new(
                Kind::InvalidFilter,
                format!("state: '{st}' is not one of {}", STATES.join(", ")),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = s.store.incidents(&IncidentQuery {
        states,
        exercise: q.exercise,
        reporter_org: (!coordinator).then(|| p.org.id.clone()),
        before: q.before.as_deref().map(parse_cursor).transpose()?,
        limit,
    })?;
    let next = (rows.len() == limit)
        .then(|| {
            rows.last()
                .map(|i| format!("{}/{}", i.updated.micros(), i.id))
        })
        .flatten();
    Ok(json!({
        "incidents": rows.iter().map(|i| case_json(i, coordinator)).collect::<Vec<_>>(),
        "next": next,
    }))
}

/// One case. The coordinator sees all of it: reports (with reporters and consent),
/// timeline, tasks, notes, links, correlation and linked sightings. A reporter sees its
/// state and its own reports.
pub fn get(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = who.require()?;
    let i = load_case(s, id)?;
    let reports = s.store.incident_reports(&i.id)?;
    let now = s.config.clock.now();
    if p.org.kind != OrgKind::Coordinator {
        let mine: Vec<&ReportRow> = reports
            .iter()
            .filter(|r| r.reporter_org == p.org.id)
            .collect();
        if mine.is_empty() {
            return Err(Error::new(
                Kind::NotFound,
                format!("incident {id} not found"),
            ));
        }
        let mut v = case_json(&i, false);
        v["reports"] = json!(mine.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
        return Ok(v);
    }
    let mut v = case_json(&i, true);
    let mut report_list = Vec::new();
    let mut indicator_ids = Vec::new();
    for r in &reports {
        let mut rv = report_json(s, r, now)?;
        if let Some(stix) = report_object(s, who, &r.id)? {
            rv["title"] = stix["name"].clone();
        }
        indicator_ids.extend(
            r.objects
                .iter()
                .filter(|o| o.starts_with("indicator--"))
                .cloned(),
        );
        report_list.push(rv);
    }
    v["reports"] = json!(report_list);
    v["timeline"] = json!(s
        .store
        .incident_events(&i.id)?
        .into_iter()
        .map(|e| json!({"seq": e.seq, "incident": e.incident_id, "at": e.at.to_string(),
            "organization": e.actor_org, "credential": e.actor, "event": e.event, "detail": e.detail}))
        .collect::<Vec<_>>());
    v["tasks"] = json!(s
        .store
        .incident_tasks(&i.id)?
        .iter()
        .map(task_json)
        .collect::<Vec<_>>());
    v["notes"] = json!(s
        .store
        .incident_notes(&i.id)?
        .into_iter()
        .map(|n| json!({"id": n.id, "organization": n.author_org, "credential": n.author, "at": n.at.to_string(), "body": n.body}))
        .collect::<Vec<_>>());
    v["linked"] = json!(s.store.incident_links(&i.id)?);
    v["correlation"] = case_correlation(s, who, &reports)?;
    let sightings: Vec<String> = indicator_ids
        .iter()
        .map(|i| format!("sighting-of:{i}"))
        .collect();
    let own: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
    let collections = correlation::readable_collections(s, who)?;
    let hits = s
        .store
        .correlate(&sightings, &who.scope, &collections, &own, 10_000)?;
    v["sightings"] = json!(hits
        .into_iter()
        .flat_map(|c| {
            let ind = c.value.trim_start_matches("sighting-of:").to_string();
            c.hits.into_iter().map(move |(sighting, org)| json!({"sighting": sighting, "indicator": ind, "organization": org}))
        })
        .collect::<Vec<_>>());
    Ok(v)
}

fn case_correlation(s: &AppState, who: &Viewer, reports: &[ReportRow]) -> Result<Value> {
    let mut values = BTreeSet::new();
    for r in reports {
        values.extend(s.store.context_values(&r.id, 10_000)?);
    }
    let own: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
    let values: Vec<String> = values.into_iter().collect();
    correlation::correlate(s, who, &values, &own)
}

fn task_json(t: &TaskRow) -> Value {
    json!({"id": t.id, "incident": t.incident_id, "title": t.title, "assignee": t.assignee,
        "due": t.due.map(|d| d.to_string()), "done": t.done.map(|d| d.to_string()),
        "created": t.created.to_string()})
}

/// The body of `POST /api/v1/incidents/{id}/state`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The case's `updated` as last read; the change is refused if it moved since.
    #[serde(default)]
    pub expected_updated: Option<String>,
}

/// Moves a case to another state (the coordinator's analysts). `triaging` from
/// `closed` or `false-positive` reopens it.
pub fn set_state(s: &AppState, who: &Viewer, id: &str, inp: StateInput) -> Result<Value> {
    let p = triager(who)?;
    let i = load_case(s, id)?;
    one_of("state", &inp.state, STATES)?;
    if i.merged_into.is_some() {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "incident {id} is merged into {}; change that one",
                i.merged_into.as_deref().unwrap_or_default()
            ),
        ));
    }
    if inp.state == "duplicate" {
        return Err(bad(
            "state: a case becomes duplicate by merging it into another (POST …/merge)",
        ));
    }
    if !allowed(&i.state, &inp.state) {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "incident {id} is {}; it cannot become {}",
                i.state, inp.state
            ),
        ));
    }
    let reason = inp
        .reason
        .as_deref()
        .map(|r| text("reason", r, 4096))
        .transpose()?;
    let expected = inp
        .expected_updated
        .as_deref()
        .map(|t| time("expected_updated", t))
        .transpose()?;
    let event =
        if inp.state == "triaging" && matches!(i.state.as_str(), "closed" | "false-positive") {
            "reopen"
        } else {
            "state"
        };
    let now = s.config.clock.now();
    let row = s.store.change_incident(
        id,
        expected,
        &IncidentChange {
            state: Some(inp.state.clone()),
            ..IncidentChange::default()
        },
        now,
        actor(p),
        (
            event,
            &json!({"from": i.state, "to": inp.state, "reason": reason}),
        ),
    )?;
    Ok(case_json(&row, true))
}

/// The body of `PATCH /api/v1/incidents/{id}`: `null` clears severity or assignee.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, with = "double_option")]
    pub severity: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub assignee: Option<Option<String>>,
    #[serde(default)]
    pub expected_updated: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Changes a case's title, severity or assignee (the coordinator's analysts).
pub fn update(s: &AppState, who: &Viewer, id: &str, inp: CaseInput) -> Result<Value> {
    let p = triager(who)?;
    let i = load_case(s, id)?;
    let mut detail = serde_json::Map::new();
    if let Some(t) = &inp.title {
        if t.trim().is_empty() {
            return Err(bad("title: must not be empty"));
        }
        text("title", t, 300)?;
        detail.insert("title".into(), json!({"from": i.title, "to": t}));
    }
    if let Some(sev) = &inp.severity {
        if let Some(v) = sev {
            one_of("severity", v, SEVERITIES)?;
        }
        detail.insert("severity".into(), json!({"from": i.severity, "to": sev}));
    }
    if let Some(a) = &inp.assignee {
        if let Some(v) = a {
            if v.trim().is_empty() {
                return Err(bad("assignee: empty (send null to clear it)"));
            }
            text("assignee", v, 200)?;
        }
        detail.insert("assignee".into(), json!({"from": i.assignee, "to": a}));
    }
    if detail.is_empty() {
        return Err(bad("nothing to change: give title, severity or assignee"));
    }
    let event = if detail.len() == 1 && detail.contains_key("assignee") {
        "assign"
    } else {
        "update"
    };
    let expected = inp
        .expected_updated
        .as_deref()
        .map(|t| time("expected_updated", t))
        .transpose()?;
    let row = s.store.change_incident(
        id,
        expected,
        &IncidentChange {
            state: None,
            severity: inp.severity.clone(),
            assignee: inp.assignee.clone(),
            title: inp.title.clone(),
        },
        s.config.clock.now(),
        actor(p),
        (event, &Value::Object(detail)),
    )?;
    Ok(case_json(&row, true))
}

/// Merges `from` into `id`: every report, task and note moves, each merged case
/// becomes a duplicate that points to `id`.
pub fn merge(s: &AppState, who: &Viewer, id: &str, from: &[String]) -> Result<Value> {
    let p = triager(who)?;
    if from.is_empty() || from.len() > 100 {
        return Err(bad(
            "incidents: name 1 to 100 incidents to merge into this one",
        ));
    }
    let mut seen = HashSet::new();
    for (n, f) in from.iter().enumerate() {
        if f == id {
            return Err(bad(format!(
                "incidents[{n}]: an incident cannot be merged into itself"
            )));
        }
        if !seen.insert(f) {
            return Err(bad(format!("incidents[{n}]: {f} is named twice")));
        }
    }
    let row = s
        .store
        .merge_incidents(id, from, s.config.clock.now(), actor(p))?;
    get(s, who, &row.id)
}

/// Links two cases as related.
pub fn link(s: &AppState, who: &Viewer, id: &str, other: &str) -> Result<Value> {
    let p = triager(who)?;
    if id == other {
        return Err(bad("incident: a case cannot be linked to itself"));
    }
    s.store
        .link_incidents(id, other, s.config.clock.now(), actor(p))?;
    Ok(json!({"incident": id, "linked": s.store.incident_links(id)?}))
}

/// The body of `POST /api/v1/incidents/{id}/tasks`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    pub title: String,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub due: Option<String>,
}

/// Adds a task to a case.
pub fn add_task(s: &AppState, who: &Viewer, id: &str, inp: TaskInput) -> Result<Value> {
    let p = triager(who)?;
    load_case(s, id)?;
    if inp.title.trim().is_empty() {
        return Err(bad("title: required"));
    }
    let t = TaskRow {
        id: uuid::Uuid::new_v4().to_string(),
        incident_id: id.to_string(),
        title: text("title", &inp.title, 500)?,
        assignee: inp
            .assignee
            .as_deref()
            .map(|a| text("assignee", a, 200))
            .transpose()?,
        due: inp.due.as_deref().map(|d| time("due", d)).transpose()?,
        done: None,
        created: s.config.clock.now(),
    };
    s.store.add_incident_task(&t, actor(p))?;
    Ok(task_json(&t))
}

/// Marks a task done or not done.
pub fn set_task_done(s: &AppState, who: &Viewer, task_id: &str, done: bool) -> Result<Value> {
    let p = triager(who)?;
    let now = s.config.clock.now();
    let t = s
        .store
        .set_incident_task_done(task_id, done.then_some(now), now, actor(p))?;
    Ok(task_json(&t))
}

/// Adds a note to a case.
pub fn add_note(s: &AppState, who: &Viewer, id: &str, body: &str) -> Result<Value> {
    let p = triager(who)?;
    load_case(s, id)?;
    if body.trim().is_empty() {
        return Err(bad("body: required"));
    }
    let n = NoteRow {
        id: uuid::Uuid::new_v4().to_string(),
        incident_id: id.to_string(),
        author_org: p.org.id.clone(),
        author: Some(p.token_id.clone()),
        at: s.config.clock.now(),
        body: text("body", body, 64 * 1024)?,
    };
    s.store.add_incident_note(&n)?;
    Ok(json!({"id": n.id, "incident": id, "at": n.at.to_string(), "body": n.body}))
}

/// Reports past a deadline: the coordinator's all, a member's its own.
pub fn overdue(s: &AppState, who: &Viewer) -> Result<Value> {
    let p = who.require()?;
    if p.org.kind == OrgKind::PeerHub {
        return Err(Error::new(
            Kind::Forbidden,
            "incidents are the hub's members' and coordinator's",
        ));
    }
    let now = s.config.clock.now();
    let org = (!is_coordinator(who)).then_some(p.org.id.as_str());
    let rows = s.store.overdue_reports(now, org, 1000)?;
    Ok(json!({"reports": rows.iter().map(|r| report_json(s, r, now)).collect::<Result<Vec<_>>>()?}))
}

/// How many observables one list may give.
const MAX_OBSERVABLE_LINES: usize = 1000;

/// Cyber observables (STIX SCOs) from a list an analyst typed or pasted, one per line:
/// IPv4 and IPv6 addresses (with an optional prefix), URLs, e-mail addresses, MD5,
/// SHA-1 and SHA-256 file hashes, and domain names. Blank lines and `#` comments are
/// skipped; a line that is none of these is an error naming the line.
pub fn observables(text: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let v = line.trim();
        if v.is_empty() || v.starts_with('#') {
            continue;
        }
        if out.len() == MAX_OBSERVABLE_LINES {
            return Err(bad(format!(
                "observables: at most {MAX_OBSERVABLE_LINES} lines; attach longer lists as a file"
            )));
        }
        if v.len() > 2048 {
            return Err(bad(format!(
                "observables line {}: longer than 2048 bytes",
                n + 1
            )));
        }
        let (addr, prefix) = match v.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok())),
            None => (v, None),
        };
        let prefix_ok = |max: u8| prefix.is_none_or(|p| p.is_some_and(|p| p <= max));
        let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
        let (t, body) = if addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix_ok(32) {
            ("ipv4-addr", json!({"value": v}))
        } else if addr.parse::<std::net::Ipv6Addr>().is_ok() && prefix_ok(128) {
            ("ipv6-addr", json!({"value": v.to_ascii_lowercase()}))
        } else if v.contains("://") {
            ("url", json!({"value": v}))
        } else if hex && [32, 40, 64].contains(&v.len()) {
            let alg = match v.len() {
                32 => "MD5",
                40 => "SHA-1",
                _ => "SHA-256",
            };
            ("file", json!({"hashes": {alg: v.to_ascii_lowercase()}}))
        } else if v.contains('@') && !v.contains(' ') {
            ("email-addr", json!({"value": v.to_ascii_lowercase()}))
        } else if v.contains('.')
            && v.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            ("domain-name", json!({"value": v.to_ascii_lowercase()}))
        } else {
            return Err(bad(format!(
                "observables line {}: '{v}' is not an IP address, URL, e-mail address, file hash or domain name",
                n + 1
            )));
        };
        if !seen.insert((t, body.to_string())) {
            continue;
        }
        let mut o = body;
        o["type"] = json!(t);
        o["spec_version"] = json!("2.1");
        o["id"] = json!(format!("{t}--{}", derived_uuid(&format!("{t}|{}", o))));
        out.push(o);
    }
    Ok(out)
}
