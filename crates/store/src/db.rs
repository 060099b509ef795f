//! The one seam between the store's logic and its two databases: a connection that runs
//! SQL with `?` placeholders and returns rows of [`Val`]s. Everything above this file is
//! written once for SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::Mutex;
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
                            rusqlite::types::ValueRef::Text(t) => {
                                Val::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Real(f) => Val::Int(f as i64),
                            rusqlite::types::ValueRef::Null => Val::Null,
                            rusqlite::types::ValueRef::Blob(b) => {
                                Val::Text(String::from_utf8_lossy(b).into_owned())
                            }
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
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub fn new(open: Box<dyn Fn() -> Result<Conn, StoreError> + Send + Sync>) -> Pool {
        Pool {
            open,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a connection from the pool.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => (self.open)()?,
        };
        let r = f(&mut conn);
        if !conn.is_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < 16 {
                idle.push(conn);
            }
        }
        r
    }
}

pub fn open_sqlite(path: &std::path::Path) -> Result<Conn, StoreError> {
    let c = rusqlite::Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(30))?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    c.set_prepared_statement_cache_capacity(128);
    Ok(Conn::Sqlite(c))
}

pub fn open_postgres(url: &str) -> Result<Conn, StoreError> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    // Plan every execution with its parameters: a generic plan cached while a table was
    // small would otherwise stay on the connection after the table has grown.
    client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
    Ok(Conn::Postgres {
        client: Box::new(client),
        statements: HashMap::new(),
    })
}
