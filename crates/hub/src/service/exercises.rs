//! Exercises: the coordinator plans one (a name, the participating organizations and
//! peer hubs), starts it, sends injects (exercise warnings to the participants) while it
//! runs, and ends it; the after-action view says who acknowledged what, and how fast.
//!
//! Exercise material is marked as such everywhere it goes (the warnings' `exercise`
//! flag: pages, e-mail, webhooks, STIX), counted apart from real figures, and crosses to
//! peer hubs only under agreements that allow exercises.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{ExerciseRow, Timestamp};

use super::{warnings, Error, Kind, Result, Viewer};
use crate::AppState;

/// The body of planning an exercise.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub name: String,
    /// Organization ids.
    #[serde(default)]
    pub participants: Vec<String>,
    /// Peer hub ids.
    #[serde(default)]
    pub peers: Vec<String>,
}

/// An inject: the exercise warning's texts and severity.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct InjectInput {
    pub title: BTreeMap<String, String>,
    pub summary: BTreeMap<String, String>,
    #[serde(default)]
    pub required_action: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub severity: Option<String>,
}

fn planner(who: &Viewer) -> Result<&hinomi_store::Principal> {
    let p = who.require_coordinator()?;
    if !p.role.can_write() {
        return Err(Error::new(
            Kind::Forbidden,
            "this credential may not run exercises",
        ));
    }
    Ok(p)
}

fn view(e: &ExerciseRow) -> Value {
    json!({"id": e.id, "name": e.name, "participants": e.participants, "peers": e.peers,
        "state": e.state, "created": e.created.to_string(),
        "started": e.started.map(|t| t.to_string()), "ended": e.ended.map(|t| t.to_string())})
}

fn load(s: &AppState, id: &str) -> Result<ExerciseRow> {
    s.store
        .exercise(id)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("exercise {id} not found")))
}

/// Plans an exercise (the coordinator).
pub fn plan(s: &AppState, who: &Viewer, inp: PlanInput) -> Result<Value> {
    let p = planner(who)?;
    let name = inp.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::new(
            Kind::BadRequest,
            "name: between 1 and 200 characters",
        ));
    }
    if inp.participants.is_empty() || inp.participants.len() > 10_000 {
        return Err(Error::new(
            Kind::BadRequest,
            "participants: at least one organization (at most 10000)",
        ));
    }
    let orgs: HashMap<String, OrgKind> = s
        .store
        .organizations()?
        .into_iter()
        .filter(|o| o.removed.is_none())
        .map(|o| (o.id, o.kind))
        .collect();
    for (field, ids, peer) in [
        ("participants", &inp.participants, false),
        ("peers", &inp.peers, true),
    ] {
        for id in ids {
            match orgs.get(id) {
                Some(k) if (*k == OrgKind::PeerHub) == peer => {}
                _ => {
                    return Err(Error::new(
                        Kind::BadRequest,
                        format!(
                            "{field}: '{id}' is not a {}",
                            if peer {
                                "peer hub"
                            } else {
                                "member organization"
                            }
                        ),
                    ))
                }
            }
        }
    }
    let dedup = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let e = ExerciseRow {
        id: format!("exercise--{}", uuid::Uuid::new_v4()),
        name: name.to_string(),
        participants: dedup(&inp.participants),
        peers: dedup(&inp.peers),
        state: "planned".into(),
        created_by: p.org.id.clone(),
        created: s.config.clock.now(),
        started: None,
        ended: None,
    };
    s.store.create_exercise(&e)?;
    Ok(view(&e))
}

/// Starts a planned exercise: from now on its participants' pages carry the banner.
pub fn start(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = planner(who)?;
    let e =
        s.store
            .set_exercise_state(id, "planned", "running", s.config.clock.now(), &p.org.id)?;
    Ok(view(&e))
}

/// Ends a running exercise.
pub fn end(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    let p = planner(who)?;
    let e = s
        .store
        .set_exercise_state(id, "running", "ended", s.config.clock.now(), &p.org.id)?;
    Ok(view(&e))
}

/// The exercises the caller sees: all for the coordinator, those it takes part in for
/// a member.
pub fn list(s: &AppState, who: &Viewer) -> Result<Vec<Value>> {
    let p = who.require()?;
    let coordinator = p.org.kind == OrgKind::Coordinator;
    Ok(s.store
        .exercises(None)?
        .iter()
        // A planned exercise is not announced to its participants (no-notice drills).
        .filter(|e| coordinator || (e.state != "planned" && e.participants.contains(&p.org.id)))
        .map(view)
        .collect())
}

/// The name of the running exercise the caller takes part in (the coordinator: any),
/// for the banner on every page.
pub fn running_for(s: &AppState, who: &Viewer) -> Result<Option<String>> {
    let Some(p) = who.principal.as_ref() else {
        return Ok(None);
    };
    let coordinator = p.org.kind == OrgKind::Coordinator;
    Ok(s.store
        .exercises(Some("running"))?
        .into_iter()
        .find(|e| coordinator || e.participants.contains(&p.org.id))
        .map(|e| e.name))
}

/// Sends an inject: an exercise warning to the participants, published at once and
/// recorded against the exercise.
pub fn inject(s: &AppState, who: &Viewer, id: &str, inp: InjectInput) -> Result<Value> {
    planner(who)?;
    let e = load(s, id)?;
    if e.state != "running" {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "exercise {id} is {}; injects are sent while it runs",
                e.state
            ),
        ));
    }
    let input: warnings::WarningInput = serde_json::from_value(json!({
        "title": inp.title, "summary": inp.summary, "required_action": inp.required_action,
        "severity": inp.severity.unwrap_or_else(|| "high".into()), "tlp": "amber",
        "audience": {"organizations": e.participants}, "ack_required": true, "exercise": true,
    }))
    .map_err(|err| Error::new(Kind::BadRequest, err.to_string()))?;
    let draft = warnings::create(s, who, input)?;
    let wid = draft["id"].as_str().unwrap_or_default().to_string();
    s.store.add_inject(&e.id, &wid, s.config.clock.now())?;
    warnings::publish_draft(s, who, &wid)
}

/// After action: per inject, who was sent it, their first status and how many minutes
/// after the inject it came; and the totals.
pub fn after_action(s: &AppState, who: &Viewer, id: &str) -> Result<Value> {
    who.require_coordinator()?;
    let e = load(s, id)?;
    let names: HashMap<String, String> = s
        .store
        .organizations()?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let mut injects = Vec::new();
    let (mut sent, mut answered, mut minutes) = (0usize, 0usize, Vec::new());
    for (wid, at) in s.store.injects(&e.id)? {
        let Some(w) = s.store.warning(&wid)? else {
            continue;
        };
        let mut first: HashMap<String, (String, Timestamp)> = HashMap::new();
        for st in s.store.statuses(&wid, None)? {
            first
                .entry(st.org_id.clone())
                .or_insert((st.status.clone(), Timestamp(st.at)));
        }
        let mut rows = Vec::new();
        for r in s.store.recipient_states(&wid)? {
            sent += 1;
            let f = first.get(&r.org_id);
            let after = f.map(|(_, t)| (t.micros() - at.micros()) as f64 / 60_000_000.0);
            if let Some(m) = after {
                answered += 1;
                minutes.push(m);
            }
            rows.push(json!({
                "organization_id": r.org_id,
                "organization": names.get(&r.org_id),
                "first_status": f.map(|x| x.0.clone()),
                "at": f.map(|x| x.1.to_string()),
                "minutes": after.map(|m| (m * 10.0).round() / 10.0),
            }));
        }
        injects.push(json!({"warning_id": wid, "title": w.body["title"], "sent": at.to_string(), "recipients": rows}));
    }
    minutes.sort_by(f64::total_cmp);
    let median = (!minutes.is_empty()).then(|| minutes[minutes.len() / 2]);
    Ok(json!({
        "exercise": view(&e),
        "participants": e.participants.iter().map(|o| json!({"id": o, "name": names.get(o)})).collect::<Vec<_>>(),
        "injects": injects,
        "totals": {"sent": sent, "answered": answered,
                   "median_minutes": median.map(|m| (m * 10.0).round() / 10.0)},
    }))
}
