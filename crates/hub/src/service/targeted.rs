//! Targeted vulnerability warnings: when matching finds new `affected` findings of a
//! known-exploited (CISA KEV) or critical (CVSS ≥ 9.0) vulnerability, the hub drafts —
//! or, by policy, publishes — one warning per advisory addressed to exactly the
//! affected organizations, each told only its own affected assets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use hinomi_stix::Tlp;
use hinomi_store::{FindingRow, NewEvent, StoreError, WarningRow};

use super::delivery::TargetedWarnings;
use crate::AppState;

/// Runs [`on_new_findings`]; a failure is logged, not returned (the findings are
/// stored either way).
pub fn after_matching(s: &AppState, rows: Vec<FindingRow>) -> Vec<String> {
    if rows.is_empty() {
        return vec![];
    }
    match on_new_findings(s, &rows) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "targeted warnings");
            vec![]
        }
    }
}

/// Acts on new or changed findings; returns the ids of warnings drafted or published.
pub fn on_new_findings(s: &AppState, rows: &[FindingRow]) -> Result<Vec<String>, StoreError> {
    if s.config.notify.targeted == TargetedWarnings::Off || rows.is_empty() {
        return Ok(vec![]);
    }
    let cves: Vec<String> = rows
        .iter()
        .filter(|r| r.vulnerability.starts_with("CVE-"))
        .map(|r| r.vulnerability.clone())
        .collect();
    let kev: BTreeSet<String> = s.store.known_exploited(&cves)?.into_iter().collect();
    let mut groups: BTreeMap<(String, String), Vec<&FindingRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == "affected") {
        let critical = r.max_score.is_some_and(|x| x >= 90);
        if critical || kev.contains(&r.vulnerability) {
            groups
                .entry((r.publisher.clone(), r.tracking_id.clone()))
                .or_default()
                .push(r);
        }
    }
    let Some(coordinator) = s.store.coordinator()? else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    let existing = s.store.warnings()?;
    for ((publisher, tracking_id), findings) in groups {
        let key = format!("{publisher}/{tracking_id}");
        let vulns: BTreeSet<&str> = findings.iter().map(|f| f.vulnerability.as_str()).collect();
        let exploited: Vec<&str> = vulns.iter().copied().filter(|v| kev.contains(*v)).collect();
        let top = findings.iter().filter_map(|f| f.max_score).max();
        let severity = if top.is_some_and(|x| x >= 90) || !exploited.is_empty() {
            "critical"
        } else {
            "high"
        };
        let mut details: BTreeMap<String, Value> = BTreeMap::new();
        for f in &findings {
            let d = details
                .entry(f.org_id.clone())
                .or_insert_with(|| json!({"advisory": key, "assets": [], "findings": []}));
            let asset = format!("{}: {}", f.asset, f.component);
            let assets = d["assets"].as_array_mut().expect("assets is a list");
            if !assets.iter().any(|a| a == &json!(asset)) {
                assets.push(json!(asset));
            }
            d["findings"]
                .as_array_mut()
                .expect("findings is a list")
                .push(json!({
                    "asset": f.asset, "component": f.component, "vulnerability": f.vulnerability,
                    "max_cvss": f.max_score.map(|x| x as f64 / 10.0),
                    "known_exploited": kev.contains(&f.vulnerability),
                }));
        }
        let remediation = findings
            .iter()
            .flat_map(|f| {
                f.detail["remediations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|r| r["details"].as_str().map(String::from))
            .next();
        let list = vulns.iter().copied().collect::<Vec<_>>().join(", ");
        let why_en = if exploited.is_empty() {
            "rated critical (CVSS 9.0 or higher)".to_string()
        } else {
            format!("known to be exploited ({})", exploited.join(", "))
        };
        let why_ja = if exploited.is_empty() {
            "深刻度が緊急 (CVSS 9.0 以上)"
        } else {
            "悪用が確認されている"
        };
        let orgs: Vec<String> = details.keys().cloned().collect();
        let prior = existing.iter().find(|w| {
            w.owner_org == coordinator.id
                && w.body["origin"]["advisory"] == json!(key)
                && w.state != "withdrawn"
        });
        let mut all_details: serde_json::Map<String, Value> = prior
            .and_then(|w| w.body["recipient_details"].as_object().cloned())
            .unwrap_or_default();
        for (k, v) in &details {
            all_details.insert(k.clone(), v.clone());
        }
        let audience: Vec<String> = all_details.keys().cloned().collect();
        let doc = json!({
            "title": {
                "en": format!("Vulnerability {list} ({key}) affects your assets"),
                "ja": format!("脆弱性 {list} ({key}) が貴組織の資産に影響します"),
            },
            "summary": {
                "en": format!("Matching the advisory {key} against your asset inventory found affected components. The vulnerability is {why_en}. The assets concerned are listed for your organization."),
                "ja": format!("アドバイザリ {key} と資産インベントリの照合により、影響を受けるコンポーネントが見つかりました。この脆弱性は{why_ja}ものです。該当する資産は貴組織向けに記載しています。"),
            },
            "required_action": {
                "en": remediation.clone().unwrap_or_else(|| "Apply the vendor's remediation for the affected components, or isolate them.".into()),
                "ja": remediation.map(|r| format!("ベンダーの対策を適用してください: {r}")).unwrap_or_else(|| "影響を受けるコンポーネントにベンダーの対策を適用するか、隔離してください。".into()),
            },
            "severity": severity,
            "tlp": Tlp::Amber.label(),
            "audience": {"all": false, "sectors": [], "organizations": audience, "communities": []},
            "action_due": null, "ack_due": null, "exercise": false,
            "report_types": ["vulnerability"],
            "objects": [],
            "origin": {"advisory": key, "vulnerabilities": vulns},
            "recipient_details": all_details,
        });
        let now = s.config.clock.now().micros();
        match prior {
            Some(w) if w.state == "draft" => {
                let mut nw = w.clone();
                nw.body = doc;
                nw.severity = severity.into();
                nw.updated = now;
                s.store.update_draft(&nw)?;
                out.push(nw.id);
            }
            Some(w) => {
                let mut nw = w.clone();
                let mut doc = doc;
                for k in ["modified", "published", "stix_audience"] {
                    doc[k] = w.body[k].clone();
                }
                nw.body = doc;
                let changes = format!("newly affected organizations: {}", orgs.len());
                let id = nw.id.clone();
                let d: HashMap<String, Value> = all_details.clone().into_iter().collect();
                super::warnings::publish(s, nw, "updated", Some(changes), &coordinator.id, &d)
                    .map_err(|e| StoreError::Invalid(e.message))?;
                out.push(id);
            }
            None => {
                let w = WarningRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    owner_org: coordinator.id.clone(),
                    state: "draft".into(),
                    version: 0,
                    severity: severity.into(),
                    tlp: Tlp::Amber,
                    exercise: false,
                    ack_required: false,
                    ack_due: None,
                    created: now,
                    updated: now,
                    body: doc,
                };
                s.store.create_warning(&w)?;
                let id = w.id.clone();
                if s.config.notify.targeted == TargetedWarnings::Publish {
                    let details: HashMap<String, Value> = details.into_iter().collect();
                    super::warnings::publish(s, w, "published", None, &coordinator.id, &details)
                        .map_err(|e| StoreError::Invalid(e.message))?;
                } else {
                    s.store.add_events(
                        &[NewEvent {
                            org_id: coordinator.id.clone(),
                            event: "warning.drafted".into(),
                            warning_id: Some(id.clone()),
                            data: json!({"id": id, "severity": severity, "advisory": key, "organizations": orgs.len()}),
                        }],
                        now,
                    )?;
                    s.wake_stream();
                }
                out.push(id);
            }
        }
    }
    Ok(out)
}
