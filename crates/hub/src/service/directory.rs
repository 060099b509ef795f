//! The hub's directory: organizations, tokens, communities, collections, and the audit
//! log that records every change to them.

use serde::Deserialize;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{
    AuditEntry, Bootstrap, Collection, Community, Handover, NewOrganization, Organization, Policy,
    Principal, Role, Store, TokenInfo,
};

use super::{parse_cursor, Error, Kind, Result, Viewer};
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
pub fn organizations(
    s: &AppState,
    who: &Viewer,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<Organization>, Option<String>)> {
    members_only(who)?;
    let limit = limit.unwrap_or(500).clamp(1, 1000);
    let after = after.map(parse_cursor).transpose()?;
    let rows = s
        .store
        .organizations_page(after.as_ref().map(|(t, id)| (*t, id.as_str())), limit)?;
    let next = (rows.len() == limit)
        .then(|| {
            rows.last()
                .map(|o| format!("{}/{}", o.created.micros(), o.id))
        })
        .flatten();
    Ok((rows, next))
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

/// The purpose the audit chain's key is derived for from the hub's secret key.
pub const AUDIT_KEY: &str = "audit-chain";
/// The purpose of the Ed25519 key that signs audit checkpoints.
const CHECKPOINT_KEY: &str = "audit-checkpoint";

fn checkpoint_message(seq: i64, hash: &str, at: &str) -> String {
    format!("hinomi-audit-checkpoint|{seq}|{hash}|{at}")
}

/// A signed statement of the audit log's head, to keep outside the database: with it,
/// `verify_audit` detects a chain cut short or rewritten before that point even by
/// someone who holds the database and recomputes hashes.
pub fn audit_checkpoint(s: &AppState, who: &Viewer) -> Result<Value> {
    who.require_admin()?;
    signed_checkpoint(s)
}

/// The checkpoint itself (the hub logs one every `audit_checkpoint_interval`).
pub fn signed_checkpoint(s: &AppState) -> Result<Value> {
    let Some((seq, hash)) = s.store.audit_head()? else {
        return Err(Error::new(Kind::Conflict, "the audit log is empty"));
    };
    let at = s.config.clock.now().to_string();
    let key = &s.config.notify.key;
    Ok(json!({
        "seq": seq, "hash": hash, "at": at,
        "public_key": key.public_key(CHECKPOINT_KEY),
        "signature": key.sign(CHECKPOINT_KEY, checkpoint_message(seq, &hash, &at).as_bytes()),
    }))
}

/// Checks the audit log's keyed chain and, against each checkpoint given, that the
/// checkpoint is this hub's (signature) and that the log still holds its entry with
/// its hash (nothing cut or rewritten before it).
pub fn verify_audit(s: &AppState, who: &Viewer, checkpoints: &[Value]) -> Result<Value> {
    who.require_admin()?;
    let broken = s.store.verify_audit_chain()?;
    let key = &s.config.notify.key;
    let ours = key.public_key(CHECKPOINT_KEY);
    let mut results = Vec::new();
    let mut all_ok = broken.is_none();
    for (i, c) in checkpoints.iter().enumerate() {
        let (Some(seq), Some(hash), Some(at), Some(sig)) = (
            c["seq"].as_i64(),
            c["hash"].as_str(),
            c["at"].as_str(),
            c["signature"].as_str(),
        ) else {
            return Err(Error::new(
                Kind::BadRequest,
                format!("checkpoints[{i}]: needs seq, hash, at and signature"),
            ));
        };
        let signed = hinomi_notify::sealed::verify_signature(
            &ours,
            checkpoint_message(seq, hash, at).as_bytes(),
            sig,
        );
        let problem = if !signed {
            Some("the signature is not this hub's".to_string())
        } else {
            match s.store.audit_hash_at(seq)? {
                None => Some(format!(
                    "entry {seq} is gone: the log was cut short or rewritten"
                )),
                Some(h) if h != hash => Some(format!(
                    "entry {seq} has another hash: the log was rewritten up to it"
                )),
                Some(_) => None,
            }
        };
        all_ok &= problem.is_none();
        results.push(json!({"seq": seq, "ok": problem.is_none(), "problem": problem}));
    }
    Ok(json!({
        "intact": all_ok, "first_broken_seq": broken, "checkpoints": results,
        "public_key": ours,
    }))
}

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
