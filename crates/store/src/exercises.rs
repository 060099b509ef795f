//! Exercises: planned, running and ended, with their participants and the warnings sent
//! as their injects. Policy (who plans, what an inject is) is the hub's; every change
//! is audited in its transaction.

use serde_json::json;

use hinomi_stix::Timestamp;

use crate::db::{Conn, Row};
use crate::{append_audit, Store, StoreError};

/// An exercise.
#[derive(Debug, Clone, PartialEq)]
pub struct ExerciseRow {
    pub id: String,
    pub name: String,
    /// Organization ids.
    pub participants: Vec<String>,
    /// Peer hub ids.
    pub peers: Vec<String>,
    /// `planned`, `running` or `ended`.
    pub state: String,
    pub created_by: String,
    pub created: Timestamp,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
}

const COLUMNS: &str = "id, name, participants, peers, state, created_by, created, started, ended";

fn row(r: &Row) -> ExerciseRow {
    ExerciseRow {
        id: r[0].text(),
        name: r[1].text(),
        participants: serde_json::from_str(&r[2].text()).unwrap_or_default(),
        peers: serde_json::from_str(&r[3].text()).unwrap_or_default(),
        state: r[4].text(),
        created_by: r[5].text(),
        created: Timestamp(r[6].int()),
        started: r[7].opt_int().map(Timestamp),
        ended: r[8].opt_int().map(Timestamp),
    }
}

fn exercise_in(c: &mut Conn, id: &str) -> Result<Option<ExerciseRow>, StoreError> {
    Ok(c.query_one(
        &format!("SELECT {COLUMNS} FROM exercises WHERE id = ?"),
        &[id.into()],
    )?
    .map(|r| row(&r)))
}

impl Store {
    /// Plans an exercise.
    pub fn create_exercise(&self, e: &ExerciseRow) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    &format!(
                        "INSERT INTO exercises ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    &[
                        (&e.id).into(),
                        (&e.name).into(),
                        json!(e.participants).to_string().into(),
                        json!(e.peers).to_string().into(),
                        (&e.state).into(),
                        (&e.created_by).into(),
                        e.created.micros().into(),
                        e.started.map(|t| t.micros()).into(),
                        e.ended.map(|t| t.micros()).into(),
                    ],
                )?;
                append_audit(
                    c,
                    Some(&e.created_by),
                    "exercise.plan",
                    Some(&e.id),
                    &json!({"name": e.name, "participants": e.participants, "peers": e.peers}),
                )
            })
        })
    }

    /// Moves an exercise from `from` to `to` (`running` sets `started`, `ended` sets
    /// `ended`). Conflict when it is not in `from` (any more).
    pub fn set_exercise_state(
        &self,
        id: &str,
        from: &str,
        to: &str,
        at: Timestamp,
        actor_org: &str,
    ) -> Result<ExerciseRow, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let column = if to == "running" { "started" } else { "ended" };
                let n = c.execute(
                    &format!(
                        "UPDATE exercises SET state = ?, {column} = ? WHERE id = ? AND state = ?"
                    ),
                    &[to.into(), at.micros().into(), id.into(), from.into()],
                )?;
                let e = exercise_in(c, id)?
                    .ok_or_else(|| StoreError::NotFound(format!("exercise {id}")))?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!(
                        "exercise {id} is {}, not {from}",
                        e.state
                    )));
                }
                append_audit(
                    c,
                    Some(actor_org),
                    &format!("exercise.{}", if to == "running" { "start" } else { "end" }),
                    Some(id),
                    &json!({"name": e.name}),
                )?;
                Ok(e)
            })
        })
    }

    /// One exercise.
    pub fn exercise(&self, id: &str) -> Result<Option<ExerciseRow>, StoreError> {
        self.pool.with(|c| exercise_in(c, id))
    }

    /// Exercises, newest first (at most 200), or only those in `state`.
    pub fn exercises(&self, state: Option<&str>) -> Result<Vec<ExerciseRow>, StoreError> {
        self.pool.with(|c| {
            let rows = match state {
                Some(st) => c.query(
                    &format!("SELECT {COLUMNS} FROM exercises WHERE state = ? ORDER BY created DESC LIMIT 200"),
                    &[st.into()],
                )?,
                None => c.query(
                    &format!("SELECT {COLUMNS} FROM exercises ORDER BY created DESC LIMIT 200"),
                    &[],
                )?,
            };
            Ok(rows.iter().map(row).collect())
        })
    }

    /// Records a warning as an inject of a running exercise. Conflict when the
    /// exercise is not running (any more).
    pub fn add_inject(
        &self,
        exercise_id: &str,
        warning_id: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let e = exercise_in(c, exercise_id)?
                    .ok_or_else(|| StoreError::NotFound(format!("exercise {exercise_id}")))?;
                if e.state != "running" {
                    return Err(StoreError::Conflict(format!(
                        "exercise {exercise_id} is {}; injects are sent while it runs",
                        e.state
                    )));
                }
                c.execute(
                    "INSERT INTO exercise_injects (exercise_id, warning_id, at) VALUES (?, ?, ?)",
                    &[exercise_id.into(), warning_id.into(), at.micros().into()],
                )?;
                Ok(())
            })
        })
    }

    /// The warnings sent as an exercise's injects, in order.
    pub fn injects(&self, exercise_id: &str) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT warning_id, at FROM exercise_injects WHERE exercise_id = ? ORDER BY at LIMIT 1000",
                &[exercise_id.into()],
            )?
            .iter()
            .map(|r| (r[0].text(), Timestamp(r[1].int())))
            .collect())
        })
    }
}
