//! The coordinator's management of member organizations in the web UI: the directory
//! (keyset pages), registering an organization, and per organization its people, an
//! invitation link, suspension and reinstatement; communities are listed. The rules
//! are the `directory` and `accounts` services' (admins only for changes).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use hinomi_access::OrgKind;
use hinomi_store::Organization;

use super::{
    as_user, caller, check_post, error_page, field, page, see_other, short_time, with_status,
    Caller, Chrome,
};
use crate::service::directory::{self, OffboardInput, OrgInput};
use crate::service::{accounts, Error, Kind};
use crate::Shared;

/// An organization in the directory.
pub struct OrgLine {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub sectors: String,
    pub country: String,
    pub status: &'static str,
}

fn org_line(c: &Caller, o: &Organization) -> OrgLine {
    OrgLine {
        id: o.id.clone(),
        name: o.name.clone(),
        kind: c
            .lang
            .t(&format!("org-kind.{}", o.kind.as_str()))
            .to_string(),
        sectors: o.sectors.join(", "),
        country: o.country.clone().unwrap_or_default(),
        status: c.lang.t(if o.removed.is_some() {
            "members.removed"
        } else if o.suspended.is_some() {
            "members.suspended"
        } else {
            "members.active"
        }),
    }
}

#[derive(askama::Template)]
#[template(path = "members.html")]
struct ListPage {
    c: Chrome,
    items: Vec<OrgLine>,
    communities: Vec<(String, usize)>,
    kinds: Vec<(String, String)>,
    next: String,
    admin: bool,
    error: String,
}

fn is_admin(c: &Caller) -> bool {
    c.signed_in()
        .is_some_and(|a| a.principal.role == hinomi_store::Role::Admin)
}

async fn list_page(s: &Shared, c: &Caller, after: Option<String>, error: &str) -> Response {
    let got = as_user(s, c, move |s, who| {
        let (orgs, next) = directory::organizations(s, who, after.as_deref(), Some(100))?;
        let communities = directory::communities(s, who)?;
        Ok((orgs, next, communities))
    })
    .await;
    match got {
        Ok((orgs, next, communities)) => page(&ListPage {
            c: Chrome::new(c, c.lang.t("members.title")),
            items: orgs.iter().map(|o| org_line(c, o)).collect(),
            communities: communities
                .iter()
                .map(|x| (x.name.clone(), x.members.len()))
                .collect(),
            kinds: OrgKind::ALL
                .iter()
                .filter(|k| !matches!(k, OrgKind::Coordinator | OrgKind::PeerHub))
                .map(|k| {
                    (
                        k.as_str().to_string(),
                        c.lang.t(&format!("org-kind.{}", k.as_str())).to_string(),
                    )
                })
                .collect(),
            next: next
                .map(|n| {
                    format!(
                        "/members?{}",
                        serde_urlencoded::to_string([("after", n)]).unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            admin: is_admin(c),
            error: error.to_string(),
        }),
        Err(e) => error_page(c, &e),
    }
}

fn need_coordinator(c: &Caller) -> Option<Response> {
    if c.signed_in().is_none() {
        return Some(see_other("/login"));
    }
    (!c.is_coordinator()).then(|| see_other("/inbox"))
}

pub async fn list(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/members", q.as_deref()).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    let after = q
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|p| p.into_iter().find(|(k, _)| k == "after").map(|(_, v)| v));
    list_page(&s, &c, after, "").await
}

pub async fn create(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let c = caller(&s, &headers, "/members", None).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    let f = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let inp = OrgInput {
        name: field(&f, "name").trim().to_string(),
        kind: field(&f, "kind").to_string(),
        sectors: field(&f, "sectors")
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .take(50)
            .map(String::from)
            .collect(),
        country: Some(field(&f, "country").trim().to_string()).filter(|x| !x.is_empty()),
    };
    match as_user(&s, &c, move |s, who| directory::create_org(s, who, inp)).await {
        Ok(o) => see_other(&format!("/members/{}", o.id)),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Conflict | Kind::Forbidden) => {
            with_status(list_page(&s, &c, None, &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}

/// A person of the organization.
pub struct Person {
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub created: String,
    pub locked: bool,
}

#[derive(askama::Template)]
#[template(path = "member.html")]
struct OrgPage {
    c: Chrome,
    o: OrgLine,
    suspended: bool,
    people: Vec<Person>,
    admin: bool,
    invited: String,
    error: String,
}

async fn org_page(
    s: &Shared,
    c: &Caller,
    headers: &HeaderMap,
    id: String,
    invited: &str,
    error: &str,
) -> Response {
    let got = as_user(s, c, move |s, who| {
        let o = directory::organization(s, who, &id)?;
        let people = accounts::users(s, who, &id)?;
        Ok((o, people))
    })
    .await;
    match got {
        Ok((o, people)) => {
            let invited = if invited.starts_with('/') {
                format!("{}{invited}", super::public::base_url(s, headers))
            } else {
                invited.to_string()
            };
            page(&OrgPage {
                c: Chrome::new(c, &o.name),
                o: org_line(c, &o),
                suspended: o.suspended.is_some(),
                people: people
                    .iter()
                    .map(|p| Person {
                        name: p["name"].as_str().unwrap_or_default().to_string(),
                        email: p["email"].as_str().unwrap_or_default().to_string(),
                        role: c
                            .lang
                            .t(&format!("role.{}", p["role"].as_str().unwrap_or_default())),
                        created: short_time(p["created"].as_str().unwrap_or_default()),
                        locked: p["locked"].as_bool().unwrap_or(false),
                    })
                    .collect(),
                admin: is_admin(c),
                invited,
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
    let c = caller(&s, &headers, &format!("/members/{id}"), q.as_deref()).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    org_page(&s, &c, &headers, id, "", "").await
}

/// Invite, suspend or reinstate (admins).
pub async fn act(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    body: Body,
) -> Response {
    let path = format!("/members/{id}");
    let c = caller(&s, &headers, &path, None).await;
    if let Some(r) = need_coordinator(&c) {
        return r;
    }
    let f = match check_post(&s, &c, &headers, body, false).await {
        Ok(f) => f,
        Err(e) => return error_page(&c, &e),
    };
    let i = id.clone();
    let user = c.signed_in().map(|a| a.user.clone());
    let r = as_user(&s, &c, move |s, who| match what.as_str() {
        "invite" => accounts::invite(
            s,
            who,
            user.as_ref(),
            &i,
            field(&f, "email"),
            field(&f, "role"),
        )
        .map(|inv| inv.link),
        "suspend" => {
            let inp = OffboardInput {
                reason: Some(field(&f, "reason").to_string()).filter(|r| !r.is_empty()),
                objects: None,
            };
            directory::suspend_org(s, who, &i, inp).map(|_| String::new())
        }
        "reinstate" => directory::reinstate_org(s, who, &i).map(|_| String::new()),
        other => Err(Error::new(Kind::NotFound, format!("no action {other}"))),
    })
    .await;
    match r {
        Ok(link) if !link.is_empty() => org_page(&s, &c, &headers, id, &link, "").await,
        Ok(_) => see_other(&path),
        Err(e) if matches!(e.kind, Kind::BadRequest | Kind::Conflict | Kind::Forbidden) => {
            with_status(org_page(&s, &c, &headers, id, "", &e.message).await, &e)
        }
        Err(e) => error_page(&c, &e),
    }
}
