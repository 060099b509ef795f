//! Who is asking, and what they may see: the [`Viewer`] of an operation (its principal,
//! its compiled access-rule [`Scope`] and, for a peer hub, its [`ExportView`]), built
//! once per request by a front end or once per job by a worker.
//!
//! Invariant: every read of a stored object, on every path and for every kind of
//! caller, is decided by [`Viewer::sees`] (the store applies the same scope in SQL;
//! [`Viewer::filter_page`] adds the export view) and rendered by [`Viewer::render`].
//! [`super::objects::read`] is the one function that reads collection objects.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use hinomi_access::{Item, OrgKind, Reader, Scope};
use hinomi_stix::{Tlp, HUB_EXTENSION_ID};
use hinomi_store::{
    Agreement, Collection, Community, Organization, Page, Peer, Principal, Role, Store, StoreError,
};

use super::{Error, Kind, Result};

/// The reader an organization is when the hub acts on its behalf (matching, delivery,
/// federation): its identity plus the identities of the communities it belongs to.
/// `peer_green` comes from a peer hub's sharing agreement.
pub fn org_reader(
    org_id: &str,
    kind: OrgKind,
    identity_id: &str,
    communities: &[Community],
    peer_green: bool,
) -> Reader {
    let mut keys = vec![identity_id.to_string()];
    keys.extend(
        communities
            .iter()
            .filter(|c| c.members.iter().any(|m| m == org_id))
            .map(|c| c.identity_id.clone()),
    );
    Reader::Organization {
        org_id: org_id.to_string(),
        kind,
        audience_keys: keys,
        peer_green,
    }
}

/// The compiled reader of an organization the hub acts for (no agreement).
pub fn org_scope(org: &Organization, communities: &[Community]) -> Scope {
    Scope::for_reader(&org_reader(
        &org.id,
        org.kind,
        &org.identity_id,
        communities,
        false,
    ))
}

/// The caller of an operation.
#[derive(Clone)]
pub struct Viewer {
    /// The authenticated principal; None for the public.
    pub principal: Option<Principal>,
    /// The access rule compiled for this reader.
    pub scope: Scope,
    /// For a peer hub: what its sharing agreement lets it receive. A peer hub without
    /// one (its peer entry deleted) receives nothing.
    export: Option<Arc<ExportView>>,
    /// The collections this viewer reads whatever their read policy (the collections a
    /// peer's agreement exports, for the push worker); None: by the read policies.
    collections: Option<Arc<HashSet<String>>>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("org", &self.principal.as_ref().map(|p| &p.org.id))
            .field("peer_view", &self.export.is_some())
            .finish()
    }
}

impl Viewer {
    /// The public: no credentials.
    pub fn anonymous() -> Viewer {
        Viewer {
            principal: None,
            scope: Scope::for_reader(&Reader::Anonymous),
            export: None,
            collections: None,
        }
    }

    /// The viewer of `principal`, with the export view of a peer hub loaded.
    pub fn of(store: &Store, principal: Option<Principal>) -> Result<Viewer, StoreError> {
        let Some(p) = principal else {
            return Ok(Viewer::anonymous());
        };
        let reader = Reader::Organization {
            org_id: p.org.id.clone(),
            kind: p.org.kind,
            audience_keys: p.audience_keys.clone(),
            peer_green: p.peer_green,
        };
        let export = if p.org.kind == OrgKind::PeerHub {
            ExportView::load(store, &p.org.id)?.map(Arc::new)
        } else {
            None
        };
        Ok(Viewer {
            scope: Scope::for_reader(&reader),
            principal: Some(p),
            export,
            collections: None,
        })
    }

    /// Checks the client certificate a peer hub's request came with against the one
    /// its registration binds its token to (`cert`: SHA-256 of the DER, lowercase hex,
    /// None without mutual TLS). Everyone else, and peers without a binding, pass.
    pub fn check_client_certificate(&self, cert: Option<&str>) -> Result<(), super::Error> {
        let Some(pin) = self
            .export
            .as_ref()
            .and_then(|e| e.peer.client_cert_sha256.as_deref())
        else {
            return Ok(());
        };
        if cert == Some(pin) {
            return Ok(());
        }
        Err(super::Error::new(
            super::Kind::Unauthorized,
            match cert {
                None => "this peer hub's token is bound to a client certificate: connect with it (mutual TLS)",
                Some(_) => "this peer hub's token is bound to another client certificate",
            },
        ))
    }

    /// The operator at the hub's console (`hinomi import`, `hinomi federation`): the
    /// coordinator with admin rights, or (`org_id`) a member organization the operator
    /// acts for, with a member's rights. No token is involved.
    pub fn console(store: &Store, org_id: Option<&str>) -> Result<Viewer, StoreError> {
        let org = match org_id {
            Some(id) => store.organization(id)?,
            None => store.coordinator()?.ok_or_else(|| {
                StoreError::Invalid(
                    "this store has no coordinator yet: run 'hinomi admin bootstrap' first".into(),
                )
            })?,
        };
        let role = if org.kind == OrgKind::Coordinator {
            Role::Admin
        } else {
            Role::Member
        };
        let communities = store.communities()?;
        let Reader::Organization { audience_keys, .. } =
            org_reader(&org.id, org.kind, &org.identity_id, &communities, false)
        else {
            unreachable!("org_reader builds an organization reader")
        };
        let principal = Principal {
            org,
            role,
            token_id: "console".into(),
            audience_keys,
            peer_green: false,
        };
        Viewer::of(store, Some(principal))
    }

    /// A peer hub reading under its agreement (the federation push worker): the
    /// collections its agreement exports, under its reader's scope and export view.
    pub fn peer(view: ExportView, scope: Scope, collections: Vec<String>) -> Viewer {
        Viewer {
            principal: None,
            scope,
            export: Some(Arc::new(view)),
            collections: Some(Arc::new(collections.into_iter().collect())),
        }
    }

    /// The principal, or Unauthorized.
    pub fn require(&self) -> Result<&Principal> {
        self.principal.as_ref().ok_or_else(|| {
            Error::new(
                Kind::Unauthorized,
                "this resource needs credentials: send 'Authorization: Bearer <token>'",
            )
        })
    }

    /// An admin principal (coordinator admin token).
    pub fn require_admin(&self) -> Result<&Principal> {
        let p = self.require()?;
        if p.role != Role::Admin {
            return Err(Error::new(
                Kind::Forbidden,
                "this action needs an admin token of the coordinator",
            ));
        }
        Ok(p)
    }

    /// A principal of the coordinator (any role), or Forbidden.
    pub fn require_coordinator(&self) -> Result<&Principal> {
        let p = self.require()?;
        if p.org.kind != OrgKind::Coordinator {
            return Err(Error::new(Kind::Forbidden, "this is the coordinator's"));
        }
        Ok(p)
    }

    /// The caller's organization, if any.
    pub fn org(&self) -> Option<&Organization> {
        self.principal.as_ref().map(|p| &p.org)
    }

    /// Whether the caller is a peer hub (reads under an agreement).
    pub fn is_peer(&self) -> bool {
        self.export.is_some() || self.org().is_some_and(|o| o.kind == OrgKind::PeerHub)
    }

    /// Whether the caller may read the collection's objects at all.
    pub fn can_read(&self, col: &Collection) -> bool {
        match &self.collections {
            Some(set) => set.contains(&col.id),
            None => col.can_read(self.org()),
        }
    }

    /// Whether the caller may see one stored item whose JSON is `v`: the access rule
    /// and, for a peer hub, its sharing agreement.
    pub fn sees(&self, item: &Item<'_>, v: &Value) -> bool {
        self.scope.allows(item) && self.admits(item.owner_org, item.tlp, v)
    }

    /// The export part of [`Viewer::sees`], for items the access rule already admitted
    /// (in SQL).
    pub fn admits(&self, owner_org: &str, tlp: Tlp, v: &Value) -> bool {
        match (&self.export, self.is_peer()) {
            (Some(view), _) => view.admits(owner_org, tlp, v),
            (None, true) => false,
            (None, false) => true,
        }
    }

    /// The scope the advisory store is read under. A peer hub reads it as the public
    /// does: agreements export collections, and advisories are not in one.
    pub fn advisory_scope(&self) -> std::borrow::Cow<'_, Scope> {
        if self.is_peer() {
            std::borrow::Cow::Owned(Scope::for_reader(&Reader::Anonymous))
        } else {
            std::borrow::Cow::Borrowed(&self.scope)
        }
    }

    /// Whether what this caller receives is anonymized (a peer hub whose agreement
    /// says so): member organizations appear as the hub.
    pub fn anonymizes(&self) -> bool {
        self.export
            .as_ref()
            .is_some_and(|v| v.peer.agreement.anonymize)
    }

    /// The object as this caller receives it (anonymized for a peer whose agreement
    /// says so).
    pub fn render(&self, v: Value) -> Value {
        match &self.export {
            Some(view) => view.render(v),
            None => v,
        }
    }

    /// Hides whom a warning was addressed to from readers of the warnings collection
    /// who do not track it: the audience in the hub extension of a warning's STIX
    /// objects stays for the issuing organization, the coordinator and peer hubs (whose
    /// handling needs it), as the REST view does.
    pub fn hide_warning_audiences(&self, page: &mut Page) {
        let (org, tracks_all) = match &self.principal {
            Some(p) => (
                Some(p.org.id.as_str()),
                matches!(p.org.kind, OrgKind::Coordinator | OrgKind::PeerHub),
            ),
            None => (None, false),
        };
        // The push worker reads as a peer without a principal.
        if tracks_all || self.is_peer() {
            return;
        }
        for item in &mut page.items {
            if Some(item.owner_org.as_str()) == org || !item.json.contains("\"audience\"") {
                continue;
            }
            let Ok(mut v) = serde_json::from_str::<Value>(&item.json) else {
                continue;
            };
            if let Some(e) = v
                .pointer_mut(&format!("/extensions/{HUB_EXTENSION_ID}"))
                .and_then(Value::as_object_mut)
            {
                e.remove("audience");
                item.json = v.to_string();
            }
        }
    }

    /// Keeps of a page read under [`Viewer::scope`] what the caller may see, rendered
    /// for it.
    pub fn filter_page(&self, page: &mut Page) {
        if !self.is_peer() {
            return;
        }
        match &self.export {
            Some(view) => view.apply(page),
            None => page.items.clear(),
        }
    }
}

/// The hub's property extension of an object.
pub(crate) fn ext(v: &Value) -> &Value {
    &v["extensions"][HUB_EXTENSION_ID]
}

/// What one peer may receive beyond the access rule, and how it is rewritten.
pub struct ExportView {
    pub peer: Peer,
    /// Agreements of every peer, by its organization id (forwarding asks both).
    agreements: HashMap<String, Agreement>,
    /// Identities of this hub's member organizations (anonymization hides them).
    members: HashSet<String>,
    /// This hub's identity (the coordinator's).
    hub_identity: String,
}

impl ExportView {
    /// The view for the peer whose organization id is `peer_org`, if it is a peer.
    pub fn load(store: &Store, peer_org: &str) -> Result<Option<ExportView>, StoreError> {
        let peers = store.peers()?;
        let Some(peer) = peers.iter().find(|p| p.id == peer_org).cloned() else {
            return Ok(None);
        };
        let members = store
            .member_organizations()?
            .into_iter()
            .map(|o| o.identity_id)
            .collect();
        let hub_identity = store
            .coordinator()?
            .map(|c| c.identity_id)
            .unwrap_or_default();
        Ok(Some(ExportView {
            agreements: peers
                .into_iter()
                .map(|p| (p.id.clone(), p.agreement))
                .collect(),
            peer,
            members,
            hub_identity,
        }))
    }

    /// Whether an object (already allowed by the access rule) may go to this peer.
    pub fn admits(&self, owner_org: &str, tlp: Tlp, v: &Value) -> bool {
        let a = &self.peer.agreement;
        if tlp == Tlp::Amber && !a.amber {
            return false;
        }
        if owner_org == self.peer.id {
            return false; // never back to where it came from
        }
        if let Some(origin) = self.agreements.get(owner_org) {
            if !(origin.forward && a.forward) {
                return false;
            }
        }
        if ext(v)["exercise"].as_bool() == Some(true) && !a.exercise {
            return false;
        }
        if a.anonymize
            && v["type"] == "identity"
            && v["id"].as_str().is_some_and(|i| self.members.contains(i))
        {
            return false;
        }
        true
    }

    /// The object as the peer receives it: with anonymization, every reference to a
    /// member organization's identity becomes the hub's identity.
    pub fn render(&self, mut v: Value) -> Value {
        if self.peer.agreement.anonymize && !self.hub_identity.is_empty() {
            anonymize(&mut v, &self.members, &self.hub_identity);
            // (`get_mut`: indexing a missing key mutably would insert it.)
            if let Some(aud) = v
                .get_mut("extensions")
                .and_then(|e| e.get_mut(HUB_EXTENSION_ID))
                .and_then(|e| e.get_mut("audience"))
                .and_then(Value::as_array_mut)
            {
                let mut seen = HashSet::new();
                aud.retain(|x| seen.insert(x.clone()));
            }
        }
        v
    }

    /// Filters and rewrites a page read by this peer over TAXII.
    pub fn apply(&self, page: &mut Page) {
        page.items.retain_mut(|i| {
            let Ok(v) = serde_json::from_str::<Value>(&i.json) else {
                return false;
            };
            if !self.admits(&i.owner_org, i.tlp, &v) {
                return false;
            }
            if self.peer.agreement.anonymize {
                i.json = self.render(v).to_string();
            }
            true
        });
    }
}

fn anonymize(v: &mut Value, members: &HashSet<String>, hub: &str) {
    match v {
        Value::String(s) if members.contains(s.as_str()) => *s = hub.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| anonymize(x, members, hub)),
        Value::Object(m) => m.values_mut().for_each(|x| anonymize(x, members, hub)),
        _ => {}
    }
}
