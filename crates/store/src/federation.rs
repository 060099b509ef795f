//! Peer hubs: registration with the sharing agreement, the peer-hub organization and its
//! collection grants, pull checkpoints, push cursors and status.
//!
//! What may cross is decided in the hub (the access rule and the agreement); the store
//! keeps the durable state so a sync that stops anywhere resumes where it left off.

use serde_json::{json, Value};

use crate::db::{Conn, Row, Val};
use crate::model::Organization;
use crate::{
    append_audit, hash_token, new_secret, OrgKind, Store, StoreError, Timestamp,
    FEDERATION_COLLECTION, TOMBSTONES_COLLECTION,
};

/// The sharing agreement with one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agreement {
    /// TLP:GREEN crosses (both ways).
    pub green: bool,
    /// TLP:AMBER crosses when its audience names the receiving hub ("named AMBER").
    pub amber: bool,
    /// GREEN received from the peer reaches every member (the hubs are one community);
    /// otherwise it reaches the coordinator only.
    pub one_community: bool,
    /// Local collections exported to the peer (read over TAXII, pushed).
    pub exported_collections: Vec<String>,
    /// Exercise objects cross.
    pub exercise: bool,
    /// Member organizations are replaced by the hub's identity on export.
    pub anonymize: bool,
    /// Objects received from this peer may be forwarded to other peers (and objects
    /// from other peers to this one), where the other agreement allows it too.
    pub forward: bool,
}

impl Agreement {
    pub fn to_json(&self) -> Value {
        json!({
            "green": self.green, "amber": self.amber, "one_community": self.one_community,
            "exported_collections": self.exported_collections, "exercise": self.exercise,
            "anonymize": self.anonymize, "forward": self.forward,
        })
    }

    pub fn from_json(v: &Value) -> Agreement {
        let b = |k: &str| v[k].as_bool().unwrap_or(false);
        Agreement {
            green: b("green"),
            amber: b("amber"),
            one_community: b("one_community"),
            exported_collections: v["exported_collections"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            exercise: b("exercise"),
            anonymize: b("anonymize"),
            forward: b("forward"),
        }
    }
}

/// A registered peer hub. Its id is also the id of its `peer-hub` organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub name: String,
    pub country: Option<String>,
    /// The peer hub's own STIX identity (audiences name it).
    pub identity_id: String,
    /// The remote TAXII API root URL, ending in `/`.
    pub api_root: String,
    /// Remote collections pulled.
    pub pull_collections: Vec<String>,
    /// Remote collection pushed to.
    pub push_collection: Option<String>,
    /// The token for the remote, sealed by the hub's key.
    pub credentials_sealed: Option<String>,
    /// `pull`, `push` or `both`.
    pub direction: String,
    pub agreement: Agreement,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// The SHA-256 (lowercase hex, of the DER) of the client certificate the peer must
    /// present with its token; None: the token alone.
    pub client_cert_sha256: Option<String>,
}

impl Peer {
    /// The listing form: never the credentials.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "country": self.country,
            "identity_id": self.identity_id, "api_root": self.api_root,
            "pull_collections": self.pull_collections, "push_collection": self.push_collection,
            "has_credentials": self.credentials_sealed.is_some(), "direction": self.direction,
            "agreement": self.agreement.to_json(),
            "client_certificate_sha256": self.client_cert_sha256,
            "created": self.created.to_string(), "updated": self.updated.to_string(),
        })
    }

    pub fn pulls(&self) -> bool {
        self.direction == "pull" || self.direction == "both"
    }

    pub fn pushes(&self) -> bool {
        self.direction == "push" || self.direction == "both"
    }
}

/// A peer's sync status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeerStatus {
    pub last_pull: Option<i64>,
    pub last_push: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// `{"in": {"TLP:GREEN": n, …}, "out": {…}}`.
    pub counts: Value,
}

const PEER_COLUMNS: &str = "id, name, country, identity_id, api_root, pull_collections, push_collection, credentials_sealed, direction, agreement, created, updated, client_cert_sha256";

fn peer_from_row(r: &Row) -> Peer {
    Peer {
        id: r[0].text(),
        name: r[1].text(),
        country: r[2].opt_text(),
        identity_id: r[3].text(),
        api_root: r[4].text(),
        pull_collections: serde_json::from_str(&r[5].text()).unwrap_or_default(),
        push_collection: r[6].opt_text(),
        credentials_sealed: r[7].opt_text(),
        direction: r[8].text(),
        agreement: Agreement::from_json(&serde_json::from_str(&r[9].text()).unwrap_or(Value::Null)),
        created: Timestamp(r[10].int()),
        updated: Timestamp(r[11].int()),
        client_cert_sha256: r[12].opt_text(),
    }
}

/// The peer organization's grants: read what the agreement exports and the tombstones,
/// write its inbox (the federation collection).
fn sync_grants(c: &mut Conn, p: &Peer) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM collection_grants WHERE org_id = ?",
        &[p.id.as_str().into()],
    )?;
    let mut grants: Vec<(String, bool, bool)> = p
        .agreement
        .exported_collections
        .iter()
        .filter(|c| c.as_str() != FEDERATION_COLLECTION)
        .map(|c| (c.clone(), true, false))
        .collect();
    let fed_read = p
        .agreement
        .exported_collections
        .iter()
        .any(|c| c == FEDERATION_COLLECTION);
    grants.push((FEDERATION_COLLECTION.into(), fed_read, true));
    grants.push((TOMBSTONES_COLLECTION.into(), true, false));
    grants.sort();
    grants.dedup_by(|a, b| a.0 == b.0);
    for (col, r, w) in grants {
        c.execute(
            "INSERT INTO collection_grants (collection_id, org_id, can_read, can_write) VALUES (?, ?, ?, ?)",
            &[col.into(), p.id.as_str().into(), r.into(), w.into()],
        )?;
    }
    Ok(())
}

fn peer_params(p: &Peer) -> Vec<Val> {
    vec![
        p.name.as_str().into(),
        p.country.as_deref().into(),
        p.identity_id.as_str().into(),
        p.api_root.as_str().into(),
        json!(p.pull_collections).to_string().into(),
        p.push_collection.as_deref().into(),
        p.credentials_sealed.as_deref().into(),
        p.direction.as_str().into(),
        p.agreement.to_json().to_string().into(),
        p.updated.micros().into(),
        p.client_cert_sha256.as_deref().into(),
    ]
}

impl Store {
    /// Registers a peer: its `peer-hub` organization (with the peer's identity), the
    /// peers row, the grants, and a token for the peer (returned, shown once).
    pub fn create_peer(&self, p: &Peer, actor: &str) -> Result<String, StoreError> {
        let secret = new_secret();
        self.pool.with(|c| {
            c.write_tx(|c| {
                if c.query_one("SELECT id FROM organizations WHERE identity_id = ?", &[p.identity_id.as_str().into()])?.is_some() {
                    return Err(StoreError::Invalid(format!(
                        "identity_id: {} already belongs to an organization of this hub",
                        p.identity_id
                    )));
                }
                if c.query_one("SELECT id FROM peers WHERE name = ?", &[p.name.as_str().into()])?.is_some() {
                    return Err(StoreError::Invalid(format!("name: a peer named '{}' exists", p.name)));
                }
                c.execute(
                    "INSERT INTO organizations (id, name, kind, sectors, country, identity_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &[p.id.as_str().into(), p.name.as_str().into(), OrgKind::PeerHub.as_str().into(), "[]".into(),
                      p.country.as_deref().into(), p.identity_id.as_str().into(), p.created.micros().into()],
                )?;
                let mut params = vec![Val::from(p.id.as_str())];
                params.extend(peer_params(p));
                params.push(p.created.micros().into());
                c.execute(
                    "INSERT INTO peers (id, name, country, identity_id, api_root, pull_collections, push_collection, credentials_sealed, direction, agreement, updated, client_cert_sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &params,
                )?;
                c.execute(
                    "INSERT INTO tokens (id, org_id, role, hash, label, created) VALUES (?, ?, ?, ?, ?, ?)",
                    &[uuid::Uuid::new_v4().to_string().into(), p.id.as_str().into(), "member".into(),
                      hash_token(&secret).into(), "peer hub".into(), p.created.micros().into()],
                )?;
                sync_grants(c, p)?;
                append_audit(c, Some(actor), "peer.create", Some(&p.id), &p.to_json())
            })
        })?;
        Ok(secret)
    }

    /// Replaces a peer's settings and agreement.
    pub fn update_peer(&self, p: &Peer, actor: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                // A changed agreement (or collections) applies to the past too: push
                // cursors and pull checkpoints start over; receivers ignore what they
                // already hold.
                let before = c
                    .query_one(&format!("SELECT {PEER_COLUMNS} FROM peers WHERE id = ?"), &[p.id.as_str().into()])?
                    .map(|r| peer_from_row(&r));
                if let Some(b) = before {
                    if b.agreement != p.agreement || b.push_collection != p.push_collection {
                        c.execute("DELETE FROM peer_push_cursors WHERE peer_id = ?", &[p.id.as_str().into()])?;
                    }
                    if b.agreement != p.agreement || b.pull_collections != p.pull_collections {
                        c.execute("DELETE FROM peer_checkpoints WHERE peer_id = ?", &[p.id.as_str().into()])?;
                    }
                }
                let mut params = peer_params(p);
                params.push(p.id.as_str().into());
                let n = c.execute(
                    "UPDATE peers SET name = ?, country = ?, identity_id = ?, api_root = ?, pull_collections = ?, push_collection = ?, credentials_sealed = ?, direction = ?, agreement = ?, updated = ?, client_cert_sha256 = ? WHERE id = ? AND disabled IS NULL",
                    &params,
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("peer {}", p.id)));
                }
                sync_grants(c, p)?;
                append_audit(c, Some(actor), "peer.update", Some(&p.id), &p.to_json())
            })
        })
    }

    /// Disconnects a peer: its tokens are revoked and its grants removed; what it sent
    /// stays.
    pub fn disable_peer(&self, id: &str, actor: &str) -> Result<bool, StoreError> {
        let now = Timestamp::now().micros();
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE peers SET disabled = ? WHERE id = ? AND disabled IS NULL",
                    &[now.into(), id.into()],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                c.execute(
                    "UPDATE tokens SET revoked = ? WHERE org_id = ? AND revoked IS NULL",
                    &[now.into(), id.into()],
                )?;
                c.execute(
                    "DELETE FROM collection_grants WHERE org_id = ?",
                    &[id.into()],
                )?;
                append_audit(c, Some(actor), "peer.disable", Some(id), &json!({}))?;
                Ok(true)
            })
        })
    }

    /// The active peers.
    pub fn peers(&self) -> Result<Vec<Peer>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE disabled IS NULL ORDER BY name"),
                &[],
            )?
            .iter()
            .map(peer_from_row)
            .collect())
        })
    }

    /// One active peer by id or name.
    pub fn peer(&self, id_or_name: &str) -> Result<Option<Peer>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE (id = ? OR name = ?) AND disabled IS NULL"),
                &[id_or_name.into(), id_or_name.into()],
            )?
            .map(|r| peer_from_row(&r)))
        })
    }

    /// The `added_after` checkpoint of one remote collection.
    pub fn checkpoint(&self, peer_id: &str, remote: &str) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT added_after FROM peer_checkpoints WHERE peer_id = ? AND remote_collection = ?",
                &[peer_id.into(), remote.into()],
            )?
            .and_then(|r| r[0].opt_text()))
        })
    }

    /// Moves the checkpoint of one remote collection.
    pub fn set_checkpoint(
        &self,
        peer_id: &str,
        remote: &str,
        added_after: &str,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            // One statement: two workers writing the same row never collide.
            c.execute(
                "INSERT INTO peer_checkpoints (peer_id, remote_collection, added_after, updated) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (peer_id, remote_collection) DO UPDATE SET added_after = excluded.added_after, updated = excluded.updated",
                &[peer_id.into(), remote.into(), added_after.into(), Timestamp::now().micros().into()],
            )?;
            Ok(())
        })
    }

    /// The push cursor of one local collection: (date_added, pk) of the last object
    /// handled; (0, 0) before the first push.
    pub fn push_cursor(
        &self,
        peer_id: &str,
        collection_id: &str,
    ) -> Result<(i64, i64), StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT added, pk FROM peer_push_cursors WHERE peer_id = ? AND collection_id = ?",
                &[peer_id.into(), collection_id.into()],
            )?
            .map(|r| (r[0].int(), r[1].int()))
            .unwrap_or((0, 0)))
        })
    }

    /// Moves the push cursor of one local collection.
    pub fn set_push_cursor(
        &self,
        peer_id: &str,
        collection_id: &str,
        added: i64,
        pk: i64,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.execute(
                "INSERT INTO peer_push_cursors (peer_id, collection_id, added, pk) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (peer_id, collection_id) DO UPDATE SET added = excluded.added, pk = excluded.pk",
                &[peer_id.into(), collection_id.into(), added.into(), pk.into()],
            )?;
            Ok(())
        })
    }

    /// Objects of a collection added after `added` (date_added, microseconds): how many,
    /// and the oldest one's date_added (a push backlog, before the agreement's filters).
    pub fn backlog(
        &self,
        collection_id: &str,
        added: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.pool.with(|c| {
            let r = c.query_one(
                "SELECT COUNT(*), MIN(date_added) FROM objects WHERE collection_id = ? AND date_added > ?",
                &[collection_id.into(), added.into()],
            )?;
            Ok(r.map(|r| (r[0].int(), r[1].opt_int())).unwrap_or((0, None)))
        })
    }

    /// A peer's sync status.
    pub fn peer_status(&self, peer_id: &str) -> Result<PeerStatus, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT last_pull, last_push, last_error, last_error_at, counts FROM peer_status WHERE peer_id = ?",
                &[peer_id.into()],
            )?
            .map(|r| PeerStatus {
                last_pull: r[0].opt_int(),
                last_push: r[1].opt_int(),
                last_error: r[2].opt_text(),
                last_error_at: r[3].opt_int(),
                counts: serde_json::from_str(&r[4].text()).unwrap_or(json!({})),
            })
            .unwrap_or_else(|| PeerStatus { counts: json!({}), ..PeerStatus::default() }))
        })
    }

    /// Records the outcome of a pull or push (`direction` `in` or `out`): success time or
    /// error, and objects moved by TLP label.
    pub fn record_sync(
        &self,
        peer_id: &str,
        direction: &str,
        result: Result<&[(String, i64)], &str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                // The pull and the push worker both write this row: make sure it exists,
                // then read it locked (PostgreSQL; SQLite's writer is alone anyway), so
                // neither loses the other's update.
                c.execute(
                    "INSERT INTO peer_status (peer_id, counts) VALUES (?, '{}') ON CONFLICT (peer_id) DO NOTHING",
                    &[peer_id.into()],
                )?;
                let lock = match c.dialect() {
                    crate::Dialect::Postgres => " FOR UPDATE",
                    crate::Dialect::Sqlite => "",
                };
                let cur = c.query_one(
                    &format!("SELECT last_pull, last_push, last_error, last_error_at, counts FROM peer_status WHERE peer_id = ?{lock}"),
                    &[peer_id.into()],
                )?;
                let (mut pull, mut push, mut err, mut err_at, mut counts) = match cur {
                    Some(r) => (r[0].opt_int(), r[1].opt_int(), r[2].opt_text(), r[3].opt_int(), serde_json::from_str(&r[4].text()).unwrap_or(json!({}))),
                    None => (None, None, None, None, json!({})),
                };
                match result {
                    Ok(moved) => {
                        if direction == "in" {
                            pull = Some(now);
                        } else {
                            push = Some(now);
                        }
                        for (tlp, n) in moved {
                            let v = counts[direction][tlp].as_i64().unwrap_or(0) + n;
                            counts[direction][tlp] = json!(v);
                        }
                    }
                    Err(e) => {
                        err = Some(format!("{}: {e}", if direction == "in" { "pull" } else { "push" }));
                        err_at = Some(now);
                    }
                }
                c.execute(
                    "UPDATE peer_status SET last_pull = ?, last_push = ?, last_error = ?, last_error_at = ?, counts = ? WHERE peer_id = ?",
                    &[pull.into(), push.into(), err.into(), err_at.into(), counts.to_string().into(), peer_id.into()],
                )?;
                Ok(())
            })
        })
    }

    /// Every organization that is not a peer hub (whose identities anonymization hides).
    pub fn member_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        Ok(self
            .organizations()?
            .into_iter()
            .filter(|o| o.kind.is_member() && o.kind != OrgKind::Coordinator)
            .collect())
    }

    /// The coordinator's grants of received objects (identities it extended each to),
    /// for the ids given: a new version from the peer gets them again.
    pub fn received_grants(
        &self,
        stix_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
        self.pool.with(|c| {
            for chunk in stix_ids.chunks(500) {
                let mut params = Vec::new();
                let sql = format!(
                    "SELECT stix_id, identity_id FROM received_grants WHERE {} ORDER BY stix_id, identity_id",
                    crate::objects::in_list("stix_id", chunk, &mut params)
                );
                for r in c.query(&sql, &params)? {
                    out.entry(r[0].text()).or_default().push(r[1].text());
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Extends the audience of every version of an object (the coordinator's
    /// need-to-know decision for objects received from peers): the identities are added
    /// to the object's audience rows, with the coordinator's own so it keeps seeing it.
    pub fn extend_audience(
        &self,
        collection_id: &str,
        stix_id: &str,
        identities: &[String],
        actor: &str,
    ) -> Result<usize, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                // The clock lock object writers take: a version being stored meanwhile
                // either commits first (and is extended here) or reads this grant.
                c.claim_added(1)?;
                let pks: Vec<i64> = c
                    .query(
                        "SELECT pk FROM objects WHERE collection_id = ? AND stix_id = ?",
                        &[collection_id.into(), stix_id.into()],
                    )?
                    .iter()
                    .map(|r| r[0].int())
                    .collect();
                if collection_id == FEDERATION_COLLECTION && !pks.is_empty() {
                    for i in identities {
                        c.execute(
                            "INSERT INTO received_grants (stix_id, identity_id) VALUES (?, ?) ON CONFLICT (stix_id, identity_id) DO NOTHING",
                            &[stix_id.into(), i.as_str().into()],
                        )?;
                    }
                }
                for pk in &pks {
                    for i in identities {
                        c.execute(
                            "INSERT INTO object_audience (pk, identity_id) VALUES (?, ?) ON CONFLICT (pk, identity_id) DO NOTHING",
                            &[(*pk).into(), i.as_str().into()],
                        )?;
                    }
                    c.execute("UPDATE objects SET has_audience = 1 WHERE pk = ?", &[(*pk).into()])?;
                }
                if !pks.is_empty() && stix_id.starts_with("indicator--") {
                    // Every node's matching index holds the audience.
                    let id = stix_id.to_string();
                    crate::objects::notify_indicators(c, &[&id])?;
                }
                if !pks.is_empty() {
                    append_audit(c, Some(actor), "object.extend_audience", Some(stix_id), &json!({"collection": collection_id, "added": identities}))?;
                }
                Ok(pks.len())
            })
        })
    }
}
