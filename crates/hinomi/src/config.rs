//! Configuration: a TOML file, overridden by `HINOMI_*` environment variables, overridden
//! by command-line flags (clap reads flag and environment together). Works with none.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;

use hinomi_store::Location;

/// Where the store is; shared by every command that opens one.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Configuration file (TOML; see hinomi.example.toml).
    #[arg(long, env = "HINOMI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded SQLite store [default: ./hinomi-data].
    #[arg(long, env = "HINOMI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL; postgres://… selects PostgreSQL (overrides --data-dir).
    #[arg(
        long,
        env = "HINOMI_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

/// The configuration file's keys; every one is optional.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub title: Option<String>,
    pub default_tlp: Option<String>,
    pub max_content_length: Option<usize>,
    pub write_rate_per_minute: Option<u32>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub csaf_provider_dir: Option<PathBuf>,
    pub log_level: Option<String>,
}

impl std::fmt::Debug for FileConfig {
    /// Redacts the database password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(hinomi_store::redact_url),
            )
            .field("title", &self.title)
            .field("default_tlp", &self.default_tlp)
            .field("max_content_length", &self.max_content_length)
            .field("write_rate_per_minute", &self.write_rate_per_minute)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("csaf_provider_dir", &self.csaf_provider_dir)
            .field("log_level", &self.log_level)
            .finish()
    }
}

/// The resolved settings.
#[derive(Debug)]
pub struct Settings {
    pub location: Location,
    pub log_level: String,
    pub file: FileConfig,
}

impl Settings {
    pub fn load(args: &StoreArgs) -> Result<Settings> {
        let file = match &args.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?;
                toml::from_str(&text)
                    .with_context(|| format!("in the configuration file {}", path.display()))?
            }
        };
        let location = match args.database_url.clone().or(file.database_url.clone()) {
            Some(url) => Location::parse(&url),
            None => {
                let dir = args
                    .data_dir
                    .clone()
                    .or(file.data_dir.clone())
                    .unwrap_or_else(|| PathBuf::from("hinomi-data"));
                Location::Sqlite(dir.join("hinomi.db"))
            }
        };
        let log_level = std::env::var("HINOMI_LOG")
            .ok()
            .or(file.log_level.clone())
            .unwrap_or_else(|| "info".into());
        Ok(Settings {
            location,
            log_level,
            file,
        })
    }
}
