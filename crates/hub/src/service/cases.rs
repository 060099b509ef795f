//! The coordinator's whole case: triage ([`super::incidents`]) with what follows it
//! (referrals, recovery, sanitized warnings), and the statistics, with exercises apart.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::incidents::{self, is_coordinator};
use super::{recovery, redistribution, referral, Result, Viewer};
use crate::AppState;

/// One case: as [`incidents::get`] shows it, and for the coordinator its referrals,
/// recovery and the sanitized warnings drafted from it.
pub fn get(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let mut v = incidents::get(s, who, id)?;
    if is_coordinator(who) {
        v["referrals"] = json!(referral::for_case(s, who, id)?);
        v["recovery"] = recovery::case_recovery(s, who, id)?["organizations"].take();
        v["warnings"] = json!(redistribution::for_case(s, id)?);
    }
    Ok(v)
}

/// Incident statistics for the coordinator: cases by state and reports by kind. Exercise
/// data never counts in the real figures; it is counted apart, under `exercise`.
pub fn stats(s: &AppState, who: &Viewer) -> Result<Value> {
    incidents::coordinator(who)?;
    let c = s.store.incident_counts()?;
    let split = |rows: &[(String, bool, i64)], exercise: bool| -> BTreeMap<String, i64> {
        rows.iter()
            .filter(|r| r.1 == exercise)
            .map(|r| (r.0.clone(), r.2))
            .collect()
    };
    let total = |m: &BTreeMap<String, i64>| m.values().sum::<i64>();
    let (cases, reports) = (
        split(&c.cases_by_state, false),
        split(&c.reports_by_kind, false),
    );
    let (xcases, xreports) = (
        split(&c.cases_by_state, true),
        split(&c.reports_by_kind, true),
    );
    Ok(json!({
        "cases": total(&cases), "cases_by_state": cases,
        "reports": total(&reports), "reports_by_kind": reports,
        "exercise": {"cases": total(&xcases), "cases_by_state": xcases,
                     "reports": total(&xreports), "reports_by_kind": xreports},
    }))
}

/// Rows of open cases read for the situation, at most (a case per reporter sector list).
const OPEN_CASES_READ: usize = 100_000;

/// The coordinator's situation beyond the case counts: open real cases by severity
/// and by the reporters' sectors, reports past their deadlines, the organizations and
/// assets affected per advisory (the ten widest), the delivery outbox and each peer
/// hub's last pull, push and error. Exercise cases never count here.
pub fn situation(s: &AppState, who: &Viewer) -> Result<Value> {
    incidents::coordinator(who)?;
    // Each case counts once per severity and once in each sector it touches.
    let mut cases: BTreeMap<String, (Option<String>, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for (id, severity, sectors) in s.store.open_cases_with_sectors(OPEN_CASES_READ)? {
        let sectors: Vec<String> = serde_json::from_str(&sectors).unwrap_or_default();
        let e = cases.entry(id).or_insert((severity, Default::default()));
        if sectors.is_empty() {
            e.1.insert("unspecified".to_string());
        }
        e.1.extend(sectors);
    }
    let mut by_severity: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_sector: BTreeMap<String, i64> = BTreeMap::new();
    for (severity, sectors) in cases.into_values() {
        *by_severity
            .entry(severity.unwrap_or_else(|| "unassessed".into()))
            .or_default() += 1;
        for sec in sectors {
            *by_sector.entry(sec).or_default() += 1;
        }
    }
    let now = s.config.clock.now();
    let overdue = s.store.overdue_report_count(now)?;
    let affected = s.store.affected_by_advisory_top(10)?;
    let (pending, delivered, dead) = s.store.delivery_counts()?;
    let mut peers = Vec::new();
    for p in s.store.peers()? {
        let st = s.store.peer_status(&p.id)?;
        peers.push(json!({
            "id": p.id, "name": p.name,
            "last_pull": st.last_pull.map(|t| hinomi_store::Timestamp(t).to_string()),
            "last_push": st.last_push.map(|t| hinomi_store::Timestamp(t).to_string()),
            "last_error": st.last_error,
        }));
    }
    Ok(json!({
        "open_by_severity": by_severity,
        "open_by_sector": by_sector,
        "overdue_reports": overdue,
        "affected_by_advisory": affected,
        "deliveries": {"pending": pending, "delivered": delivered, "dead": dead},
        "peers": peers,
    }))
}
