//! The one seam between the store's logic and its two databases: a connection that runs
//! SQL with `?` placeholders and returns rows of [`Val`]s. Everything above this file is
//! written once for SQLite and PostgreSQL.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use crate::StoreError;

/// A value bound to or read from SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl Val {
    pub fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            Val::Text(t) => t.parse().unwrap_or(0),
            Val::Null => 0,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Val::Text(t) => t.clone(),
            Val::Int(i) => i.to_string(),
            Val::Null => String::new(),
        }
    }

    pub fn take_text(&mut self) -> String {
        match std::mem::replace(self, Val::Null) {
            Val::Text(t) => t,
            Val::Int(i) => i.to_string(),
            Val::Null => String::new(),
        }
    }

    pub fn opt_text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            v => Some(v.text()),
        }
    }

    pub fn opt_int(&self) -> Option<i64> {
        match self {
            Val::Null => None,
            v => Some(v.int()),
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

pub type Row = Vec<Val>;

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        statements: HashMap<String, postgres::Statement>,
    },
}

/// A text column as a `String`: validated once (the fast path of `str::from_utf8`;
/// what the hub writes is always UTF-8), replacing invalid bytes only when there are any.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl Conn {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres { .. } => Dialect::Postgres,
        }
    }

    pub fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(params.iter()))? as u64)
            }
            Conn::Postgres { client, statements } => {
                let st = pg_prepare(client, statements, sql)?;
                Ok(client.execute(&st, &pg_params(params))?)
            }
        }
    }

    pub fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                            rusqlite::types::ValueRef::Text(t) => Val::Text(text(t)),
                            rusqlite::types::ValueRef::Real(f) => Val::Int(f as i64),
                            rusqlite::types::ValueRef::Null => Val::Null,
                            rusqlite::types::ValueRef::Blob(b) => Val::Text(text(b)),
                        });
                    }
                    out.push(row);
                }
                Ok(out)
            }
            Conn::Postgres { client, statements } => {
                let st = pg_prepare(client, statements, sql)?;
                let rows = client.query(&st, &pg_params(params))?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let mut row = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        let t = col.type_();
                        row.push(if *t == Type::INT8 {
                            r.try_get::<_, Option<i64>>(i)
                                .ok()
                                .flatten()
                                .map_or(Val::Null, Val::Int)
                        } else if *t == Type::INT4 {
                            r.try_get::<_, Option<i32>>(i)
                                .ok()
                                .flatten()
                                .map_or(Val::Null, |v| Val::Int(v.into()))
                        } else if *t == Type::INT2 {
                            r.try_get::<_, Option<i16>>(i)
                                .ok()
                                .flatten()
                                .map_or(Val::Null, |v| Val::Int(v.into()))
                        } else if *t == Type::BOOL {
                            r.try_get::<_, Option<bool>>(i)
                                .ok()
                                .flatten()
                                .map_or(Val::Null, |v| Val::Int(v.into()))
                        } else {
                            // Text and anything without a Rust mapping (void, …): never panic.
                            r.try_get::<_, Option<String>>(i)
                                .ok()
                                .flatten()
                                .map_or(Val::Null, Val::Text)
                        });
                    }
                    out.push(row);
                }
                Ok(out)
            }
        }
    }

    pub fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs several statements without parameters (migrations, BEGIN/COMMIT).
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres { client, .. } => Ok(client.batch_execute(sql)?),
        }
    }

    /// Runs `f` in a transaction that takes the write lock at once; rolls back on error.
    pub fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let begin = match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        self.batch(begin)?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Claims `n` consecutive `date_added` values (microseconds, never below the wall
    /// clock, always above every earlier claim) inside a write transaction; returns the
    /// first. Call it before the transaction touches any other row: on PostgreSQL the
    /// clock row stays locked until commit, which makes `date_added` follow commit
    /// order (and taking it first keeps lock order the same in every transaction).
    /// SQLite's single writer gives the same order by itself.
    pub fn claim_added(&mut self, n: i64) -> Result<i64, StoreError> {
        let n = n.max(1);
        let now = hinomi_stix::Timestamp::now().micros();
        let sql = match self.dialect() {
            Dialect::Sqlite => "UPDATE added_clock SET last = MAX(last + 1, ?) + ? - 1 WHERE id = 1 RETURNING last",
            Dialect::Postgres => "UPDATE added_clock SET last = GREATEST(last + 1, ?) + ? - 1 WHERE id = 1 RETURNING last",
        };
        let last = self
            .query_one(sql, &[now.into(), n.into()])?
            .ok_or_else(|| StoreError::Invalid("the added_clock row is missing".into()))?[0]
            .int();
        Ok(last - n + 1)
    }

    fn is_broken(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres { client, .. } => client.is_closed(),
        }
    }
}

fn pg_prepare(
    client: &mut postgres::Client,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let st = client.prepare(&to_dollar_placeholders(sql))?;
    if statements.len() > 512 {
        statements.clear();
    }
    statements.insert(sql.to_string(), st.clone());
    Ok(st)
}

fn pg_params(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// `a = ? AND b = ?` → `a = $1 AND b = $2`.
pub fn to_dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else {
                    i.to_string().to_sql(ty, out)
                }
            }
            Val::Text(t) => t.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A small pool: connections are taken, used by one thread, and given back.
pub struct Pool {
    open: Box<dyn Fn() -> Result<Conn, StoreError> + Send + Sync>,
    state: Mutex<PoolState>,
    freed: Condvar,
    /// The key of the audit chain, if the hub set one (see [`audit_key`]).
    audit_key: RwLock<Option<[u8; 32]>>,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open (idle or in use).
    open: usize,
    /// Most connections ever open at once.
    peak: usize,
    /// Upper bound of `open`.
    max: usize,
}

/// How long a caller waits for a connection when all are in use.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(30);

thread_local! {
    /// The audit key of the pool whose connection this thread is using: `Pool::with`
    /// sets it for the duration of the call, so code that only has a connection (the
    /// audit append inside any write transaction) can key the chain.
    static AUDIT_KEY: Cell<Option<[u8; 32]>> = const { Cell::new(None) };
}

/// The audit key of the connection in use on this thread, if any.
pub(crate) fn audit_key() -> Option<[u8; 32]> {
    AUDIT_KEY.with(Cell::get)
}

impl Pool {
    pub fn new(open: Box<dyn Fn() -> Result<Conn, StoreError> + Send + Sync>, max: usize) -> Pool {
        Pool {
            open,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
                peak: 0,
                max: max.max(1),
            }),
            freed: Condvar::new(),
            audit_key: RwLock::new(None),
        }
    }

    /// Sets the most connections open at once (at least 1).
    pub fn set_max(&self, max: usize) {
        self.lock().max = max.max(1);
        self.freed.notify_all();
    }

    /// (open now, most ever open at once, the bound).
    pub fn usage(&self) -> (usize, usize, usize) {
        let g = self.lock();
        (g.open, g.peak, g.max)
    }

    pub fn set_audit_key(&self, key: Option<[u8; 32]>) {
        *self.audit_key.write().unwrap_or_else(|p| p.into_inner()) = key;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while fewer than `max` are open, or the next one
    /// freed (for at most [`WAIT_FOR_CONNECTION`]).
    fn take(&self) -> Result<Conn, StoreError> {
        let deadline = std::time::Instant::now() + WAIT_FOR_CONNECTION;
        let mut g = self.lock();
        loop {
            if let Some(c) = g.idle.pop() {
                return Ok(c);
            }
            if g.open < g.max {
                g.open += 1;
                g.peak = g.peak.max(g.open);
                drop(g);
                return (self.open)().inspect_err(|_| {
                    self.lock().open -= 1;
                    self.freed.notify_one();
                });
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Invalid(format!(
                    "all {} database connections stayed busy for {} s",
                    g.max,
                    WAIT_FOR_CONNECTION.as_secs()
                )));
            }
            g = self
                .freed
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Runs `f` with a connection from the pool.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let key = *self.audit_key.read().unwrap_or_else(|p| p.into_inner());
        let outer = AUDIT_KEY.with(|k| k.replace(key));
        let r = f(&mut conn);
        AUDIT_KEY.with(|k| k.set(outer));
        let mut g = self.lock();
        if !conn.is_broken() && g.idle.len() < 16 && g.open <= g.max {
            g.idle.push(conn);
        } else {
            g.open -= 1;
            drop(conn);
        }
        drop(g);
        self.freed.notify_one();
        r
    }
}

/// Each SQLite connection's page cache, KiB (a connection is opened only when work waits
/// for one). With SQLite's default of 2 MiB, an index of ten million postings is read
/// from the OS for almost every lookup; the memory map below serves the rest.
pub(crate) const SQLITE_CACHE_KIB: i64 = 16_384;
/// How much of the database file SQLite reads through a memory map (shared with the OS
/// page cache, not per connection).
const SQLITE_MMAP_BYTES: i64 = 1 << 30;

pub fn open_sqlite(path: &std::path::Path) -> Result<Conn, StoreError> {
    let c = rusqlite::Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(30))?;
    c.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
    ))?;
    c.set_prepared_statement_cache_capacity(128);
    Ok(Conn::Sqlite(c))
}

pub fn open_postgres(url: &str) -> Result<Conn, StoreError> {
    let mut client = crate::pgtls::connect(url)?;
    // Plan every execution with its parameters: a generic plan cached while a table was
    // small would otherwise stay on the connection after the table has grown.
    client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
    Ok(Conn::Postgres {
        client: Box::new(client),
        statements: HashMap::new(),
    })
}
