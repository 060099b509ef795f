//! Organizations, tokens, communities and collections.

use serde_json::{json, Value};

use crate::db::{Conn, Row, Val};
use crate::objects::{insert_objects, NewObject};
use crate::{
    append_audit, hash_token, identity_json, new_secret, OrgKind, Store, StoreError, Timestamp,
    Tlp, PUBLIC_COLLECTION, SHARED_COLLECTION,
};

/// A member organization, the coordinator, or a peer hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub kind: OrgKind,
    pub sectors: Vec<String>,
    pub country: Option<String>,
    pub identity_id: String,
    pub created: Timestamp,
    /// Since when it is suspended (reversible).
    pub suspended: Option<Timestamp>,
    /// Since when it is removed (for good).
    pub removed: Option<Timestamp>,
}

impl Organization {
    /// `active`, `suspended` or `removed`.
    pub fn status(&self) -> &'static str {
        match (self.removed, self.suspended) {
            (Some(_), _) => "removed",
            (None, Some(_)) => "suspended",
            (None, None) => "active",
        }
    }

    /// Neither suspended nor removed: it may sign in and receive warnings.
    pub fn is_active(&self) -> bool {
        self.removed.is_none() && self.suspended.is_none()
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "sectors": self.sectors,
            "country": self.country,
            "identity_id": self.identity_id,
            "created": self.created.to_string(),
            "status": self.status(),
        });
        if let Some(t) = self.suspended {
            v["suspended"] = json!(t.to_string());
        }
        if let Some(t) = self.removed {
            v["removed"] = json!(t.to_string());
        }
        v
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages organizations, tokens, communities, collections (coordinator only).
    Admin,
    /// Coordinator or member analyst: reads and writes.
    Analyst,
    /// A member organization's token: reads and writes.
    Member,
    /// Reads only.
    ReadOnly,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Member => "member",
            Role::ReadOnly => "read-only",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Analyst, Role::Member, Role::ReadOnly]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn can_write(self) -> bool {
        self != Role::ReadOnly
    }
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub org_id: String,
    pub role: Role,
    pub label: Option<String>,
    pub created: Timestamp,
    pub revoked: Option<Timestamp>,
}

impl TokenInfo {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "organization_id": self.org_id,
            "role": self.role.as_str(),
            "label": self.label,
            "created": self.created.to_string(),
            "revoked": self.revoked.map(|t| t.to_string()),
        })
    }
}

/// Who a request is, after its token was checked.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: Organization,
    pub role: Role,
    pub token_id: String,
    /// The organization's identity and its communities' identities.
    pub audience_keys: Vec<String>,
    /// For a peer hub: whether its sharing agreement lets TLP:GREEN cross.
    pub peer_green: bool,
}

/// A named group of organizations, usable as an audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    pub id: String,
    pub name: String,
    pub identity_id: String,
    pub members: Vec<String>,
}

impl Community {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "identity_id": self.identity_id, "members": self.members})
    }
}

/// Who may read or write a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Everyone, also without credentials (read only).
    Public,
    /// Every member organization (not peer hubs).
    Members,
    /// Only the coordinator organization.
    Coordinator,
    /// Only organizations with a grant.
    Restricted,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Public => "public",
            Policy::Members => "members",
            Policy::Coordinator => "coordinator",
            Policy::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        [
            Policy::Public,
            Policy::Members,
            Policy::Coordinator,
            Policy::Restricted,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A TAXII collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub read_policy: Policy,
    pub write_policy: Policy,
    /// Organization id → (can_read, can_write).
    pub grants: Vec<(String, bool, bool)>,
}

impl Collection {
    fn allowed(&self, policy: Policy, org: Option<&Organization>, write: bool) -> bool {
        let granted = org.is_some_and(|o| {
            self.grants
                .iter()
                .any(|(g, r, w)| *g == o.id && if write { *w } else { *r })
        });
        granted
            || match (policy, org) {
                (Policy::Public, _) => !write,
                (_, None) => false,
                (_, Some(o)) if o.kind == OrgKind::Coordinator => true,
                (Policy::Members, Some(o)) => o.kind.is_member(),
                (Policy::Coordinator | Policy::Restricted, Some(_)) => false,
            }
    }

    /// Whether `org` (None: unauthenticated) may read the collection.
    pub fn can_read(&self, org: Option<&Organization>) -> bool {
        self.allowed(self.read_policy, org, false) || self.can_write(org)
    }

    /// Whether `org` may add objects to the collection.
    pub fn can_write(&self, org: Option<&Organization>) -> bool {
        org.is_some() && self.allowed(self.write_policy, org, true)
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor_org: Option<String>,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What creating an organization needs.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub kind: OrgKind,
    pub sectors: Vec<String>,
    pub country: Option<String>,
}

/// The result of bootstrapping a hub.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization: Organization,
    pub token: String,
}

pub(crate) const ORG_COLUMNS: &str =
    "id, name, kind, sectors, country, identity_id, created, suspended, removed";

pub(crate) fn org_from_row(r: &Row) -> Organization {
    Organization {
        id: r[0].text(),
        name: r[1].text(),
        kind: OrgKind::parse(&r[2].text()).unwrap_or(OrgKind::Private),
        sectors: serde_json::from_str(&r[3].text()).unwrap_or_default(),
        country: r[4].opt_text(),
        identity_id: r[5].text(),
        created: Timestamp(r[6].int()),
        suspended: r[7].opt_int().map(Timestamp),
        removed: r[8].opt_int().map(Timestamp),
    }
}

/// The principal of a credential (`token_id`) of `org`: the audience keys of the
/// organization and its communities, and for a peer hub whether its agreement lets
/// TLP:GREEN cross.
pub(crate) fn principal_in(
    c: &mut Conn,
    org: Organization,
    token_id: String,
    role: Role,
) -> Result<Principal, StoreError> {
    let mut keys = vec![org.identity_id.clone()];
    for k in c.query(
        "SELECT c.identity_id FROM community_members m JOIN communities c ON c.id = m.community_id WHERE m.org_id = ?",
        &[(&org.id).into()],
    )? {
        keys.push(k[0].text());
    }
    let peer_green = org.kind == OrgKind::PeerHub
        && c.query_one(
            "SELECT agreement FROM peers WHERE id = ? AND disabled IS NULL",
            &[(&org.id).into()],
        )?
        .and_then(|r| serde_json::from_str::<Value>(&r[0].text()).ok())
        .is_some_and(|a| a["green"].as_bool() == Some(true));
    Ok(Principal {
        token_id,
        role,
        org,
        audience_keys: keys,
        peer_green,
    })
}

fn insert_org(
    c: &mut Conn,
    new: &NewOrganization,
    actor: Option<&str>,
) -> Result<Organization, StoreError> {
    if new.name.trim().is_empty() {
        return Err(StoreError::Invalid("name: must not be empty".into()));
    }
    let org = Organization {
        id: uuid::Uuid::new_v4().to_string(),
        name: new.name.trim().to_string(),
        kind: new.kind,
        sectors: new.sectors.clone(),
        country: new.country.clone(),
        identity_id: format!("identity--{}", uuid::Uuid::new_v4()),
        created: Timestamp::now(),
        suspended: None,
        removed: None,
    };
    if org.kind == OrgKind::Coordinator {
        if let Some(r) = c.query_one(
            "SELECT id FROM organizations WHERE kind = 'coordinator'",
            &[],
        )? {
            return Err(StoreError::AlreadyBootstrapped(r[0].text()));
        }
    }
    c.execute(
        "INSERT INTO organizations (id, name, kind, sectors, country, identity_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            (&org.id).into(),
            (&org.name).into(),
            org.kind.as_str().into(),
            serde_json::to_string(&org.sectors).unwrap_or_default().into(),
            org.country.clone().into(),
            (&org.identity_id).into(),
            org.created.micros().into(),
        ],
    )?;
    let identity = identity_json(&org.identity_id, &org.name, "organization", org.created);
    let checked = hinomi_stix::check_object(identity)
        .map_err(|e| StoreError::Invalid(format!("identity object: {e}")))?;
    let first = c.claim_added(1)?;
    insert_objects(
        c,
        SHARED_COLLECTION,
        &org.id,
        vec![NewObject::new(checked, Tlp::Green)],
        first,
    )?;
    append_audit(
        c,
        actor,
        "organization.create",
        Some(&org.id),
        &org.to_json(),
    )?;
    Ok(org)
}

fn insert_token(
    c: &mut Conn,
    org_id: &str,
    role: Role,
    label: Option<&str>,
) -> Result<(TokenInfo, String), StoreError> {
    let secret = new_secret();
    let info = TokenInfo {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_string(),
        role,
        label: label.map(str::to_string),
        created: Timestamp::now(),
        revoked: None,
    };
    c.execute(
        "INSERT INTO tokens (id, org_id, role, hash, label, created) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            (&info.id).into(),
            org_id.into(),
            role.as_str().into(),
            hash_token(&secret).into(),
            info.label.clone().into(),
            info.created.micros().into(),
        ],
    )?;
    Ok((info, secret))
}

impl Store {
    /// Creates the coordinator organization, its identity, an admin token, and publishes
    /// the hub's extension-definition. Fails if a coordinator exists.
    pub fn bootstrap(&self, name: &str, country: Option<&str>) -> Result<Bootstrap, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let org = insert_org(
                    c,
                    &NewOrganization {
                        name: name.to_string(),
                        kind: OrgKind::Coordinator,
                        sectors: vec![],
                        country: country.map(str::to_string),
                    },
                    None,
                )?;
                let (info, token) = insert_token(c, &org.id, Role::Admin, Some("bootstrap"))?;
                let mut defs = Vec::new();
                for ext in [
                    hinomi_stix::hub_extension_definition(&org.identity_id),
                    hinomi_stix::report_extension_definition(&org.identity_id),
                ] {
                    let checked = hinomi_stix::check_object(ext)
                        .map_err(|e| StoreError::Invalid(format!("extension-definition: {e}")))?;
                    defs.push(NewObject::new(checked, Tlp::Clear));
                }
                let first = c.claim_added(defs.len() as i64)?;
                insert_objects(c, PUBLIC_COLLECTION, &org.id, defs, first)?;
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ('hub_identity', ?)",
                    &[(&org.identity_id).into()],
                )?;
                append_audit(
                    c,
                    Some(&org.id),
                    "hub.bootstrap",
                    Some(&info.id),
                    &json!({"token_id": info.id, "role": "admin"}),
                )?;
                Ok(Bootstrap {
                    organization: org,
                    token,
                })
            })
        })
    }

    /// The coordinator organization, once bootstrapped.
    pub fn coordinator(&self) -> Result<Option<Organization>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE kind = 'coordinator'"),
                &[],
            )?
            .map(|r| org_from_row(&r)))
        })
    }

    /// Creates an organization (with its STIX identity, GREEN, in the shared collection).
    pub fn create_organization(
        &self,
        new: &NewOrganization,
        actor: &str,
    ) -> Result<Organization, StoreError> {
        self.pool
            .with(|c| c.write_tx(|c| insert_org(c, new, Some(actor))))
    }

    pub fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY created, id"),
                &[],
            )?
            .iter()
            .map(org_from_row)
            .collect())
        })
    }

    /// A page of organizations in the order they were created, after the keyset cursor
    /// `after` (created, id of the last one of the previous page).
    pub fn organizations_page(
        &self,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Organization>, StoreError> {
        let mut params: Vec<Val> = Vec::new();
        let cond = match after {
            Some((t, id)) => {
                params.extend([t.into(), t.into(), id.into()]);
                "created > ? OR (created = ? AND id > ?)"
            }
            None => "1 = 1",
        };
        params.push((limit.clamp(1, 10_000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE {cond} ORDER BY created, id LIMIT ?"),
                &params,
            )?
            .iter()
            .map(org_from_row)
            .collect())
        })
    }

    pub fn organization(&self, id: &str) -> Result<Organization, StoreError> {
        self.pool.with(|c| {
            c.query_one(
                &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?"),
                &[id.into()],
            )?
            .map(|r| org_from_row(&r))
            .ok_or_else(|| StoreError::NotFound(format!("organization {id}")))
        })
    }

    /// Issues a token; returns it with its secret, which is not stored.
    pub fn create_token(
        &self,
        org_id: &str,
        role: Role,
        label: Option<&str>,
        actor: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        let org = self.organization(org_id)?;
        if role == Role::Admin && org.kind != OrgKind::Coordinator {
            return Err(StoreError::Invalid(
                "role: admin tokens are issued only to the coordinator organization".into(),
            ));
        }
        self.pool.with(|c| {
            c.write_tx(|c| {
                let (info, secret) = insert_token(c, org_id, role, label)?;
                append_audit(
                    c,
                    Some(actor),
                    "token.create",
                    Some(&info.id),
                    &info.to_json(),
                )?;
                Ok((info, secret))
            })
        })
    }

    pub fn tokens(&self, org_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        self.pool.with(|c| {
            Ok(c
                .query(
                    "SELECT id, org_id, role, label, created, revoked FROM tokens WHERE org_id = ? ORDER BY created",
                    &[org_id.into()],
                )?
                .iter()
                .map(|r| TokenInfo {
                    id: r[0].text(),
                    org_id: r[1].text(),
                    role: Role::parse(&r[2].text()).unwrap_or(Role::ReadOnly),
                    label: r[3].opt_text(),
                    created: Timestamp(r[4].int()),
                    revoked: r[5].opt_int().map(Timestamp),
                })
                .collect())
        })
    }

    /// Whether the token `token_id` exists and is not revoked.
    pub fn token_active(&self, token_id: &str) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT 1 FROM tokens t JOIN organizations o ON o.id = t.org_id \
                 WHERE t.id = ? AND t.revoked IS NULL AND o.suspended IS NULL AND o.removed IS NULL",
                &[token_id.into()],
            )?
            .is_some())
        })
    }

    /// Revokes a token at once.
    pub fn revoke_token(&self, token_id: &str, actor: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                    &[Timestamp::now().micros().into(), token_id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("active token {token_id}")));
                }
                append_audit(c, Some(actor), "token.revoke", Some(token_id), &json!({}))
            })
        })
    }

    /// The principal of a presented token secret, if it is valid and not revoked. The
    /// secret is compared by its hash through a unique index, so the comparison takes
    /// the same time whatever prefix matches.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        let hash = hash_token(secret);
        self.pool.with(|c| {
            let Some(r) = c.query_one(
                "SELECT t.id, t.role, o.id, o.name, o.kind, o.sectors, o.country, o.identity_id, o.created, o.suspended, o.removed \
                 FROM tokens t JOIN organizations o ON o.id = t.org_id \
                 WHERE t.hash = ? AND t.revoked IS NULL AND o.suspended IS NULL AND o.removed IS NULL",
                &[hash.into()],
            )?
            else {
                return Ok(None);
            };
            let org = org_from_row(&r[2..].to_vec());
            let role = Role::parse(&r[1].text()).unwrap_or(Role::ReadOnly);
            principal_in(c, org, r[0].text(), role).map(Some)
        })
    }

    /// Creates a community of existing organizations.
    pub fn create_community(
        &self,
        name: &str,
        members: &[String],
        actor: &str,
    ) -> Result<Community, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("name: must not be empty".into()));
        }
        self.pool.with(|c| {
            c.write_tx(|c| {
                for (i, m) in members.iter().enumerate() {
                    if c.query_one("SELECT id FROM organizations WHERE id = ?", &[m.into()])?.is_none() {
                        return Err(StoreError::Invalid(format!("members[{i}]: no organization with id '{m}'")));
                    }
                }
                let com = Community {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: name.trim().to_string(),
                    identity_id: format!("identity--{}", uuid::Uuid::new_v4()),
                    members: members.to_vec(),
                };
                c.execute(
                    "INSERT INTO communities (id, name, identity_id, created) VALUES (?, ?, ?, ?)",
                    &[(&com.id).into(), (&com.name).into(), (&com.identity_id).into(), Timestamp::now().micros().into()],
                )?;
                for m in &com.members {
                    c.execute(
                        "INSERT INTO community_members (community_id, org_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        &[(&com.id).into(), m.into()],
                    )?;
                }
                append_audit(c, Some(actor), "community.create", Some(&com.id), &com.to_json())?;
                Ok(com)
            })
        })
    }

    pub fn communities(&self) -> Result<Vec<Community>, StoreError> {
        self.pool.with(|c| {
            let rows = c.query("SELECT id, name, identity_id FROM communities ORDER BY created, id", &[])?;
            let mut out = Vec::new();
            for r in rows {
                let members = c
                    .query("SELECT org_id FROM community_members WHERE community_id = ? ORDER BY org_id", &[r[0].clone()])?
                    .iter()
                    .map(|m| m[0].text())
                    .collect();
                out.push(Community { id: r[0].text(), name: r[1].text(), identity_id: r[2].text(), members });
            }
            Ok(out)
        })
    }

    /// Creates a collection.
    pub fn create_collection(
        &self,
        col: &Collection,
        actor: &str,
    ) -> Result<Collection, StoreError> {
        if col.title.trim().is_empty() {
            return Err(StoreError::Invalid("title: must not be empty".into()));
        }
        if col.write_policy == Policy::Public {
            return Err(StoreError::Invalid(
                "write_policy: a collection cannot be publicly writable".into(),
            ));
        }
        let mut col = col.clone();
        col.id = uuid::Uuid::new_v4().to_string();
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO collections (id, alias, title, description, read_policy, write_policy, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &[
                        (&col.id).into(),
                        col.alias.clone().into(),
                        (&col.title).into(),
                        col.description.clone().into(),
                        col.read_policy.as_str().into(),
                        col.write_policy.as_str().into(),
                        Timestamp::now().micros().into(),
                    ],
                )?;
                for (i, (org, r, w)) in col.grants.iter().enumerate() {
                    if c.query_one("SELECT id FROM organizations WHERE id = ?", &[org.into()])?.is_none() {
                        return Err(StoreError::Invalid(format!("grants[{i}].organization_id: no organization with id '{org}'")));
                    }
                    c.execute(
                        "INSERT INTO collection_grants (collection_id, org_id, can_read, can_write) VALUES (?, ?, ?, ?)",
                        &[(&col.id).into(), org.into(), (*r).into(), (*w).into()],
                    )?;
                }
                append_audit(c, Some(actor), "collection.create", Some(&col.id), &json!({"title": col.title, "read_policy": col.read_policy.as_str(), "write_policy": col.write_policy.as_str()}))?;
                Ok(col)
            })
        })
    }

    pub fn collections(&self) -> Result<Vec<Collection>, StoreError> {
        self.pool.with(|c| {
            let rows = c.query(
                "SELECT id, alias, title, description, read_policy, write_policy FROM collections ORDER BY created, id",
                &[],
            )?;
            let grants = c.query("SELECT collection_id, org_id, can_read, can_write FROM collection_grants", &[])?;
            Ok(rows
                .iter()
                .map(|r| Collection {
                    id: r[0].text(),
                    alias: r[1].opt_text(),
                    title: r[2].text(),
                    description: r[3].opt_text(),
                    read_policy: Policy::parse(&r[4].text()).unwrap_or(Policy::Restricted),
                    write_policy: Policy::parse(&r[5].text()).unwrap_or(Policy::Restricted),
                    grants: grants
                        .iter()
                        .filter(|g| g[0] == r[0])
                        .map(|g| (g[1].text(), g[2].int() != 0, g[3].int() != 0))
                        .collect(),
                })
                .collect())
        })
    }

    pub fn collection(&self, id: &str) -> Result<Option<Collection>, StoreError> {
        Ok(self
            .collections()?
            .into_iter()
            .find(|c| c.id == id || c.alias.as_deref() == Some(id)))
    }
}

/// What happens to the objects a removed organization shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// They stay as they are, still under its name and handling.
    Keep,
    /// The coordinator becomes their owner (it may then correct or revoke them).
    Coordinator,
}

/// Marks an organization's pending deliveries as dead letters with `why`.
fn stop_deliveries(c: &mut Conn, org_id: &str, why: &str) -> Result<u64, StoreError> {
    c.execute(
        "UPDATE deliveries SET state = 'dead', last_error = ? WHERE org_id = ? AND state = 'pending'",
        &[why.into(), org_id.into()],
    )
}

fn offboardable(c: &mut Conn, org_id: &str) -> Result<Organization, StoreError> {
    let org = c
        .query_one(
            &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?"),
            &[org_id.into()],
        )?
        .map(|r| org_from_row(&r))
        .ok_or_else(|| StoreError::NotFound(format!("organization {org_id}")))?;
    match org.kind {
        OrgKind::Coordinator => Err(StoreError::Invalid(
            "the coordinator organization cannot be suspended or removed".into(),
        )),
        OrgKind::PeerHub => Err(StoreError::Invalid(
            "a peer hub is disconnected with DELETE /api/v1/peers/{id}".into(),
        )),
        _ if org.removed.is_some() => Err(StoreError::Invalid(format!(
            "organization {org_id} was removed"
        ))),
        _ => Ok(org),
    }
}

impl Store {
    /// Suspends an organization: its tokens stop authenticating (open streams end at
    /// their next check), its pending deliveries become dead letters and it receives no
    /// new warnings until it is reinstated. Audited with `reason`.
    pub fn suspend_organization(
        &self,
        org_id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Organization, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let mut org = offboardable(c, org_id)?;
                if org.suspended.is_some() {
                    return Ok(org);
                }
                let now = Timestamp::now();
                c.execute(
                    "UPDATE organizations SET suspended = ? WHERE id = ?",
                    &[now.micros().into(), org_id.into()],
                )?;
                let stopped = stop_deliveries(c, org_id, "the organization was suspended")?;
                append_audit(
                    c,
                    Some(actor),
                    "organization.suspend",
                    Some(org_id),
                    &json!({"reason": reason, "deliveries_stopped": stopped}),
                )?;
                org.suspended = Some(now);
                Ok(org)
            })
        })
    }

    /// Lifts a suspension. Deliveries stopped while it was suspended are not resent.
    pub fn reinstate_organization(
        &self,
        org_id: &str,
        actor: &str,
    ) -> Result<Organization, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let mut org = offboardable(c, org_id)?;
                if org.suspended.is_none() {
                    return Ok(org);
                }
                c.execute(
                    "UPDATE organizations SET suspended = NULL WHERE id = ?",
                    &[org_id.into()],
                )?;
                append_audit(
                    c,
                    Some(actor),
                    "organization.reinstate",
                    Some(org_id),
                    &json!({}),
                )?;
                org.suspended = None;
                Ok(org)
            })
        })
    }

    /// Removes an organization for good, in one transaction: tokens revoked, webhooks
    /// and contacts disabled, community memberships and collection grants withdrawn,
    /// pending deliveries stopped, and its shared objects kept or handed over. The row
    /// stays (objects name its identity). Audited with `reason` and what changed.
    pub fn remove_organization(
        &self,
        org_id: &str,
        handover: Handover,
        reason: &str,
        actor: &str,
    ) -> Result<Organization, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let mut org = offboardable(c, org_id)?;
                let now = Timestamp::now();
                let t = now.micros();
                c.execute(
                    "UPDATE organizations SET removed = ? WHERE id = ?",
                    &[t.into(), org_id.into()],
                )?;
                let tokens = c.execute(
                    "UPDATE tokens SET revoked = ? WHERE org_id = ? AND revoked IS NULL",
                    &[t.into(), org_id.into()],
                )?;
                let webhooks = c.execute(
                    "UPDATE webhooks SET disabled = ? WHERE org_id = ? AND disabled IS NULL",
                    &[t.into(), org_id.into()],
                )?;
                let contacts = c.execute(
                    "UPDATE contacts SET disabled = ? WHERE org_id = ? AND disabled IS NULL",
                    &[t.into(), org_id.into()],
                )?;
                let memberships = c.execute(
                    "DELETE FROM community_members WHERE org_id = ?",
                    &[org_id.into()],
                )?;
                let grants = c.execute(
                    "DELETE FROM collection_grants WHERE org_id = ?",
                    &[org_id.into()],
                )?;
                let stopped = stop_deliveries(c, org_id, "the organization was removed")?;
                let handed = match handover {
                    Handover::Keep => 0,
                    Handover::Coordinator => {
                        let coord = c
                            .query_one("SELECT id FROM organizations WHERE kind = 'coordinator'", &[])?
                            .map(|r| r[0].text())
                            .ok_or_else(|| StoreError::Invalid("no coordinator organization".into()))?;
                        c.execute(
                            "UPDATE objects SET owner_org = ? WHERE owner_org = ?",
                            &[coord.into(), org_id.into()],
                        )?
                    }
                };
                append_audit(
                    c,
                    Some(actor),
                    "organization.remove",
                    Some(org_id),
                    &json!({
                        "reason": reason,
                        "objects": if handover == Handover::Keep { "kept" } else { "handed to the coordinator" },
                        "tokens_revoked": tokens, "webhooks_disabled": webhooks,
                        "contacts_disabled": contacts, "memberships_withdrawn": memberships,
                        "grants_withdrawn": grants, "deliveries_stopped": stopped,
                        "object_versions_handed_over": handed,
                    }),
                )?;
                org.removed = Some(now);
                Ok(org)
            })
        })
    }

    /// Adds (`member` true) or withdraws an organization's membership of a community.
    pub fn set_community_member(
        &self,
        community_id: &str,
        org_id: &str,
        member: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                if c.query_one("SELECT 1 FROM communities WHERE id = ?", &[community_id.into()])?.is_none() {
                    return Err(StoreError::NotFound(format!("community {community_id}")));
                }
                let org = c
                    .query_one("SELECT removed FROM organizations WHERE id = ?", &[org_id.into()])?
                    .ok_or_else(|| StoreError::NotFound(format!("organization {org_id}")))?;
                let n = if member {
                    if org[0].opt_int().is_some() {
                        return Err(StoreError::Invalid(format!("organization {org_id} was removed")));
                    }
                    c.execute(
                        "INSERT INTO community_members (community_id, org_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        &[community_id.into(), org_id.into()],
                    )?
                } else {
                    c.execute(
                        "DELETE FROM community_members WHERE community_id = ? AND org_id = ?",
                        &[community_id.into(), org_id.into()],
                    )?
                };
                if n > 0 {
                    let action = if member { "community.add_member" } else { "community.remove_member" };
                    append_audit(c, Some(actor), action, Some(community_id), &json!({"organization_id": org_id}))?;
                }
                Ok(())
            })
        })
    }

    /// Sets (`Some((read, write))`) or withdraws (`None`) an organization's grant on a
    /// collection.
    pub fn set_collection_grant(
        &self,
        collection_id: &str,
        org_id: &str,
        grant: Option<(bool, bool)>,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                if c.query_one("SELECT 1 FROM collections WHERE id = ?", &[collection_id.into()])?.is_none() {
                    return Err(StoreError::NotFound(format!("collection {collection_id}")));
                }
                let org = c
                    .query_one("SELECT removed FROM organizations WHERE id = ?", &[org_id.into()])?
                    .ok_or_else(|| StoreError::NotFound(format!("organization {org_id}")))?;
                let n = match grant {
                    Some((read, write)) => {
                        if org[0].opt_int().is_some() {
                            return Err(StoreError::Invalid(format!("organization {org_id} was removed")));
                        }
                        c.execute(
                            "INSERT INTO collection_grants (collection_id, org_id, can_read, can_write) VALUES (?, ?, ?, ?) \
                             ON CONFLICT (collection_id, org_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write",
                            &[collection_id.into(), org_id.into(), read.into(), write.into()],
                        )?
                    }
                    None => c.execute(
                        "DELETE FROM collection_grants WHERE collection_id = ? AND org_id = ?",
                        &[collection_id.into(), org_id.into()],
                    )?,
                };
                if n > 0 {
                    let detail = match grant {
                        Some((r, w)) => json!({"organization_id": org_id, "read": r, "write": w}),
                        None => json!({"organization_id": org_id, "withdrawn": true}),
                    };
                    append_audit(c, Some(actor), "collection.grant", Some(collection_id), &detail)?;
                }
                Ok(())
            })
        })
    }
}

impl From<&Organization> for Val {
    fn from(o: &Organization) -> Val {
        Val::Text(o.id.clone())
    }
}
