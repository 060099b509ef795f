//! Exercises in the web UI: the coordinator plans one (name, participating
//! organizations and peer hubs), starts it, sends injects while it runs and ends it,
//! and reads the after-action view; participants see the exercises they take part in.
//! The rules are the `exercises` service's.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use hinomi_access::OrgKind;

use super::{
    as_user, caller, check_post, error_page, field, fields, page, see_other, short_time,
    with_status, Caller, Chrome, Form,
};
use crate::service::exercises::{self, InjectInput, PlanInput};
use crate::service::{directory, Kind};
use crate::Shared;

/// An exercise in a list.
pub struct Line {
    pub id: String,
    pub name: String,
    pub state: String,
    pub state_label: &'static str,
    pub participants: usize,
    pub started: String,
    pub ended: String,
}

fn line(c: &Caller, v: &Value) -> Line {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Line {
        id: s("id"),
        name: s("name"),
        state_label: c.lang.t(&format!("exercise.state-{}", s("state"))),
        state: s("state"),
        participants: v["participants"].as_array().map_or(0, Vec::len),
        started: short_time(&s("started")),
        ended: short_time(&s("ended")),
    }
}

#[derive(askama::Template)]
#[template(path = "exercises.html")]
struct ListPage {
    c: Chrome,
    items: Vec<Line>,
    coordinator: bool,
    /// (id, name, is a peer hub) of every organization, for the plan form.
    orgs: Vec<(String, String, bool)>,
    error: String,
}

async fn list_page(s: &Shared, c: &Caller, error: &str) -> Response {
    let coordinator = c.is_coordinator();
    let got = as_user(s, c, move |s, who| {
        let items = exercises::list(s, who)?;
        let orgs = if coordinator {
            directory::organizations(s, who, None, Some(1000))?.0
        } else {
            Vec::new()
        };
        Ok((items, orgs))
    })
    .await;
    match got {
        Ok((items, orgs)) => page(&ListPage {
            c: Chrome::new(c, c.lang.t("exercise.title")),
            items: items.iter().map(|v| line(c, v)).collect(),
            coordinator,
            orgs: orgs
                .iter()
                .filter(|o| o.kind != OrgKind::Coordinator && o.removed.is_none())
                .map(|o| (o.id.clone(), o.name.clone(), o.kind == OrgKind::PeerHub))
                .collect(),
            error: error.to_string(),
        }),
        Err(e) => error_page(c, &e),
    }
}

pub async fn list(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/exercises", q.as_deref()).await;
    if c.signed_in().is_none() {
        return see_other("/login");
    }
    list_page(&s, &c, "").await
}

async fn form(
    s: &Shared,
    headers: &HeaderMap,
    path: &str,
    body: Body,
) -> Result<(Caller, Form), Response> {
    let c = caller(s, headers, path, None).await;
    if c.signed_in().is_none() {
        return Err(see_other("/login"));
    }
    if !c.is_coordinator() {
        return Err(see_other("/exercises"));
    }
    match check_post(s, &c, headers, body, false).await {
        Ok(f) => Ok((c, f)),
        Err(e) => Err(error_page(&c, &e)),
    }
}

pub async fn plan(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let (c, f) = match form(&s, &headers, "/exercises", body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inp = PlanInput {
        name: field(&f, "name").to_string(),
        participants: fields(&f, "participants")
            .into_iter()
            .map(String::from)
            .collect(),
        peers: fields(&f, "peers").into_iter().map(String::from).collect(),
    };
    match as_user(&s, &c, move |s, who| exercises::plan(s, who, inp)).await {
        Ok(v) => see_other(&format!(
            "/exercises/{}",
            v["id"].as_str().unwrap_or_default()
        )),
        Err(e) if e.kind == Kind::BadRequest => {
            with_status(list_page(&s, &c, &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

/// One inject in the after-action view.
pub struct Inject {
    pub title: String,
    pub sent: String,
    /// (organization, first status, minutes after the inject)
    pub rows: Vec<(String, String, String)>,
}

#[derive(askama::Template)]
#[template(path = "exercise.html")]
struct ShowPage {
    c: Chrome,
    x: Line,
    participants: Vec<String>,
    injects: Vec<Inject>,
    sent: i64,
    answered: i64,
    median: String,
    error: String,
}

async fn show_page(s: &Shared, c: &Caller, id: String, error: &str) -> Response {
    if !c.is_coordinator() {
        return see_other("/exercises");
    }
    match as_user(s, c, move |s, who| exercises::after_action(s, who, &id)).await {
        Ok(v) => {
            let lang = c.lang.code();
            let injects = v["injects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| Inject {
                            title: i["title"][lang]
                                .as_str()
                                .or(i["title"]["en"].as_str())
                                .unwrap_or_default()
                                .to_string(),
                            sent: short_time(i["sent"].as_str().unwrap_or_default()),
                            rows: i["recipients"]
                                .as_array()
                                .map(|r| {
                                    r.iter()
                                        .map(|x| {
                                            let st = x["first_status"].as_str();
                                            (
                                                x["organization"]
                                                    .as_str()
                                                    .unwrap_or_default()
                                                    .to_string(),
                                                st.map_or_else(
                                                    || c.lang.t("inbox.no-status").to_string(),
                                                    |st| {
                                                        c.lang
                                                            .t(&format!("status.{st}"))
                                                            .to_string()
                                                    },
                                                ),
                                                x["minutes"]
                                                    .as_f64()
                                                    .map(|m| format!("{m}"))
                                                    .unwrap_or_else(|| "—".into()),
                                            )
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            page(&ShowPage {
                c: Chrome::new(c, v["exercise"]["name"].as_str().unwrap_or_default()),
                x: line(c, &v["exercise"]),
                participants: v["participants"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                injects,
                sent: v["totals"]["sent"].as_i64().unwrap_or(0),
                answered: v["totals"]["answered"].as_i64().unwrap_or(0),
                median: v["totals"]["median_minutes"]
                    .as_f64()
                    .map(|m| format!("{m}"))
                    .unwrap_or_else(|| "—".into()),
                error: error.to_string(),
            })
        }
        Err(e) => error_page(c, &e),
    }
}

pub async fn show(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, &format!("/exercises/{id}"), q.as_deref()).await;
    show_page(&s, &c, id, "").await
}

async fn change(
    s: Shared,
    headers: HeaderMap,
    id: String,
    body: Body,
    what: &'static str,
) -> Response {
    let path = format!("/exercises/{id}");
    let (c, f) = match form(&s, &headers, &path, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let i = id.clone();
    let r = as_user(&s, &c, move |s, who| match what {
        "start" => exercises::start(s, who, &i),
        "end" => exercises::end(s, who, &i),
        _ => {
            let texts = |name: &str| {
                ["en", "ja"]
                    .iter()
                    .filter_map(|l| {
                        let v = field(&f, &format!("{name}_{l}")).trim().to_string();
                        (!v.is_empty()).then(|| (l.to_string(), v))
                    })
                    .collect()
            };
            let inp = InjectInput {
                title: texts("title"),
                summary: texts("summary"),
                required_action: None,
                severity: Some(field(&f, "severity").to_string()).filter(|x| !x.is_empty()),
            };
            exercises::inject(s, who, &i, inp)
        }
    })
    .await;
    match r {
        Ok(_) => see_other(&path),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Conflict) => {
            with_status(show_page(&s, &c, id, &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

pub async fn start(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, headers, id, body, "start").await
}

pub async fn end(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, headers, id, body, "end").await
}

pub async fn inject(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, headers, id, body, "inject").await
}
