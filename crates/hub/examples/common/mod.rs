//! What the single-store benchmarks share: where their store lives and how they read
//! their timings.

use hinomi_store::Location;

/// A fresh store: a PostgreSQL schema `hinomi_bench_…` at `database_url` (left for
/// inspection; `.ci/run` drops them), or an SQLite file in a new temporary directory
/// named after the benchmark.
pub fn bench_location(database_url: Option<&str>, name: &str) -> Location {
    match database_url {
        Some(url) => {
            let schema = format!("hinomi_bench_{}", uuid::Uuid::new_v4().simple());
            let mut c =
                postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL");
            c.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .expect("create schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            Location::Postgres(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        }
        None => Location::Sqlite(
            std::env::temp_dir()
                .join(format!("hinomi-{name}-{}", uuid::Uuid::new_v4().simple()))
                .join("hinomi.db"),
        ),
    }
}

/// The `p` quantile (0 to 1) of sorted timings; NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
