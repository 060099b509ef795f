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
