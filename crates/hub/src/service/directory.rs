//! The hub's directory: organizations, tokens, communities, collections, and the audit
//! log that records every change to them.

use serde::Deserialize;

use hinomi_access::OrgKind;
use hinomi_store::{
    AuditEntry, Bootstrap, Collection, Community, Handover, NewOrganization, Organization, Policy,
    Principal, Role, Store, TokenInfo,
};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// A new member organization.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub sectors: Vec<String>,
    pub country: Option<String>,
}

/// Creates a member organization (coordinator admins only).
pub fn create_org(s: &AppState, who: &Viewer, req: OrgInput) -> Result<Organization> {
    let admin = who.require_admin()?.org.id.clone();
    let kind = OrgKind::parse(&req.kind).ok_or_else(|| {
        Error::new(
            Kind::BadRequest,
            format!(
                "kind: '{}' is not one of {}",
                req.kind,
                OrgKind::ALL.map(OrgKind::as_str).join(", ")
            ),
        )
    })?;
    if kind == OrgKind::Coordinator {
        return Err(Error::new(
            Kind::BadRequest,
            "kind: the coordinator is created once by 'hinomi admin bootstrap'",
        ));
    }
    if let Some(cc) = &req.country {
        if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(Error::new(
                Kind::BadRequest,
                format!("country: '{cc}' is not an ISO 3166-1 alpha-2 code"),
            ));
        }
    }
    let new = NewOrganization {
        name: req.name,
        kind,
        sectors: req.sectors,
        country: req.country.map(|c| c.to_ascii_uppercase()),
    };
    Ok(s.store.create_organization(&new, &admin)?)
}

fn members_only(who: &Viewer) -> Result<()> {
    if !who.require()?.org.kind.is_member() {
        return Err(Error::new(
            Kind::Forbidden,
            "peer hubs do not read the member directory",
        ));
    }
    Ok(())
}

/// Every organization (members only; peer hubs do not read the directory).
pub fn organizations(s: &AppState, who: &Viewer) -> Result<Vec<Organization>> {
    members_only(who)?;
    Ok(s.store.organizations()?)
}

/// One organization; a peer hub sees only itself.
pub fn organization(s: &AppState, who: &Viewer, id: &str) -> Result<Organization> {
    let p = who.require()?;
    if !p.org.kind.is_member() && p.org.id != id {
        return Err(Error::new(
            Kind::NotFound,
            format!("organization {id} not found"),
        ));
    }
    Ok(s.store.organization(id)?)
}

/// Why an organization is suspended or removed, and (removal) what becomes of the
/// objects it shared.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OffboardInput {
    #[serde(default)]
    pub reason: Option<String>,
    /// `keep` (default): its objects stay under its name; `coordinator`: the
    /// coordinator takes them over.
    #[serde(default)]
    pub objects: Option<String>,
}

fn reason(inp: &OffboardInput) -> Result<String> {
    let r = inp.reason.clone().unwrap_or_default();
    if r.len() > 1000 {
        return Err(Error::new(
            Kind::BadRequest,
            "reason: at most 1000 characters",
        ));
    }
    Ok(r)
}

/// Suspends an organization (admins): tokens stop working, open streams end, pending
/// deliveries stop, no new warnings reach it; audited.
pub fn suspend_org(
    s: &AppState,
    who: &Viewer,
    id: &str,
    inp: OffboardInput,
) -> Result<Organization> {
    let admin = who.require_admin()?.org.id.clone();
    if inp.objects.is_some() {
        return Err(Error::new(
            Kind::BadRequest,
            "objects: only a removal hands objects over",
        ));
    }
    Ok(s.store.suspend_organization(id, &reason(&inp)?, &admin)?)
}

/// Lifts a suspension (admins); audited.
pub fn reinstate_org(s: &AppState, who: &Viewer, id: &str) -> Result<Organization> {
    let admin = who.require_admin()?.org.id.clone();
    Ok(s.store.reinstate_organization(id, &admin)?)
}

/// Removes an organization for good (admins): tokens revoked, endpoints disabled,
/// memberships and grants withdrawn, deliveries stopped, objects kept or handed to the
/// coordinator; audited.
pub fn remove_org(
    s: &AppState,
    who: &Viewer,
    id: &str,
    inp: OffboardInput,
) -> Result<Organization> {
    let admin = who.require_admin()?.org.id.clone();
    let handover = match inp.objects.as_deref().unwrap_or("keep") {
        "keep" => Handover::Keep,
        "coordinator" => Handover::Coordinator,
        other => {
            return Err(Error::new(
                Kind::BadRequest,
                format!("objects: '{other}' is not one of keep, coordinator"),
            ))
        }
    };
    Ok(s.store
        .remove_organization(id, handover, &reason(&inp)?, &admin)?)
}

/// Adds an organization to a community or withdraws it (admins); audited.
pub fn set_community_member(
    s: &AppState,
    who: &Viewer,
    community: &str,
    org: &str,
    member: bool,
) -> Result<()> {
    let admin = who.require_admin()?.org.id.clone();
    Ok(s.store
        .set_community_member(community, org, member, &admin)?)
}

/// An organization's grant on an existing collection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub read: bool,
    pub write: bool,
}

/// Sets (`Some`) or withdraws (`None`) an organization's grant on a collection (admins);
/// audited.
pub fn set_grant(
    s: &AppState,
    who: &Viewer,
    collection: &str,
    org: &str,
    grant: Option<Grant>,
) -> Result<()> {
    let admin = who.require_admin()?.org.id.clone();
    let col = s
        .store
        .collection(collection)?
        .ok_or_else(|| Error::new(Kind::NotFound, format!("collection {collection} not found")))?;
    Ok(s.store
        .set_collection_grant(&col.id, org, grant.map(|g| (g.read, g.write)), &admin)?)
}

/// A new token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub role: String,
    pub label: Option<String>,
}

/// Issues a token for organization `org_id`; answers it and its one-time secret.
pub fn create_token(
    s: &AppState,
    who: &Viewer,
    org_id: &str,
    req: TokenInput,
) -> Result<(TokenInfo, String)> {
    let admin = who.require_admin()?.org.id.clone();
    let role = Role::parse(&req.role).ok_or_else(|| {
        Error::new(
            Kind::BadRequest,
            format!(
                "role: '{}' is not one of admin, analyst, member, read-only",
                req.role
            ),
        )
    })?;
    Ok(s.store
        .create_token(org_id, role, req.label.as_deref(), &admin)?)
}

/// The tokens of an organization (admins only; secrets are never kept).
pub fn tokens(s: &AppState, who: &Viewer, org_id: &str) -> Result<Vec<TokenInfo>> {
    who.require_admin()?;
    Ok(s.store.tokens(org_id)?)
}

/// Revokes a token.
pub fn revoke_token(s: &AppState, who: &Viewer, id: &str) -> Result<()> {
    let admin = who.require_admin()?.org.id.clone();
    Ok(s.store.revoke_token(id, &admin)?)
}

/// A new community.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityInput {
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Creates a community (usable as an audience).
pub fn create_community(s: &AppState, who: &Viewer, req: CommunityInput) -> Result<Community> {
    let admin = who.require_admin()?.org.id.clone();
    Ok(s.store.create_community(&req.name, &req.members, &admin)?)
}

/// Every community (members only).
pub fn communities(s: &AppState, who: &Viewer) -> Result<Vec<Community>> {
    members_only(who)?;
    Ok(s.store.communities()?)
}

/// One grant of a new collection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    pub organization_id: String,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub write: bool,
}

/// A new collection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionInput {
    pub title: String,
    pub description: Option<String>,
    pub alias: Option<String>,
    #[serde(default = "members")]
    pub read_policy: String,
    #[serde(default = "restricted")]
    pub write_policy: String,
    #[serde(default)]
    pub grants: Vec<GrantInput>,
}

fn members() -> String {
    "members".into()
}
fn restricted() -> String {
    "restricted".into()
}

/// Creates a collection.
pub fn create_collection(s: &AppState, who: &Viewer, req: CollectionInput) -> Result<Collection> {
    let admin = who.require_admin()?.org.id.clone();
    let policy = |field: &str, v: &str| {
        Policy::parse(v).ok_or_else(|| {
            Error::new(
                Kind::BadRequest,
                format!("{field}: '{v}' is not one of public, members, coordinator, restricted"),
            )
        })
    };
    let col = Collection {
        id: String::new(),
        alias: req.alias,
        title: req.title,
        description: req.description,
        read_policy: policy("read_policy", &req.read_policy)?,
        write_policy: policy("write_policy", &req.write_policy)?,
        grants: req
            .grants
            .into_iter()
            .map(|g| (g.organization_id, g.read, g.write))
            .collect(),
    };
    Ok(s.store.create_collection(&col, &admin)?)
}

/// A page of the audit log (admins only), after sequence number `after`.
pub fn audit(s: &AppState, who: &Viewer, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
    who.require_admin()?;
    if !(1..=1000).contains(&limit) {
        return Err(Error::new(
            Kind::InvalidFilter,
            "limit: must be from 1 to 1000",
        ));
    }
    Ok(s.store.audit_entries(after, limit)?)
}

/// Checks the audit log's hash chain; answers the first broken entry, if any.
pub fn verify_audit(s: &AppState, who: &Viewer) -> Result<Option<i64>> {
    who.require_admin()?;
    Ok(s.store.verify_audit_chain()?)
}

/// The authenticated caller itself (`whoami`).
pub fn whoami(who: &Viewer) -> Result<Principal> {
    Ok(who.require()?.clone())
}

/// Creates the coordinator organization and its first admin token on an empty store
/// (`hinomi admin bootstrap`: there is no caller yet). Conflict when it already has one.
pub fn bootstrap(store: &Store, name: &str, country: Option<&str>) -> Result<Bootstrap> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::new(
            Kind::BadRequest,
            "name: the coordinator's name must be 1 to 200 characters",
        ));
    }
    Ok(store.bootstrap(name, country)?)
}
