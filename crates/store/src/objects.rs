//! STIX object versions in collections: ingest, keyset-paged reads under the access
//! rule, versions, deletion, and TAXII status resources.

use serde_json::{json, Value};

use hinomi_access::{Scope, TlpSet};
use hinomi_stix::{CheckedObject, Timestamp, Tlp};

use crate::db::{Conn, Val};
use crate::{append_audit, Store, StoreError};

/// An object ready to be stored: checked, with its effective TLP.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub checked: CheckedObject,
    pub tlp: Tlp,
    /// The canonical JSON text (keys sorted).
    pub json: String,
    /// Observable values (`type:value`) for the correlation index, written with the
    /// object in its transaction.
    pub observables: Vec<String>,
    /// What a correlation hit on this object counts as (an incident report's id);
    /// None: the object itself.
    pub context: Option<String>,
}

impl NewObject {
    pub fn new(checked: CheckedObject, tlp: Tlp) -> NewObject {
        let json = serde_json::to_string(&checked.value).unwrap_or_default();
        NewObject {
            checked,
            tlp,
            json,
            observables: Vec::new(),
            context: None,
        }
    }

    /// The same object with its observable values for the correlation index.
    pub fn with_observables(mut self, values: Vec<String>, context: Option<String>) -> NewObject {
        self.observables = values;
        self.context = context;
        self
    }
}

/// What happened to one submitted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as a new version.
    Added,
    /// This exact version was already in the collection; nothing changed.
    Duplicate,
    /// Refused, with the reason.
    Refused(String),
}

/// One stored object version as read back.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub pk: i64,
    pub stix_id: String,
    /// The version (`modified`, else `created`, else the date it was first added).
    pub version: Timestamp,
    pub date_added: Timestamp,
    /// The stored version column (0 for unversioned objects); the cursor key of
    /// [`Order::Version`].
    pub raw_version: i64,
    pub tlp: Tlp,
    pub owner_org: String,
    /// The object's JSON text.
    pub json: String,
}

/// Which versions a query returns (TAXII `match[version]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFilter {
    pub all: bool,
    pub first: bool,
    pub last: bool,
    pub at: Vec<Timestamp>,
}

impl Default for VersionFilter {
    /// The TAXII default: the latest version.
    fn default() -> VersionFilter {
        VersionFilter {
            all: false,
            first: false,
            last: true,
            at: vec![],
        }
    }
}

/// The sort order of a query, and so of its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By date added (objects, manifest).
    Added,
    /// By version (the versions endpoint).
    Version,
}

/// Where the previous page ended: the sort key and row of its last item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub pk: i64,
}

impl Cursor {
    /// An opaque token, e.g. `1764109485123456.42`.
    pub fn encode(self) -> String {
        format!("{}.{}", self.key, self.pk)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (k, p) = s.split_once('.')?;
        Some(Cursor {
            key: k.parse().ok()?,
            pk: p.parse().ok()?,
        })
    }
}

/// A read of a collection's objects.
#[derive(Debug, Clone)]
pub struct ObjectQuery<'a> {
    pub collection_id: &'a str,
    pub scope: &'a Scope,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionFilter,
    pub added_after: Option<Timestamp>,
    pub after: Option<Cursor>,
    pub limit: usize,
    pub order: Order,
}

impl<'a> ObjectQuery<'a> {
    pub fn new(collection_id: &'a str, scope: &'a Scope) -> ObjectQuery<'a> {
        ObjectQuery {
            collection_id,
            scope,
            ids: vec![],
            types: vec![],
            versions: VersionFilter::default(),
            added_after: None,
            after: None,
            limit: 1000,
            order: Order::Added,
        }
    }
}

/// One page of a query.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<StoredObject>,
    /// More items follow; `next` continues.
    pub more: bool,
    pub next: Option<Cursor>,
    /// The position of the last row read, kept when a caller filters items out
    /// afterwards (the federation push cursor continues from it).
    pub last: Option<Cursor>,
    /// The earliest and latest `date_added` of the page as read, kept when a caller
    /// filters items out afterwards (TAXII's X-TAXII-Date-Added-First/Last).
    pub added_range: Option<(Timestamp, Timestamp)>,
}

fn tlp_list(set: TlpSet) -> String {
    set.levels()
        .map(|t| t.as_i64().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The access rule as SQL: `scope` compiled to a condition on `o` (objects).
pub(crate) fn scope_sql(scope: &Scope, params: &mut Vec<Val>) -> String {
    scope_sql_on("o", "object_audience", scope, params)
}

/// The access rule as SQL on any table with `tlp`, `owner_org`, `has_audience` and `pk`
/// columns (alias `t`) whose audience rows are in `audience_table`.
pub(crate) fn scope_sql_on(
    t: &str,
    audience_table: &str,
    scope: &Scope,
    params: &mut Vec<Val>,
) -> String {
    let mut parts = Vec::new();
    if !scope.open.is_empty() {
        parts.push(format!("{t}.tlp IN ({})", tlp_list(scope.open)));
    }
    if let Some(owner) = &scope.owner {
        parts.push(format!("{t}.owner_org = ?"));
        params.push(owner.into());
    }
    if !scope.without_audience.is_empty() {
        parts.push(format!(
            "({t}.has_audience = 0 AND {t}.tlp IN ({}))",
            tlp_list(scope.without_audience)
        ));
    }
    if !scope.by_audience.is_empty() && !scope.audience_keys.is_empty() {
        let marks = vec!["?"; scope.audience_keys.len()].join(", ");
        parts.push(format!(
            "({t}.tlp IN ({}) AND EXISTS (SELECT 1 FROM {audience_table} a WHERE a.pk = {t}.pk AND a.identity_id IN ({marks})))",
            tlp_list(scope.by_audience)
        ));
        params.extend(scope.audience_keys.iter().map(Val::from));
    }
    if parts.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

pub(crate) fn in_list(col: &str, values: &[String], params: &mut Vec<Val>) -> String {
    params.extend(values.iter().map(Val::from));
    format!("{col} IN ({})", vec!["?"; values.len()].join(", "))
}

/// Inserts objects owned by `owner_org` into a collection inside the caller's write
/// transaction. `first_added` is the date_added of the first (each next one gets +1µs).
pub(crate) fn insert_objects(
    c: &mut Conn,
    collection_id: &str,
    owner_org: &str,
    objects: Vec<NewObject>,
    first_added: i64,
) -> Result<Vec<Outcome>, StoreError> {
    // Which ids exist already, and who owns them: one query per chunk, not per object.
    // An SCO (no version) may be held by several organizations, each under its own
    // handling: its id comes from its value, so whoever shares it first must not own it.
    let mut owners: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for chunk in objects.chunks(400) {
        let ids: Vec<String> = chunk.iter().map(|o| o.checked.id.clone()).collect();
        let mut params = Vec::new();
        let cond = in_list("stix_id", &ids, &mut params);
        for r in c.query(
            &format!("SELECT stix_id, owner_org FROM objects WHERE {cond}"),
            &params,
        )? {
            owners.entry(r[0].text()).or_default().push(r[1].text());
        }
    }
    let mut out = Vec::with_capacity(objects.len());
    // Correlation postings of added objects, written once their rows have a pk.
    let mut postings: Vec<(String, i64, Vec<String>, String)> = Vec::new();
    // New objects without an audience are written with multi-row INSERTs; anything that
    // must see earlier rows of this batch flushes them first.
    let mut pending: Vec<Val> = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        let date_added = first_added + i as i64;
        let version = o.checked.version.map_or(0, Timestamp::micros);
        let unversioned = o.checked.version.is_none();
        let held = owners.get(&o.checked.id);
        let mine = held.is_some_and(|h| h.iter().any(|x| x == owner_org));
        let mut fresh = true;
        if held.is_some() && (mine || !unversioned) {
            if !mine {
                out.push(Outcome::Refused(
                    "only the owner organization may add versions of this object".into(),
                ));
                continue;
            }
            flush_rows(c, &mut pending)?;
            if let Some(r) = c.query_one(
                "SELECT json FROM objects WHERE collection_id = ? AND stix_id = ? AND version = ? AND owner_org = ?",
                &[collection_id.into(), (&o.checked.id).into(), version.into(), owner_org.into()],
            )? {
                if r[0].text() == o.json {
                    out.push(Outcome::Duplicate);
                } else {
                    out.push(Outcome::Refused(
                        "this version (id and modified) is already stored with different content; a change needs a later modified timestamp".into(),
                    ));
                }
                continue;
            }
            fresh = c
                .query_one(
                    "SELECT 1 FROM objects WHERE collection_id = ? AND stix_id = ? LIMIT 1",
                    &[collection_id.into(), (&o.checked.id).into()],
                )?
                .is_none();
        }
        owners
            .entry(o.checked.id.clone())
            .or_default()
            .push(owner_org.to_string());
        if !o.observables.is_empty() {
            let context = o.context.clone().unwrap_or_else(|| o.checked.id.clone());
            postings.push((
                o.checked.id.clone(),
                version,
                o.observables.clone(),
                context,
            ));
        }
        let row = [
            collection_id.into(),
            (&o.checked.id).into(),
            (&o.checked.object_type).into(),
            version.into(),
            date_added.into(),
            owner_org.into(),
            o.tlp.as_i64().into(),
            (!o.checked.audience.is_empty()).into(),
            o.checked.exercise.into(),
            o.json.into(),
        ];
        if o.checked.audience.is_empty() && fresh {
            pending.extend(row);
            if pending.len() >= ROW_WIDTH * ROWS_PER_INSERT {
                flush_rows(c, &mut pending)?;
            }
        } else {
            flush_rows(c, &mut pending)?;
            let pk = c
                .query(&format!("{INSERT_OBJECTS} {ROW_VALUES} RETURNING pk"), &row)?
                .first()
                .map_or(0, |r| r[0].int());
            for a in &o.checked.audience {
                c.execute(
                    "INSERT INTO object_audience (pk, identity_id) VALUES (?, ?)",
                    &[pk.into(), a.into()],
                )?;
            }
            if !fresh {
                fix_version_flags(c, collection_id, &o.checked.id)?;
            }
        }
        out.push(Outcome::Added);
    }
    flush_rows(c, &mut pending)?;
    write_postings(c, collection_id, postings)?;
    Ok(out)
}

/// Adds objects inside the caller's write transaction: claims their `date_added`,
/// inserts, announces indicators and writes the audit entry.
pub(crate) fn add_objects_in(
    c: &mut Conn,
    collection_id: &str,
    owner_org: &str,
    objects: Vec<NewObject>,
) -> Result<Vec<Outcome>, StoreError> {
    if objects.is_empty() {
        return Ok(vec![]);
    }
    let first = c.claim_added(objects.len() as i64)?;
    let ids: Vec<String> = objects.iter().map(|o| o.checked.id.clone()).collect();
    let outcomes = insert_objects(c, collection_id, owner_org, objects, first)?;
    let added = outcomes.iter().filter(|o| **o == Outcome::Added).count();
    if added > 0 && collection_id == crate::FEDERATION_COLLECTION {
        // The coordinator's grants of received AMBER, read in this transaction: a grant
        // committed while the caller prepared these versions still reaches them
        // (`extend_audience` takes the same clock lock, so the two serialize).
        let new: Vec<String> = ids
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Outcome::Added)
            .map(|(id, _)| id.clone())
            .collect();
        for chunk in new.chunks(400) {
            let mut params: Vec<Val> = vec![collection_id.into()];
            let cond = in_list("o.stix_id", chunk, &mut params);
            c.execute(
                &format!(
                    "INSERT INTO object_audience (pk, identity_id) SELECT o.pk, g.identity_id FROM objects o                      JOIN received_grants g ON g.stix_id = o.stix_id                      WHERE o.collection_id = ? AND o.tlp = 2 AND {cond} ON CONFLICT DO NOTHING"
                ),
                &params,
            )?;
            let mut params: Vec<Val> = vec![collection_id.into()];
            let cond = in_list("stix_id", chunk, &mut params);
            c.execute(
                &format!(
                    "UPDATE objects SET has_audience = 1 WHERE collection_id = ? AND {cond}                      AND EXISTS (SELECT 1 FROM object_audience a WHERE a.pk = objects.pk)"
                ),
                &params,
            )?;
        }
    }
    let indicators: Vec<&String> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(id, o)| **o == Outcome::Added && id.starts_with("indicator--"))
        .map(|(id, _)| id)
        .collect();
    notify_indicators(c, &indicators)?;
    if added > 0 {
        append_audit(
            c,
            Some(owner_org),
            "objects.add",
            Some(collection_id),
            &json!({"added": added, "submitted": ids.len(), "first_id": ids[0]}),
        )?;
    }
    Ok(outcomes)
}

/// Indexes the observable values of freshly inserted rows: one posting per distinct
/// value and row. Rows are found by (collection, id, version), a unique key.
fn write_postings(
    c: &mut Conn,
    collection_id: &str,
    postings: Vec<(String, i64, Vec<String>, String)>,
) -> Result<(), StoreError> {
    if postings.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<Val> = Vec::new();
    for chunk in postings.chunks(400) {
        let ids: Vec<String> = chunk.iter().map(|p| p.0.clone()).collect();
        let mut params = vec![collection_id.into()];
        let cond = in_list("stix_id", &ids, &mut params);
        let mut pks = std::collections::HashMap::new();
        for r in c.query(
            &format!("SELECT pk, stix_id, version FROM objects WHERE collection_id = ? AND {cond}"),
            &params,
        )? {
            pks.insert((r[1].text(), r[2].int()), r[0].int());
        }
        for (id, version, values, context) in chunk {
            let Some(pk) = pks.get(&(id.clone(), *version)) else {
                continue;
            };
            let mut seen = std::collections::HashSet::new();
            for v in values {
                if seen.insert(v.as_str()) {
                    rows.extend([v.into(), (*pk).into(), context.into()]);
                }
            }
        }
    }
    insert_postings(c, &rows)
}

/// Inserts postings given as (value, pk, context) triples, 300 rows a statement.
pub(crate) fn insert_postings(c: &mut Conn, rows: &[Val]) -> Result<(), StoreError> {
    for chunk in rows.chunks(3 * 300) {
        let marks = vec!["(?, ?, ?)"; chunk.len() / 3].join(", ");
        c.execute(
            &format!("INSERT INTO observable_postings (value, pk, context) VALUES {marks} ON CONFLICT DO NOTHING"),
            chunk,
        )?;
    }
    Ok(())
}

const INSERT_OBJECTS: &str = "INSERT INTO objects (collection_id, stix_id, stix_type, version, date_added, owner_org, tlp, has_audience, exercise, is_latest, is_first, json) VALUES";
const ROW_VALUES: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?)";
const ROW_WIDTH: usize = 10;
const ROWS_PER_INSERT: usize = 100;

/// Writes the buffered rows (ROW_WIDTH values each) with as few statements as possible;
/// full statements have ROWS_PER_INSERT rows, so few distinct statements get prepared.
fn flush_rows(c: &mut Conn, pending: &mut Vec<Val>) -> Result<(), StoreError> {
    for chunk in pending.chunks(ROW_WIDTH * ROWS_PER_INSERT) {
        let rows = chunk.len() / ROW_WIDTH;
        let sql = format!("{INSERT_OBJECTS} {}", vec![ROW_VALUES; rows].join(", "));
        c.execute(&sql, chunk)?;
    }
    pending.clear();
    Ok(())
}

/// PostgreSQL: tells every node (LISTEN hinomi_indicators) which indicators changed;
/// delivered when the transaction commits. Payloads are comma-separated ids under
/// PostgreSQL's 8000-byte limit.
pub(crate) fn notify_indicators(c: &mut Conn, ids: &[&String]) -> Result<(), StoreError> {
    if c.dialect() != crate::Dialect::Postgres || ids.is_empty() {
        return Ok(());
    }
    let mut payload = String::new();
    for id in ids {
        if payload.len() + id.len() + 1 > 7900 {
            c.query(
                "SELECT pg_notify('hinomi_indicators', ?)",
                &[payload.clone().into()],
            )?;
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(id);
    }
    c.query(
        "SELECT pg_notify('hinomi_indicators', ?)",
        &[payload.into()],
    )?;
    Ok(())
}

/// The tombstone of a deleted object: its last version, revoked, a little later, with
/// the hub extension's `deleted` flag. None for objects without versions (SCOs).
fn tombstone(json: &str, tlp: Tlp) -> Option<NewObject> {
    let mut v: Value = serde_json::from_str(json).ok()?;
    let modified = Timestamp::parse(v.get("modified")?.as_str()?).ok()?;
    let when = Timestamp(Timestamp::now().micros().max(modified.micros() + 1000));
    v["modified"] = json!(when.to_string());
    v["revoked"] = json!(true);
    let ext = hinomi_stix::HUB_EXTENSION_ID;
    if !v["extensions"].is_object() {
        v["extensions"] = json!({});
    }
    if !v["extensions"][ext].is_object() {
        v["extensions"][ext] = json!({"extension_type": "property-extension"});
    }
    v["extensions"][ext]["deleted"] = json!(true);
    let checked = hinomi_stix::check_object(v).ok()?;
    Some(NewObject::new(checked, tlp))
}

fn fix_version_flags(c: &mut Conn, collection_id: &str, stix_id: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE objects SET \
           is_latest = CASE WHEN version = (SELECT MAX(o2.version) FROM objects o2 WHERE o2.collection_id = objects.collection_id AND o2.stix_id = objects.stix_id) THEN 1 ELSE 0 END, \
           is_first = CASE WHEN version = (SELECT MIN(o2.version) FROM objects o2 WHERE o2.collection_id = objects.collection_id AND o2.stix_id = objects.stix_id) THEN 1 ELSE 0 END \
         WHERE collection_id = ? AND stix_id = ?",
        &[collection_id.into(), stix_id.into()],
    )?;
    Ok(())
}

fn version_sql(v: &VersionFilter, params: &mut Vec<Val>) -> Option<String> {
    if v.all {
        return None;
    }
    let mut parts = Vec::new();
    if v.last {
        parts.push("o.is_latest = 1".to_string());
    }
    if v.first {
        parts.push("o.is_first = 1".to_string());
    }
    if !v.at.is_empty() {
        // Unversioned objects (version 0) are matched by the date they were added.
        let marks = vec!["?"; v.at.len()].join(", ");
        parts.push(format!(
            "(o.version IN ({marks}) OR (o.version = 0 AND o.date_added IN ({marks})))"
        ));
        params.extend(v.at.iter().map(|t| Val::Int(t.micros())));
        params.extend(v.at.iter().map(|t| Val::Int(t.micros())));
    }
    Some(if parts.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("({})", parts.join(" OR "))
    })
}

impl Store {
    /// Adds objects to a collection as `owner_org`, in one transaction, with one audit
    /// entry. Each object is stored whole or not at all.
    pub fn add_objects(
        &self,
        collection_id: &str,
        owner_org: &str,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError> {
        if objects.is_empty() {
            return Ok(vec![]);
        }
        let outcomes = self
            .pool
            .with(|c| c.write_tx(|c| add_objects_in(c, collection_id, owner_org, objects)))?;
        let added = outcomes.iter().filter(|o| **o == Outcome::Added).count();
        self.note_rows_added(added as i64)?;
        Ok(outcomes)
    }

    /// A page of objects under the access rule.
    pub fn query_objects(&self, q: &ObjectQuery<'_>) -> Result<Page, StoreError> {
        let mut params: Vec<Val> = vec![q.collection_id.into()];
        let mut sql = String::from(
            "SELECT o.pk, o.stix_id, o.version, o.date_added, o.tlp, o.owner_org, o.json FROM objects o WHERE o.collection_id = ?",
        );
        let key = match q.order {
            Order::Added => "o.date_added",
            Order::Version => "o.version",
        };
        if let Some(c) = q.after {
            // `key >= ?` first so that both databases read an index range.
            sql.push_str(&format!(" AND {key} >= ? AND ({key} > ? OR o.pk > ?)"));
            params.extend([c.key.into(), c.key.into(), c.pk.into()]);
        }
        if let Some(t) = q.added_after {
            sql.push_str(" AND o.date_added > ?");
            params.push(t.micros().into());
        }
        if !q.ids.is_empty() {
            sql.push_str(" AND ");
            sql.push_str(&in_list("o.stix_id", &q.ids, &mut params));
        }
        if !q.types.is_empty() {
            sql.push_str(" AND ");
            sql.push_str(&in_list("o.stix_type", &q.types, &mut params));
        }
        if let Some(v) = version_sql(&q.versions, &mut params) {
            sql.push_str(" AND ");
            sql.push_str(&v);
        }
        sql.push_str(" AND ");
        sql.push_str(&scope_sql(q.scope, &mut params));
        let limit = q.limit.max(1);
        sql.push_str(&format!(" ORDER BY {key}, o.pk LIMIT {}", limit + 1));
        let rows = self.pool.with(|c| c.query(&sql, &params))?;
        let more = rows.len() > limit;
        let items: Vec<StoredObject> = rows
            .into_iter()
            .take(limit)
            .map(|mut r| {
                let date_added = Timestamp(r[3].int());
                let v = r[2].int();
                StoredObject {
                    pk: r[0].int(),
                    stix_id: r[1].text(),
                    version: if v == 0 { date_added } else { Timestamp(v) },
                    date_added,
                    raw_version: v,
                    tlp: Tlp::from_i64(r[4].int()).unwrap_or(Tlp::Red),
                    owner_org: r[5].text(),
                    json: r[6].take_text(),
                }
            })
            .collect();
        let last = items.last().map(|l| Cursor {
            key: match q.order {
                Order::Added => l.date_added.micros(),
                Order::Version => l.raw_version,
            },
            pk: l.pk,
        });
        let next = if more { last } else { None };
        let added_range = items
            .iter()
            .map(|i| i.date_added)
            .min()
            .zip(items.iter().map(|i| i.date_added).max());
        Ok(Page {
            items,
            more,
            next,
            last,
            added_range,
        })
    }

    /// Deletes the versions of `stix_id` in a collection that `owner_org` owns (any
    /// owner when `None`: an admin) and that match `versions`. Returns how many.
    pub fn delete_object(
        &self,
        collection_id: &str,
        stix_id: &str,
        owner_org: Option<&str>,
        versions: &VersionFilter,
        actor: &str,
    ) -> Result<usize, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                // Taken first (lock order); used if a tombstone is written.
                let tombstone_added = c.claim_added(1)?;
                let mut params: Vec<Val> = vec![collection_id.into(), stix_id.into()];
                let mut cond = String::from("o.collection_id = ? AND o.stix_id = ?");
                if let Some(o) = owner_org {
                    cond.push_str(" AND o.owner_org = ?");
                    params.push(o.into());
                }
                if let Some(v) = version_sql(versions, &mut params) {
                    cond.push_str(" AND ");
                    cond.push_str(&v);
                }
                let pks: Vec<Val> = c
                    .query(&format!("SELECT o.pk FROM objects o WHERE {cond}"), &params)?
                    .into_iter()
                    .map(|r| r[0].clone())
                    .collect();
                // The latest version, for the tombstone peers get if nothing remains.
                let latest = c.query_one(
                    "SELECT owner_org, tlp, json FROM objects WHERE collection_id = ? AND stix_id = ? ORDER BY version DESC LIMIT 1",
                    &[collection_id.into(), stix_id.into()],
                )?;
                for pk in &pks {
                    c.execute(
                        "DELETE FROM object_audience WHERE pk = ?",
                        std::slice::from_ref(pk),
                    )?;
                    c.execute(
                        "DELETE FROM observable_postings WHERE pk = ?",
                        std::slice::from_ref(pk),
                    )?;
                    c.execute("DELETE FROM objects WHERE pk = ?", std::slice::from_ref(pk))?;
                }
                if !pks.is_empty() {
                    fix_version_flags(c, collection_id, stix_id)?;
                    let gone = c
                        .query_one(
                            "SELECT 1 FROM objects WHERE collection_id = ? AND stix_id = ? LIMIT 1",
                            &[collection_id.into(), stix_id.into()],
                        )?
                        .is_none();
                    if let (true, Some(l)) = (gone, latest) {
                        if collection_id != crate::TOMBSTONES_COLLECTION {
                            let tlp = Tlp::from_i64(l[1].int()).unwrap_or(Tlp::Red);
                            if let Some(t) = tombstone(&l[2].text(), tlp) {
                                insert_objects(c, crate::TOMBSTONES_COLLECTION, &l[0].text(), vec![t], tombstone_added)?;
                            }
                        }
                    }
                    if stix_id.starts_with("indicator--") {
                        notify_indicators(c, &[&stix_id.to_string()])?;
                    }
                    append_audit(
                        c,
                        Some(actor),
                        "objects.delete",
                        Some(stix_id),
                        &json!({"collection": collection_id, "versions_deleted": pks.len()}),
                    )?;
                }
                Ok(pks.len())
            })
        })
    }

    /// Which collections hold versions of `stix_id` (for operators and tests).
    pub fn collections_holding(&self, stix_id: &str) -> Result<Vec<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c
                .query(
                    "SELECT DISTINCT collection_id FROM objects WHERE stix_id = ? ORDER BY collection_id",
                    &[stix_id.into()],
                )?
                .iter()
                .map(|r| r[0].text())
                .collect())
        })
    }

    /// Stores a TAXII status resource.
    pub fn save_status(&self, id: &str, org_id: &str, body: &Value) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.execute(
                "INSERT INTO statuses (id, org_id, created, body) VALUES (?, ?, ?, ?)",
                &[
                    id.into(),
                    org_id.into(),
                    Timestamp::now().micros().into(),
                    body.to_string().into(),
                ],
            )
            .map(|_| ())
        })
    }

    /// A status resource and the organization that made the request.
    pub fn status(&self, id: &str) -> Result<Option<(String, Value)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT org_id, body FROM statuses WHERE id = ?",
                &[id.into()],
            )?
            .map(|r| {
                (
                    r[0].text(),
                    serde_json::from_str(&r[1].text()).unwrap_or(Value::Null),
                )
            }))
        })
    }
}

/// The latest stored version of an indicator, with its handling fields, for the hub's
/// indicator index.
#[derive(Debug, Clone)]
pub struct IndicatorRow {
    pub stix_id: String,
    pub owner_org: String,
    pub tlp: Tlp,
    pub audience: Vec<String>,
    pub version: i64,
    pub json: String,
}

impl Store {
    /// The latest version of every indicator (any collection; the newest version wins
    /// when collections differ). `only` narrows to one id.
    pub fn latest_indicators(&self, only: Option<&str>) -> Result<Vec<IndicatorRow>, StoreError> {
        match only {
            Some(id) => self.latest_indicators_of(&[id.to_string()]),
            None => self.latest_indicators_where(None),
        }
    }

    /// The latest versions of the given indicator ids (those that still exist).
    pub fn latest_indicators_of(&self, ids: &[String]) -> Result<Vec<IndicatorRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            out.extend(self.latest_indicators_where(Some(chunk))?);
        }
        Ok(out)
    }

    fn latest_indicators_where(
        &self,
        ids: Option<&[String]>,
    ) -> Result<Vec<IndicatorRow>, StoreError> {
        self.pool.with(|c| {
            let mut sql = String::from(
                "SELECT o.pk, o.stix_id, o.owner_org, o.tlp, o.version, o.json, o.has_audience FROM objects o \
                 WHERE o.stix_type = 'indicator' AND o.is_latest = 1",
            );
            let mut params = Vec::new();
            if let Some(ids) = ids {
                sql.push_str(" AND ");
                sql.push_str(&in_list("o.stix_id", ids, &mut params));
            }
            let rows = c.query(&sql, &params)?;
            let mut best: std::collections::HashMap<String, IndicatorRow> = std::collections::HashMap::new();
            for mut r in rows {
                let audience = if r[6].int() != 0 {
                    c.query("SELECT identity_id FROM object_audience WHERE pk = ? ORDER BY identity_id", &[r[0].clone()])?
                        .iter()
                        .map(|a| a[0].text())
                        .collect()
                } else {
                    vec![]
                };
                let row = IndicatorRow {
                    stix_id: r[1].text(),
                    owner_org: r[2].text(),
                    tlp: Tlp::from_i64(r[3].int()).unwrap_or(Tlp::Red),
                    version: r[4].int(),
                    json: r[5].take_text(),
                    audience,
                };
                match best.get(&row.stix_id) {
                    Some(b) if b.version >= row.version => {}
                    _ => {
                        best.insert(row.stix_id.clone(), row);
                    }
                }
            }
            let mut out: Vec<IndicatorRow> = best.into_values().collect();
            out.sort_by(|a, b| a.stix_id.cmp(&b.stix_id));
            Ok(out)
        })
    }
}
