//! Sanitized redistribution: one action drafts a warning (the warning flow's draft,
//! published, delivered and acknowledged like any other) from a confirmed case, with
//! the reporters removed.
//!
//! What leaves: the case's indicators, cyber observables (as indicators of their
//! values), vulnerabilities, attack patterns, malware, tools and courses of action
//! (remediation), re-authored by the coordinator's identity under new ids, with no names, descriptions, references,
//! markings or extensions of the reporter's, and relationships only between what is
//! kept. Texts are the coordinator's or generated from the case's non-identifying fields
//! (classification, attack vector, impact, counts). What stays: every organization,
//! identity, contact, free text and attachment name of a reporter, unless the
//! coordinator keeps it and every report's consent allows (naming needs share_named;
//! anything at all needs share_anonymized, and a report without it contributes
//! nothing). As a last guard, any object that still names a reporter (its organization
//! id, name or identity, a contact of its recovery plan, an attachment name) is left out
//! and said so, and a coordinator text that names one is refused.
//!
//! The preview answers exactly the draft the action would store. The mapping from the
//! warning back to the case and its reports is the coordinator's alone, kept in the
//! case's timeline and the audit log.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use hinomi_stix::{REPORT_EXTENSION_ID, SCO_TYPES};
use hinomi_store::{IncidentRow, ReportRow, WarningOrigin, WarningRow};

use super::incidents::{actor, bad, load_case, report_objects, triager};
use super::{derived_uuid, warnings, Error, Kind, Result, Viewer};
use crate::AppState;

/// What the coordinator keeps that is otherwise removed.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    /// Name the reporting organizations (every report must consent to share_named).
    #[serde(default)]
    pub reporter: bool,
    /// The reports' descriptions and the kept objects' names and descriptions.
    #[serde(default)]
    pub description: bool,
    /// The names of attachments.
    #[serde(default)]
    pub attachment_names: bool,
    /// The affected sector.
    #[serde(default)]
    pub sector: bool,
}

/// The body of `POST /api/v1/incidents/{id}/warning` (and `…/warning/preview`): the
/// warning's own fields (as `POST /api/v1/warnings` takes them; title and summary
/// default to generated texts in English and Japanese), what to keep, and which
/// reports to draw from (default: all that consent).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SanitizeInput {
    #[serde(default)]
    pub title: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub summary: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub required_action: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
    pub audience: Value,
    #[serde(default)]
    pub action_due: Option<String>,
    #[serde(default)]
    pub ack_required: Option<bool>,
    #[serde(default)]
    pub ack_due: Option<String>,
    #[serde(default)]
    pub keep: Keep,
    #[serde(default)]
    pub reports: Option<Vec<String>>,
}

/// The types of object that may leave, and the properties each keeps (beyond type,
/// spec_version, id, created, modified and created_by_ref); with `keep_text`, also
/// their names and descriptions.
/// The id of what a sanitized warning carries for `source` (an object id or a
/// pattern) of incident `case_id`: stable (a preview and the warning agree, every node
/// derives the same), and keyed with the hub's secret so that no recipient can test a
/// guess of the report's own ids or the case against it.
fn sanitized_uuid(s: &AppState, case_id: &str, source: &str) -> String {
    let tag = s
        .config
        .notify
        .key
        .mac("sanitized-id", format!("{case_id}/{source}").as_bytes());
    derived_uuid(&tag)
}

fn kept_properties(t: &str, keep_text: bool) -> Option<Vec<&'static str>> {
    let (base, texts): (&[&str], &[&str]) = match t {
        "indicator" => (
            &[
                "pattern",
                "pattern_type",
                "pattern_version",
                "valid_from",
                "valid_until",
                "indicator_types",
                "kill_chain_phases",
            ],
            &["name", "description"],
        ),
        // Remediation is what the warning is for: its texts stay.
        "course-of-action" => (&["name", "description"], &[]),
        "vulnerability" => (&["name", "external_references"], &[]),
        "attack-pattern" | "tool" => (&["name", "external_references"], &["description"]),
        "malware" => (&["name", "is_family", "malware_types"], &["description"]),
        "relationship" => (&["relationship_type", "source_ref", "target_ref"], &[]),
        _ => return None,
    };
    let mut v = base.to_vec();
    if keep_text {
        v.extend_from_slice(texts);
    }
    Some(v)
}

/// The STIX pattern that matches a cyber observable's value (or any of its hashes).
pub(crate) fn observable_pattern(t: &str, o: &Value) -> Option<String> {
    let quote = |v: &str| v.replace('\\', "\\\\").replace('\'', "\\'");
    if let Some(v) = o["value"].as_str() {
        return Some(format!("[{t}:value = '{}']", quote(v)));
    }
    if let Some(n) = o["number"].as_u64() {
        return Some(format!("[{t}:number = {n}]"));
    }
    let hashes = o["hashes"].as_object()?;
    let parts: Vec<String> = hashes
        .iter()
        .filter_map(|(k, v)| {
            v.as_str()
                .map(|v| format!("{t}:hashes.'{}' = '{}'", quote(k), quote(v)))
        })
        .collect();
    (!parts.is_empty()).then(|| format!("[{}]", parts.join(" OR ")))
}

/// External references that name public catalogues, not the reporter.
fn public_reference(r: &Value) -> bool {
    matches!(
        r["source_name"].as_str(),
        Some("cve" | "capec" | "mitre-attack" | "cwe" | "nvd")
    )
}

/// Strings that identify a reporter of the case (every reporter, whether its report is
/// drawn from or not): its organization's id, name and identity, the addresses and
/// domains of its e-mail contacts, its webhook hosts, its recovery plan's contacts, and
/// attachment names. Checked case-insensitively in every string that leaves. A failure
/// to read any of them fails the draft: the check never passes for want of data.
fn identifiers(
    s: &AppState,
    all: &[ReportRow],
    chosen: &[ReportRow],
    keep: &Keep,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let named: BTreeSet<&str> = if keep.reporter {
        chosen.iter().map(|r| r.reporter_org.as_str()).collect()
    } else {
        BTreeSet::new()
    };
    let mut orgs: Vec<&str> = all.iter().map(|r| r.reporter_org.as_str()).collect();
    orgs.sort();
    orgs.dedup();
    for org in orgs {
        if named.contains(org) {
            continue;
        }
        let o = s.store.organization(org)?;
        out.extend([o.id.clone(), o.name.clone(), o.identity_id.clone()]);
        for c in s.store.contacts(Some(org))? {
            if let Some((_, domain)) = c.email.rsplit_once('@') {
                out.push(domain.to_string());
            }
            out.push(c.email);
        }
        for w in s.store.webhooks(Some(org))? {
            if let Some(host) = w
                .url
                .split_once("://")
                .and_then(|(_, rest)| rest.split(['/', ':', '?', '#']).next())
            {
                out.push(host.to_string());
            }
        }
        if let Some((plan, _)) = s.store.recovery_plan(org)? {
            for c in plan["contacts"].as_array().into_iter().flatten() {
                for k in ["name", "email", "phone"] {
                    if let Some(v) = c[k].as_str() {
                        out.push(v.to_string());
                    }
                }
                if let Some((_, domain)) = c["email"].as_str().and_then(|e| e.rsplit_once('@')) {
                    out.push(domain.to_string());
                }
            }
        }
    }
    if !keep.attachment_names {
        for r in all {
            out.extend(
                s.store
                    .report_attachments(&r.id)?
                    .into_iter()
                    .map(|a| a.name),
            );
        }
    }
    let mut out: Vec<String> = out
        .into_iter()
        .map(|x| x.trim().to_lowercase())
        .filter(|x| x.chars().count() >= 3 && !matches!(x.as_str(), "localhost" | "127.0.0.1"))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn names_one(v: &str, ids: &[String]) -> Option<String> {
    let low = v.to_lowercase();
    ids.iter().find(|i| low.contains(i.as_str())).cloned()
}

/// The first identifier found in any string of `v` (keys and values, unescaped).
fn names_in(v: &Value, ids: &[String]) -> Option<String> {
    match v {
        Value::String(x) => names_one(x, ids),
        Value::Array(a) => a.iter().find_map(|x| names_in(x, ids)),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, x)| names_one(k, ids).or_else(|| names_in(x, ids))),
        _ => None,
    }
}

/// The sanitized draft and what the coordinator is told about it.
struct Draft {
    input: Value,
    reports: Vec<String>,
    removed: Vec<Value>,
    kept: Value,
}

fn label(v: &str) -> String {
    v.replace('-', " ")
}

fn draft(s: &AppState, who: &Viewer, case: &IncidentRow, inp: &SanitizeInput) -> Result<Draft> {
    let p = triager(who)?;
    if let Some(m) = &case.merged_into {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "incident {} is merged into {m}; draft from that one",
                case.id
            ),
        ));
    }
    if !matches!(
        case.state.as_str(),
        "confirmed" | "contained" | "recovering" | "closed"
    ) {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "incident {} is {}; a warning is drafted from a confirmed incident",
                case.id, case.state
            ),
        ));
    }
    let all = s.store.incident_reports(&case.id)?;
    let chosen: Vec<ReportRow> = match &inp.reports {
        None => all.iter().filter(|r| r.share_anonymized).cloned().collect(),
        Some(ids) if ids.is_empty() || ids.len() > 1000 => {
            return Err(bad(
                "reports: name 1 to 1000 reports of this incident (or leave it out for all that consent)",
            ))
        }
        Some(ids) if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() => {
            return Err(bad("reports: a report is named twice"))
        }
        Some(ids) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                all.iter().find(|r| &r.id == id).cloned().ok_or_else(|| {
                    bad(format!(
                        "reports[{i}]: {id} is not a report of incident {}",
                        case.id
                    ))
                })
            })
            .collect::<Result<_>>()?,
    };
    for r in &chosen {
        if !r.share_anonymized {
            return Err(Error::new(
                Kind::Forbidden,
                format!(
                    "report {}: its reporter did not consent to sharing it, even anonymized",
                    r.id
                ),
            ));
        }
        if inp.keep.reporter && !r.share_named {
            return Err(Error::new(
                Kind::Forbidden,
                format!(
                    "keep.reporter: report {}'s reporter did not consent to being named",
                    r.id
                ),
            ));
        }
    }
    if chosen.is_empty() {
        return Err(Error::new(
            Kind::Forbidden,
            format!("incident {}: no report consents to sharing", case.id),
        ));
    }
    let ids = identifiers(s, &all, &chosen, &inp.keep)?;
    // The case's version: a preview and the draft made from the same case are equal.
    let now = case.updated.to_string();

    // The report facts the generated texts may use.
    // Every object of the drawn reports; the reports' own incidents are among them.
    let mut objects: Vec<Value> = Vec::new();
    for r in &chosen {
        objects.extend(report_objects(s, who, r)?);
    }
    let facts: Vec<Value> = objects
        .iter()
        .filter(|o| o["type"] == "incident" && chosen.iter().any(|r| o["id"] == r.id.as_str()))
        .cloned()
        .collect();

    // Re-author what may leave.
    let mut map: HashMap<String, String> = HashMap::new();
    let mut out: Vec<Value> = Vec::new();
    let mut removed = Vec::new();
    let mut relationships = Vec::new();
    // An observable already matched by a reported indicator's pattern adds nothing.
    let mut patterns: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["type"] == "indicator")
        .filter_map(|o| o["pattern"].as_str().map(str::to_string))
        .collect();
    for o in &objects {
        let t = o["type"].as_str().unwrap_or_default();
        let id = o["id"].as_str().unwrap_or_default().to_string();
        if t == "incident" {
            continue;
        }
        if SCO_TYPES.contains(&t) {
            // A cyber observable is owned by whoever stored it first; it leaves as the
            // coordinator's indicator of its value.
            let Some(pattern) = observable_pattern(t, o) else {
                removed
                    .push(json!({"object": id, "why": format!("a {t} without a value or hashes")}));
                continue;
            };
            if !patterns.insert(pattern.clone()) {
                continue;
            }
            let new_id = format!("indicator--{}", sanitized_uuid(s, &case.id, &pattern));
            out.push(
                json!({"type": "indicator", "spec_version": "2.1", "id": new_id,
                "created": now, "modified": now, "created_by_ref": p.org.identity_id,
                "pattern": pattern, "pattern_type": "stix", "valid_from": now,
                "indicator_types": ["malicious-activity"]}),
            );
            continue;
        }
        let Some(props) = kept_properties(t, inp.keep.description) else {
            removed.push(json!({"object": id, "why": format!("{t} objects do not leave in a sanitized warning")}));
            continue;
        };
        let new_id = format!("{t}--{}", sanitized_uuid(s, &case.id, &id));
        let mut v = json!({"type": t, "spec_version": "2.1", "id": new_id, "created": now,
            "modified": now, "created_by_ref": p.org.identity_id});
        for k in props.iter() {
            let Some(x) = o.get(*k) else { continue };
            if *k == "external_references" {
                let public: Vec<Value> = x
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| public_reference(r) && r["external_id"].is_string())
                    // The catalogue's name and entry only: a reporter's URL or remark stays.
                    .map(|r| json!({"source_name": r["source_name"], "external_id": r["external_id"]}))
                    .collect();
                if !public.is_empty() {
                    v[*k] = json!(public);
                }
                continue;
            }
            v[*k] = x.clone();
        }
        if t == "indicator" && v.get("valid_from").is_none() {
            v["valid_from"] = json!(now);
        }
        map.insert(id.clone(), new_id);
        if t == "relationship" {
            relationships.push(v);
        } else {
            out.push(v);
        }
    }
    for mut r in relationships {
        let src = r["source_ref"].as_str().and_then(|x| map.get(x)).cloned();
        let dst = r["target_ref"].as_str().and_then(|x| map.get(x)).cloned();
        match (src, dst) {
            (Some(a), Some(b)) => {
                r["source_ref"] = json!(a);
                r["target_ref"] = json!(b);
                out.push(r);
            }
            _ => removed.push(
                json!({"object": r["id"], "why": "it relates an object that does not leave"}),
            ),
        }
    }
    // The last guard: nothing that names a reporter.
    let mut safe = Vec::new();
    for v in out {
        match names_in(&v, &ids) {
            Some(_) => removed.push(json!({"object": v["id"], "why": "it names a reporter"})),
            None => safe.push(v),
        }
    }
    let indicators = safe.iter().filter(|v| v["type"] == "indicator").count();
    let remediation: Vec<String> = safe
        .iter()
        .filter(|v| v["type"] == "course-of-action")
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();

    let rep = |f: &Value, k: &str| f["extensions"][REPORT_EXTENSION_ID][k].clone();
    let first = |k: &str, sub: &str| {
        facts
            .iter()
            .find_map(|f| rep(f, k)[sub].as_str().map(str::to_string))
    };
    let class = first("taxonomy", "class");
    let kind = first("taxonomy", "type");
    let vector = first("impact", "attack_vector");
    let functional = first("impact", "functional");
    let orgs = chosen
        .iter()
        .map(|r| r.reporter_org.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    let mut en = format!(
        "The national coordinator confirmed a security incident reported by {} organization{}.",
        orgs.len(),
        if orgs.len() == 1 { "" } else { "s" }
    );
    let mut ja = format!(
        "調整機関は {} 組織から報告されたセキュリティインシデントを確認しました。",
        orgs.len()
    );
    if let (Some(c), Some(k)) = (&class, &kind) {
        en.push_str(&format!(" Classification: {} / {}.", label(c), label(k)));
        ja.push_str(&format!(" 分類: {} / {}。", label(c), label(k)));
    }
    if let Some(v) = &vector {
        en.push_str(&format!(" Attack vector: {}.", label(v)));
        ja.push_str(&format!(" 攻撃経路: {}。", label(v)));
    }
    if let Some(f) = &functional {
        en.push_str(&format!(" Functional impact: {}.", label(f)));
        ja.push_str(&format!(" 機能への影響: {}。", label(f)));
    }
    if inp.keep.sector {
        if let Some(sec) = facts
            .iter()
            .find_map(|f| rep(f, "sector").as_str().map(str::to_string))
        {
            en.push_str(&format!(" Affected sector: {sec}."));
            ja.push_str(&format!(" 影響を受けた分野: {sec}。"));
        }
    }
    if inp.keep.reporter {
        let names: Vec<String> = orgs
            .iter()
            .filter_map(|o| s.store.organization(o).ok().map(|o| o.name))
            .collect();
        en.push_str(&format!(" Reported by: {}.", names.join(", ")));
        ja.push_str(&format!(" 報告組織: {}。", names.join("、")));
    }
    if inp.keep.description {
        for f in &facts {
            if let Some(d) = f["description"].as_str() {
                en.push_str("\n\n");
                en.push_str(d);
            }
        }
    }
    en.push_str(&format!(
        "\n\n{indicators} indicator(s) of the observed activity follow."
    ));
    ja.push_str(&format!(
        "\n\n観測された活動の指標 {indicators} 件を添付します。"
    ));
    let title = inp.title.clone().unwrap_or_else(|| {
        let k = kind
            .as_deref()
            .map(label)
            .unwrap_or_else(|| "security incident".into());
        BTreeMap::from([
            ("en".to_string(), format!("Confirmed incident: {k}")),
            ("ja".to_string(), format!("インシデント確認: {k}")),
        ])
    });
    let summary = inp
        .summary
        .clone()
        .unwrap_or_else(|| BTreeMap::from([("en".to_string(), en), ("ja".to_string(), ja)]));
    let required_action = inp.required_action.clone().or_else(|| {
        Some(if remediation.is_empty() {
            BTreeMap::from([
                ("en".to_string(), "Search your systems and logs for the indicators and observables below, block them, and report any sighting to the coordinator.".to_string()),
                ("ja".to_string(), "以下の指標と観測値について自組織のシステムとログを確認して遮断し、検知した場合は調整機関に報告してください。".to_string()),
            ])
        } else {
            BTreeMap::from([
                ("en".to_string(), format!("Apply: {}.", remediation.join("; "))),
                ("ja".to_string(), format!("対処: {}。", remediation.join("、"))),
            ])
        })
    });
    for (field, texts) in [
        ("title", Some(&title)),
        ("summary", Some(&summary)),
        ("required_action", required_action.as_ref()),
    ] {
        for (lang, t) in texts.into_iter().flatten() {
            if let Some(hit) = names_one(t, &ids) {
                return Err(bad(format!(
                    "{field}.{lang}: names a reporter ('{hit}'); remove it, or keep the reporter (which needs the reporters' consent)"
                )));
            }
        }
    }
    let severity = inp.severity.clone().unwrap_or_else(|| {
        match case.severity.as_deref() {
            Some("emergency" | "severe") => "critical",
            Some("high") => "high",
            Some("medium") => "medium",
            Some("low") => "low",
            Some(_) => "informational",
            None => "medium",
        }
        .to_string()
    });
    let mut input = Map::new();
    input.insert("title".into(), json!(title));
    input.insert("summary".into(), json!(summary));
    input.insert("required_action".into(), json!(required_action));
    input.insert("severity".into(), json!(severity));
    if let Some(t) = &inp.tlp {
        input.insert("tlp".into(), json!(t));
    }
    input.insert("audience".into(), inp.audience.clone());
    for (k, v) in [("action_due", &inp.action_due), ("ack_due", &inp.ack_due)] {
        if let Some(v) = v {
            input.insert(k.into(), json!(v));
        }
    }
    if let Some(a) = inp.ack_required {
        input.insert("ack_required".into(), json!(a));
    }
    // An exercise case makes an exercise warning, whatever was asked.
    input.insert("exercise".into(), json!(case.exercise));
    input.insert("objects".into(), json!(safe));
    Ok(Draft {
        input: Value::Object(input),
        reports: chosen.iter().map(|r| r.id.clone()).collect(),
        removed,
        kept: json!({"reporter": inp.keep.reporter, "description": inp.keep.description,
            "attachment_names": inp.keep.attachment_names, "sector": inp.keep.sector}),
    })
}

fn checked(s: &AppState, who: &Viewer, d: &Draft) -> Result<WarningRow> {
    let inp: warnings::WarningInput = serde_json::from_value(d.input.clone())
        .map_err(|e| bad(format!("the warning drafted from the incident: {e}")))?;
    warnings::checked_draft(s, who, inp)
}

/// What the action would draft, exactly, without storing anything.
pub fn preview(s: &AppState, who: &Viewer, id: &str, inp: SanitizeInput) -> Result<Value> {
    let case = load_case(s, id)?;
    let d = draft(s, who, &case, &inp)?;
    let w = checked(s, who, &d)?;
    let mut v = warnings::draft_view(&w);
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    Ok(json!({"warning": v, "removed": d.removed, "reports": d.reports, "kept": d.kept}))
}

/// Drafts the sanitized warning and records where it came from (coordinator-only).
/// It is then published like any draft.
pub fn create(s: &AppState, who: &Viewer, id: &str, inp: SanitizeInput) -> Result<Value> {
    let p = triager(who)?;
    let case = load_case(s, id)?;
    let d = draft(s, who, &case, &inp)?;
    let w = checked(s, who, &d)?;
    let origin = WarningOrigin {
        warning_id: w.id.clone(),
        incident_id: case.id.clone(),
        reports: d.reports.clone(),
        kept: d.kept.clone(),
        created_by: p.org.id.clone(),
        created: s.config.clock.now(),
    };
    s.store.create_warning_from_case(&w, &origin, actor(p))?;
    Ok(
        json!({"warning": warnings::draft_view(&w), "removed": d.removed, "reports": d.reports, "kept": d.kept}),
    )
}

/// The sanitized warnings drafted from a case, for the coordinator's case view.
pub fn for_case(s: &AppState, incident_id: &str) -> Result<Vec<Value>> {
    Ok(s.store
        .warning_origins(incident_id)?
        .into_iter()
        .map(|o| {
            json!({"warning": o.warning_id, "reports": o.reports, "kept": o.kept,
            "created_by": o.created_by, "created": o.created.to_string()})
        })
        .collect())
}
