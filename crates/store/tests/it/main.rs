//! The backend-agnostic storage suite: every test runs on SQLite, and again on
//! PostgreSQL when `HINOMI_TEST_DATABASE_URL` is set (each run in a fresh schema).

mod access_property;
mod commit_order;
mod pool;
mod story;
mod tls;

use std::sync::Arc;

use hinomi_store::{Location, Store};

/// A fresh store of each configured backend, with a label for messages.
pub fn backends() -> Vec<(String, Location)> {
    let mut out = vec![("sqlite".to_string(), sqlite_location())];
    if let Ok(url) = std::env::var("HINOMI_TEST_DATABASE_URL") {
        if !url.is_empty() {
            out.push(("postgres".to_string(), postgres_location(&url)));
        }
    }
    out
}

pub fn sqlite_location() -> Location {
    let dir = std::env::temp_dir().join(format!("hinomi-test-{}", uuid::Uuid::new_v4().simple()));
    Location::Sqlite(dir.join("hinomi.db"))
}

/// Creates a new schema and returns a URL whose connections use it.
pub fn postgres_location(url: &str) -> Location {
    let schema = format!("hinomi_test_{}", uuid::Uuid::new_v4().simple());
    let mut c = postgres::Client::connect(url, postgres::NoTls)
        .expect("connect to HINOMI_TEST_DATABASE_URL");
    c.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    Location::Postgres(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

pub fn open(loc: &Location) -> Arc<Store> {
    Arc::new(Store::open(loc).unwrap_or_else(|e| panic!("open {loc:?}: {e}")))
}
