//! hinomi's storage: one interface ([`Store`]) over an embedded SQLite database (the
//! default) and PostgreSQL (for several hub nodes).
//!
//! All logic is written once against [`db::Conn`]; the backends differ only in how a
//! connection is opened, the placeholder syntax and their migrations folder.
//!
//! Invariant: the store is synchronous and knows nothing of HTTP. Callers in async code
//! run it on a blocking thread. Every read of stored objects takes an
//! [`hinomi_access::Scope`] and filters with it in SQL; no read returns an object the
//! scope does not allow.

mod accounts;
mod advisories;
mod casework;
mod db;
mod exercises;
mod federation;
mod incidents;
mod inventories;
mod model;
mod objects;
mod pgtls;
mod warnings;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use accounts::*;
pub use advisories::*;
pub use casework::*;
use db::{Conn, Pool};
pub use db::{Dialect, Val};
pub use exercises::*;
pub use federation::*;
pub use hinomi_access::{OrgKind, Scope};
pub use hinomi_stix::{Timestamp, Tlp};
pub use incidents::*;
pub use inventories::*;
pub use model::*;
pub use objects::*;
pub use warnings::*;

/// The schema version this binary knows (one per migration). Migrations bring older
/// stores up to it.
pub const SCHEMA_VERSION: i64 = SQLITE_MIGRATIONS.len() as i64;
const _: () = assert!(SQLITE_MIGRATIONS.len() == POSTGRES_MIGRATIONS.len());

const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_advisories.sql"),
    include_str!("../migrations/sqlite/0003_inventories.sql"),
    include_str!("../migrations/sqlite/0004_warnings.sql"),
    include_str!("../migrations/sqlite/0005_federation.sql"),
    include_str!("../migrations/sqlite/0006_added_clock.sql"),
    include_str!("../migrations/sqlite/0007_offboarding.sql"),
    include_str!("../migrations/sqlite/0008_incidents.sql"),
    include_str!("../migrations/sqlite/0009_incident_flows.sql"),
    include_str!("../migrations/sqlite/0010_accounts.sql"),
    include_str!("../migrations/sqlite/0011_exercises.sql"),
    include_str!("../migrations/sqlite/0012_delivery_indexes.sql"),
    include_str!("../migrations/sqlite/0013_delivery_state_indexes.sql"),
    include_str!("../migrations/sqlite/0014_federation_trust.sql"),
    include_str!("../migrations/sqlite/0015_received_audiences.sql"),
];
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_advisories.sql"),
    include_str!("../migrations/postgres/0003_inventories.sql"),
    include_str!("../migrations/postgres/0004_warnings.sql"),
    include_str!("../migrations/postgres/0005_federation.sql"),
    include_str!("../migrations/postgres/0006_added_clock.sql"),
    include_str!("../migrations/postgres/0007_offboarding.sql"),
    include_str!("../migrations/postgres/0008_incidents.sql"),
    include_str!("../migrations/postgres/0009_incident_flows.sql"),
    include_str!("../migrations/postgres/0010_accounts.sql"),
    include_str!("../migrations/postgres/0011_exercises.sql"),
    include_str!("../migrations/postgres/0012_delivery_indexes.sql"),
    include_str!("../migrations/postgres/0013_delivery_state_indexes.sql"),
    include_str!("../migrations/postgres/0014_federation_trust.sql"),
    include_str!("../migrations/postgres/0015_received_audiences.sql"),
];

/// Ids of the collections every hub starts with.
pub const SHARED_COLLECTION: &str = "4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60";
pub const WARNINGS_COLLECTION: &str = "7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38";
pub const PUBLIC_COLLECTION: &str = "c3a8f5d2-6e1b-4c9a-8f7d-2b4e6a1c9d05";
/// Members' incident reports (schema 8): read as the access rule allows, written only
/// through the incident reporting service.
pub const INCIDENTS_COLLECTION: &str = "9d6e2b17-4c83-4f0a-a1e5-3b8c7d2f6e94";
/// Where objects received from peer hubs are stored.
pub const FEDERATION_COLLECTION: &str = "9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94";
/// Tombstones of deleted objects, for peers.
pub const TOMBSTONES_COLLECTION: &str = "e5b7d3a1-9c4f-4b2e-8a6d-3f1c0e9b7d52";

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("the database has schema version {found}, newer than this binary knows ({known}); upgrade hinomi")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("this store already has a coordinator organization ({0}); bootstrap runs once")]
    AlreadyBootstrapped(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// The row changed meanwhile, or the name is taken.
    #[error("{0}")]
    Conflict(String),
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
}

/// Creates the SQLite file's directory (0700) and the empty database file (0600) when
/// they do not exist yet: the store holds members' data, token hashes and sealed
/// credentials. SQLite gives its -wal and -shm files the database file's mode.
/// Existing directories and files keep the mode their operator gave them.
fn create_private(db: &Path) -> std::io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
    }
    if !db.exists() {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        match o.open(db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A PostgreSQL error as an operator needs it: the server's message, SQLSTATE and
/// detail (the driver's own text for a database error is only "db error").
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; detail: {d}"));
            }
            if let Some(c) = db.constraint() {
                m.push_str(&format!("; constraint: {c}"));
            }
            m
        }
        None => {
            use std::error::Error as _;
            match e.source() {
                Some(s) => format!("{e}: {s}"),
                None => e.to_string(),
            }
        }
    }
}

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Location::Postgres(u) => write!(f, "postgres:{}", redact_url(u)),
        }
    }
}

/// A database URL with its password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl Location {
    /// `postgres://…` or `postgresql://…` select PostgreSQL; `sqlite:PATH` or a plain
    /// path select SQLite.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_string())
        } else {
            let p = s
                .strip_prefix("sqlite://")
                .or_else(|| s.strip_prefix("sqlite:"))
                .unwrap_or(s);
            Location::Sqlite(PathBuf::from(p))
        }
    }
}

/// The hub's store.
pub struct Store {
    pool: Pool,
    dialect: Dialect,
    location: Location,
    /// PostgreSQL: rows added since the last ANALYZE, and the row count then.
    since_analyze: AtomicI64,
    rows_at_analyze: AtomicI64,
}

impl Store {
    /// Opens (creating if needed) the store and runs pending migrations.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let (pool, dialect) = match location {
            Location::Sqlite(path) => {
                create_private(path).map_err(|e| StoreError::Open {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let path = path.clone();
                let p = Pool::new(Box::new(move || db::open_sqlite(&path)), 64);
                (p, Dialect::Sqlite)
            }
            Location::Postgres(url) => {
                let url = url.clone();
                (
                    Pool::new(Box::new(move || db::open_postgres(&url)), 32),
                    Dialect::Postgres,
                )
            }
        };
        let store = Store {
            pool,
            dialect,
            location: location.clone(),
            since_analyze: AtomicI64::new(0),
            rows_at_analyze: AtomicI64::new(0),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the SQLite store of a data directory (`DIR/hinomi.db`).
    pub fn open_data_dir(dir: &Path) -> Result<Store, StoreError> {
        Store::open(&Location::Sqlite(dir.join("hinomi.db")))
    }

    /// Which backend this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let migrations = match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        };
        self.pool.with(|c| {
            if self.dialect == Dialect::Postgres {
                // One node migrates at a time.
                c.batch("SELECT pg_advisory_lock(727274)")?;
            }
            let r = (|| {
                c.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
                let current = c
                    .query_one("SELECT MAX(version) FROM schema_version", &[])?
                    .and_then(|r| r[0].opt_int())
                    .unwrap_or(0);
                if current > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found: current,
                        known: SCHEMA_VERSION,
                    });
                }
                for (i, sql) in migrations.iter().enumerate() {
                    let v = i as i64 + 1;
                    if v <= current {
                        continue;
                    }
                    c.batch("BEGIN")?;
                    let step = c.batch(sql).and_then(|_| {
                        c.execute(
                            "INSERT INTO schema_version (version) VALUES (?)",
                            &[v.into()],
                        )
                    });
                    match step {
                        Ok(_) => c.batch("COMMIT")?,
                        Err(e) => {
                            let _ = c.batch("ROLLBACK");
                            return Err(e);
                        }
                    }
                }
                Ok(())
            })();
            if self.dialect == Dialect::Postgres {
                c.batch("SELECT pg_advisory_unlock(727274)")?;
            }
            r
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one("SELECT MAX(version) FROM schema_version", &[])?
                .and_then(|r| r[0].opt_int())
                .unwrap_or(0))
        })
    }

    /// PostgreSQL: refreshes planner statistics once the objects table has grown by a
    /// tenth since the last time, so that bulk loads do not leave the planner believing
    /// the table is small (autovacuum may lag a fast load by a minute or more).
    pub(crate) fn note_rows_added(&self, n: i64) -> Result<(), StoreError> {
        if self.dialect != Dialect::Postgres || n == 0 {
            return Ok(());
        }
        let since = self.since_analyze.fetch_add(n, Ordering::SeqCst) + n;
        let base = self.rows_at_analyze.load(Ordering::SeqCst);
        if since < 5_000 || since * 10 < base {
            return Ok(());
        }
        self.since_analyze.store(0, Ordering::SeqCst);
        self.rows_at_analyze.store(base + since, Ordering::SeqCst);
        self.pool
            .with(|c| c.batch("ANALYZE objects; ANALYZE object_audience"))
    }

    /// Writes a consistent copy of a SQLite store to `dest` while the hub keeps serving
    /// (SQLite's online backup). `dest` must not exist. PostgreSQL stores are backed up
    /// with `pg_dump` (docs/deployment-postgresql.md).
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::Invalid(format!(
                "{} exists; choose a new file for the backup",
                dest.display()
            )));
        }
        self.pool.with(|c| match c {
            Conn::Sqlite(src) => {
                let mut dst = rusqlite::Connection::open(dest)?;
                let b = rusqlite::backup::Backup::new(src, &mut dst)?;
                b.run_to_completion(1024, std::time::Duration::ZERO, None)?;
                Ok(())
            }
            Conn::Postgres { .. } => Err(StoreError::Invalid(
                "a PostgreSQL store is backed up with pg_dump (see docs/deployment-postgresql.md)"
                    .into(),
            )),
        })
    }

    /// Restores a backup made by [`Store::backup`] into the SQLite file `dest`: checks
    /// that the backup opens as a hinomi store this binary understands, then copies it.
    /// `dest` must not exist unless `overwrite`.
    pub fn restore(backup: &Path, dest: &Path, overwrite: bool) -> Result<(), StoreError> {
        if !backup.is_file() {
            return Err(StoreError::Invalid(format!(
                "{}: no such backup file",
                backup.display()
            )));
        }
        if dest.exists() && !overwrite {
            return Err(StoreError::Invalid(format!(
                "{} exists; stop the hub and pass --force to replace it",
                dest.display()
            )));
        }
        {
            let c = rusqlite::Connection::open_with_flags(
                backup,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let v: i64 = c
                .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                .map_err(|_| {
                    StoreError::Invalid(format!("{} is not a hinomi store", backup.display()))
                })?;
            if v > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found: v,
                    known: SCHEMA_VERSION,
                });
            }
        }
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let io = |e: std::io::Error| StoreError::Open {
            path: dest.display().to_string(),
            message: e.to_string(),
        };
        // Copy beside the target, then rename: a failed restore leaves the old file.
        let tmp = dest.with_extension("restoring");
        std::fs::copy(backup, &tmp).map_err(io)?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", dest.display()));
            if side.exists() {
                std::fs::remove_file(&side).map_err(io)?;
            }
        }
        std::fs::rename(&tmp, dest).map_err(io)
    }

    /// PostgreSQL: a stream of indicator ids that changed on any node (including this
    /// one), from a dedicated `LISTEN` connection on its own thread. The thread ends
    /// when the receiver is dropped; it reconnects after connection loss. `None` on
    /// SQLite, where one process owns the store.
    pub fn indicator_changes(&self) -> Option<std::sync::mpsc::Receiver<String>> {
        let Location::Postgres(url) = &self.location else {
            return None;
        };
        let url = url.clone();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let ready = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let ready2 = ready.clone();
        std::thread::spawn(move || loop {
            let mut client = match crate::pgtls::connect(&url) {
                Ok(c) => c,
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            if client.batch_execute("LISTEN hinomi_indicators").is_err() {
                continue;
            }
            {
                let (lock, cv) = &*ready2;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
                cv.notify_all();
            }
            loop {
                let mut notes = client.notifications();
                let mut it = notes.timeout_iter(std::time::Duration::from_millis(500));
                use postgres::fallible_iterator::FallibleIterator;
                match it.next() {
                    Ok(Some(n)) => {
                        for id in n.payload().split(',').filter(|s| !s.is_empty()) {
                            if tx.send(id.to_string()).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) => {
                        // Idle: end when nobody listens any more.
                        if tx.send(String::new()).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        // Wait (briefly) until LISTEN is in place, so no change after this call is missed.
        let (lock, cv) = &*ready;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cv.wait_timeout_while(guard, std::time::Duration::from_secs(10), |r| !*r);
        Some(rx)
    }

    // ---- settings ----

    /// A hub setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(
                c.query_one("SELECT value FROM settings WHERE key = ?", &[key.into()])?
                    .map(|r| r[0].text()),
            )
        })
    }

    /// Caps the database connections open at once (default 32 on PostgreSQL, 64 on
    /// SQLite); callers beyond it wait up to 30 s for one to be freed.
    pub fn set_max_connections(&self, max: usize) {
        self.pool.set_max(max);
    }

    /// (connections open now, most ever open at once, the cap).
    pub fn connection_usage(&self) -> (usize, usize, usize) {
        self.pool.usage()
    }

    /// Keys the audit chain with `key` (kept outside the database): entries appended
    /// from now on carry an HMAC-SHA256 over the previous entry's hash and their own
    /// content, which nobody with only the database can recompute.
    pub fn set_audit_key(&self, key: [u8; 32]) {
        self.pool.set_audit_key(Some(key));
    }

    // ---- audit ----

    /// Appends one entry to the hash-chained audit log.
    pub fn audit(
        &self,
        actor_org: Option<&str>,
        action: &str,
        subject: Option<&str>,
        detail: Value,
    ) -> Result<(), StoreError> {
        self.pool
            .with(|c| c.write_tx(|c| append_audit(c, actor_org, action, subject, &detail)))
    }

    /// The audit log, oldest first, from sequence number `after` on.
    pub fn audit_entries(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.pool.with(|c| {
            let rows = c.query(
                "SELECT seq, at, actor_org, action, subject, detail, prev_hash, hash FROM audit_log \
                 WHERE seq > ? ORDER BY seq LIMIT ?",
                &[after.into(), limit.into()],
            )?;
            Ok(rows
                .into_iter()
                .map(|r| AuditEntry {
                    seq: r[0].int(),
                    at: Timestamp(r[1].int()),
                    actor_org: r[2].opt_text(),
                    action: r[3].text(),
                    subject: r[4].opt_text(),
                    detail: serde_json::from_str(&r[5].text()).unwrap_or(Value::Null),
                    prev_hash: r[6].text(),
                    hash: r[7].text(),
                })
                .collect())
        })
    }

    /// Recomputes the audit chain; returns the sequence number of the first entry whose
    /// hash does not match, if any. Keyed entries (`k1:`) are checked with the key given
    /// to [`Store::set_audit_key`]; once the chain is keyed, an unkeyed entry after it
    /// is a break (someone without the key rewrote the tail).
    pub fn verify_audit_chain(&self) -> Result<Option<i64>, StoreError> {
        let key = self.pool.with(|_| Ok(db::audit_key()))?;
        let mut prev = String::from("0");
        let mut keyed = false;
        let mut after = 0;
        loop {
            let entries = self.audit_entries(after, 1000)?;
            if entries.is_empty() {
                // With a key the head must be keyed (`ensure_keyed_audit` makes it so
                // when the hub starts): a log rewritten without the key is not.
                if key.is_some() && !keyed && after > 0 {
                    return Ok(Some(after));
                }
                return Ok(None);
            }
            for e in &entries {
                let detail = serde_json::to_string(&e.detail).unwrap_or_default();
                let parts = AuditParts {
                    prev: &prev,
                    at: e.at.micros(),
                    actor: e.actor_org.as_deref(),
                    action: &e.action,
                    subject: e.subject.as_deref(),
                    detail: &detail,
                };
                let h = if e.hash.starts_with(KEYED) {
                    keyed = true;
                    let Some(k) = &key else {
                        return Err(StoreError::Invalid(
                            "the audit chain is keyed; verify it with the hub's secret key".into(),
                        ));
                    };
                    parts.keyed(k)
                } else if keyed {
                    return Ok(Some(e.seq));
                } else {
                    parts.plain()
                };
                if e.prev_hash != prev || e.hash != h {
                    return Ok(Some(e.seq));
                }
                prev = h;
                after = e.seq;
            }
        }
    }

    /// Appends an `audit.keyed` entry when the log's head is not keyed yet (a store
    /// created or last written without the key), so the keyed part of the chain starts
    /// at once and covers everything before it.
    pub fn ensure_keyed_audit(&self) -> Result<(), StoreError> {
        if self.pool.with(|_| Ok(db::audit_key()))?.is_none() {
            return Ok(());
        }
        match self.audit_head()? {
            Some((_, h)) if !h.starts_with(KEYED) => {
                self.audit(None, "audit.keyed", None, serde_json::json!({}))
            }
            _ => Ok(()),
        }
    }

    /// The last entry of the audit log: (sequence number, hash).
    pub fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                &[],
            )?
            .map(|r| (r[0].int(), r[1].text())))
        })
    }

    /// The hash of entry `seq`, if it exists.
    pub fn audit_hash_at(&self, seq: i64) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(
                c.query_one("SELECT hash FROM audit_log WHERE seq = ?", &[seq.into()])?
                    .map(|r| r[0].text()),
            )
        })
    }
}

/// Prefix of keyed audit hashes.
const KEYED: &str = "k1:";

/// What one audit entry's hash covers.
struct AuditParts<'a> {
    prev: &'a str,
    at: i64,
    actor: Option<&'a str>,
    action: &'a str,
    subject: Option<&'a str>,
    detail: &'a str,
}

impl AuditParts<'_> {
    fn message(&self) -> Vec<u8> {
        let at = self.at.to_string();
        let mut m = Vec::new();
        for part in [
            self.prev,
            &at,
            self.actor.unwrap_or(""),
            self.action,
            self.subject.unwrap_or(""),
            self.detail,
        ] {
            m.extend_from_slice(part.as_bytes());
            m.push(0);
        }
        m
    }

    /// The unkeyed SHA-256 chain of stores that had no key yet.
    fn plain(&self) -> String {
        hex(&Sha256::digest(self.message()))
    }

    /// HMAC-SHA256 (RFC 2104) under `key`.
    fn keyed(&self, key: &[u8; 32]) -> String {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, b) in key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(self.message())
            .finalize();
        let outer = Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize();
        format!("{KEYED}{}", hex(&outer))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

thread_local! {
    static ACTING_USER: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn acting_user() -> Option<String> {
    ACTING_USER.with(|u| u.borrow().clone())
}

/// While this guard lives, audit entries written on this thread name `user` (in their
/// detail's `user`) beside the acting organization: a person signed in to the web UI
/// acts for their organization, and the log says who. Set it around one blocking
/// service call; dropping it clears it.
pub struct ActingUser(Option<String>);

impl ActingUser {
    pub fn set(user: &str) -> ActingUser {
        ActingUser(ACTING_USER.with(|u| u.replace(Some(user.to_string()))))
    }
}

impl Drop for ActingUser {
    fn drop(&mut self) {
        let prev = self.0.take();
        ACTING_USER.with(|u| *u.borrow_mut() = prev);
    }
}

/// Appends to the audit log inside the caller's write transaction.
pub(crate) fn append_audit(
    c: &mut Conn,
    actor_org: Option<&str>,
    action: &str,
    subject: Option<&str>,
    detail: &Value,
) -> Result<(), StoreError> {
    if c.dialect() == Dialect::Postgres {
        c.batch("SELECT pg_advisory_xact_lock(727275)")?;
    }
    let prev = c
        .query_one("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[])?
        .map(|r| r[0].text())
        .unwrap_or_else(|| "0".to_string());
    let at = Timestamp::now().micros();
    let detail = match acting_user() {
        Some(user) if detail.is_object() && detail.get("user").is_none() => {
            let mut d = detail.clone();
            d["user"] = Value::String(user);
            serde_json::to_string(&d).unwrap_or_default()
        }
        _ => serde_json::to_string(detail).unwrap_or_default(),
    };
    let parts = AuditParts {
        prev: &prev,
        at,
        actor: actor_org,
        action,
        subject,
        detail: &detail,
    };
    let hash = match db::audit_key() {
        Some(k) => parts.keyed(&k),
        None => parts.plain(),
    };
    c.execute(
        "INSERT INTO audit_log (at, actor_org, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            at.into(),
            actor_org.into(),
            action.into(),
            subject.into(),
            detail.into(),
            prev.into(),
            hash.into(),
        ],
    )?;
    Ok(())
}

/// A random secret with 244 bits of entropy, prefixed so that scanners recognise it.
pub(crate) fn new_secret() -> String {
    format!(
        "hnm_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// SHA-256 of a token, hex. Tokens are random with 244 bits of entropy, so a fast hash
/// is the right tool (a password hash would add nothing but latency).
pub fn hash_token(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub(crate) fn identity_json(
    identity_id: &str,
    name: &str,
    class: &str,
    created: Timestamp,
) -> Value {
    let ts = created.to_string();
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": ts,
        "modified": ts,
        "name": name,
        "identity_class": class,
        "object_marking_refs": [Tlp::Green.marking_id()],
    })
}
