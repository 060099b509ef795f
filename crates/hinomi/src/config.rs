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
    /// Most database connections open at once [default 32 PostgreSQL, 64 SQLite].
    pub database_max_connections: Option<usize>,
    pub title: Option<String>,
    pub default_tlp: Option<String>,
    pub max_content_length: Option<usize>,
    pub write_rate_per_minute: Option<u32>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub csaf_provider_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Connections served at once; more wait in the listen backlog [default 4096].
    pub max_connections: Option<usize>,
    /// Close a connection idle (nothing read or written) this long [default 60s].
    pub idle_timeout: Option<String>,
    /// A request body must arrive whole within this [default 60s].
    pub body_timeout: Option<String>,
    /// A request's headers must arrive within this of the connection awaiting them
    /// (idle keep-alive time included) [default 60s].
    pub header_timeout: Option<String>,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the
    /// client, for per-address limits [default: none, the header is ignored].
    pub trusted_proxies: Option<Vec<String>>,
    /// Request bodies over 1 MiB read at once [default 4]; others wait up to 10 s.
    pub max_large_bodies: Option<usize>,
    /// Requests' blocking steps (database, validation) run at once [default 30];
    /// others wait up to `blocking_wait`, then get 503.
    pub max_blocking: Option<usize>,
    /// How long a request waits for a free worker [default 30s].
    pub blocking_wait: Option<String>,
    /// Serve `/metrics` without a token [default false: a coordinator token].
    pub metrics_public: Option<bool>,
    /// CSAF advisories from members under publisher namespaces no organization is
    /// bound to: `refuse` [default] or `accept` (labs).
    pub unbound_publishers: Option<String>,
    /// The hub's address as members reach it (links in e-mails and webhooks).
    pub public_url: Option<String>,
    /// The key that seals webhook secrets and signs acknowledgement links [default:
    /// DATA_DIR/secret.key, created on first start]. `HINOMI_SECRET_KEY` (base64)
    /// overrides it; every node of a PostgreSQL deployment needs the same key.
    pub secret_key_file: Option<PathBuf>,
    pub smtp: Option<SmtpFile>,
    pub warnings: Option<WarningsFile>,
    pub federation: Option<FederationFile>,
    pub outbound: Option<OutboundFile>,
    pub incidents: Option<IncidentsFile>,
    pub matching: Option<MatchingFile>,
    pub web: Option<WebFile>,
    /// A CA certificate (PEM): clients presenting a certificate it signed are verified
    /// (mutual TLS for peer hubs); see `tls_client_auth`.
    pub tls_client_ca: Option<PathBuf>,
    /// `optional` (default: verify a client certificate when one is presented) or
    /// `required` (refuse connections without one).
    pub tls_client_auth: Option<String>,
}

/// `[federation]`: peer connections.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// How often peers are pulled [default 60s]; pushes follow local changes at once.
    pub pull_interval: Option<String>,
    /// Objects per TAXII page or envelope [default 1000].
    pub batch: Option<usize>,
    /// Client certificate and key (PEM) presented to peers (mutual TLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// A CA certificate (PEM) trusted for peers besides the system roots.
    pub ca_file: Option<PathBuf>,
}

/// `[matching]`: observations posted to `/api/v1/observations`, matched with each
/// organization's earlier ones for patterns that bind several.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct MatchingFile {
    /// How long an observation is held for such a pattern without a top-level WITHIN
    /// [default 1h].
    pub window: Option<String>,
    /// Most observations held for one pattern, per organization [default 1000].
    pub max_per_pattern: Option<usize>,
    /// Most observations held per organization [default 20000].
    pub max_held_per_org: Option<usize>,
    /// Most memory an organization's held observations take, MiB [default 32].
    pub max_held_mib_per_org: Option<usize>,
    /// Most held observations evaluated with arriving ones in one request; the rest
    /// of the request is matched within itself only [default 1000000].
    pub max_evaluated_per_request: Option<u64>,
}

/// `[outbound]`: where webhooks and peer connections may go.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OutboundFile {
    /// Networks let through although loopback, private, link-local or otherwise
    /// special (for example `["10.20.0.0/16"]` for an internal receiver).
    pub allow: Option<Vec<String>>,
    /// The most restricted TLP sent over plain http [default green].
    pub plain_http_up_to: Option<String>,
    /// Most webhooks per organization [default 20].
    pub max_webhooks_per_org: Option<usize>,
}

/// `[smtp]`: the relay e-mails go through.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none`.
    pub tls: Option<String>,
    pub username: Option<String>,
    /// Prefer `HINOMI_SMTP_PASSWORD` in the environment.
    pub password: Option<String>,
    pub from: String,
    pub from_name: Option<String>,
    pub helo_name: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// `[web]`: people signing in to the web UI.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WebFile {
    /// Consecutive failed sign-ins that lock an account [default 5].
    pub lock_after: Option<i64>,
    /// How long a locked account stays locked [default 15m].
    pub lock_for: Option<String>,
    /// A session unused this long ends [default 2h].
    pub session_idle: Option<String>,
    /// A session ends this long after it began [default 12h].
    pub session_max: Option<String>,
    /// How long an invitation link works [default 7d].
    pub invitation_ttl: Option<String>,
    /// Sign-in form posts per client address per minute; 0 turns it off [default 30].
    pub sign_in_rate_per_minute: Option<u32>,
    /// Password checks running at once [default 2].
    pub max_password_checks: Option<usize>,
}

/// `[incidents]`: reporting deadlines, correlation and attachment bounds.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct IncidentsFile {
    /// A report is due this long after discovery [default 72h].
    pub report_within: Option<String>,
    /// A ransom payment report is due this long after the payment [default 24h].
    pub ransom_report_within: Option<String>,
    /// The final report is due this long after discovery [default 30d].
    pub final_report_within: Option<String>,
    /// A value in more than this many reports is common and not listed [default 20].
    pub common_after: Option<usize>,
    /// Largest attachment in bytes [default 10485760].
    pub max_attachment_bytes: Option<usize>,
    /// Attachments per report or supplement [default 20].
    pub max_attachments: Option<usize>,
    /// STIX objects per report or supplement [default 1000].
    pub max_objects: Option<usize>,
}

/// `[warnings]`: delivery and acknowledgement policy.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WarningsFile {
    /// Attempts before a delivery becomes a dead letter [default 12, over ~16 hours].
    pub max_attempts: Option<u32>,
    /// Concurrent sends [default 32].
    pub senders: Option<usize>,
    /// How long one-click acknowledgement links work [default 30d].
    pub ack_link_ttl: Option<String>,
    /// Most organizations a member's warning reaches without the coordinator's
    /// approval [default 20].
    pub member_max_recipients: Option<usize>,
    /// `draft` (default), `publish` or `off`: warnings for new known-exploited or
    /// critical findings.
    pub targeted: Option<String>,
    /// Per severity: `{ ack_window = "1h", escalate = true }`; `ack_window = "none"`
    /// requires no acknowledgement by default.
    pub critical: Option<PolicyFile>,
    pub high: Option<PolicyFile>,
    pub medium: Option<PolicyFile>,
    pub low: Option<PolicyFile>,
    pub informational: Option<PolicyFile>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub ack_window: Option<String>,
    pub escalate: Option<bool>,
}

/// Parses `90s`, `15m`, `4h`, `2d` (or `none`).
pub fn parse_duration(field: &str, s: &str) -> Result<Option<std::time::Duration>> {
    let t = s.trim();
    if t == "none" {
        return Ok(None);
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        anyhow::anyhow!("{field}: '{s}' is not a duration like 90s, 15m, 4h, 2d or none")
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("{field}: '{s}' is not a duration like 90s, 15m, 4h, 2d or none"),
    };
    Ok(Some(std::time::Duration::from_secs(secs)))
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
            .field("public_url", &self.public_url)
            .field("secret_key_file", &self.secret_key_file)
            .field(
                "smtp",
                &self.smtp.as_ref().map(|m| (&m.host, m.port, &m.from)),
            )
            .field("warnings", &self.warnings)
            .field("federation", &self.federation)
            .field("tls_client_ca", &self.tls_client_ca)
            .field("tls_client_auth", &self.tls_client_auth)
            .finish()
    }
}

/// The resolved settings.
#[derive(Debug)]
pub struct Settings {
    pub location: Location,
    /// The data directory (the SQLite store, the secret key, the CSAF provider tree).
    pub data_dir: PathBuf,
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
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("hinomi-data"));
        let location = match args.database_url.clone().or(file.database_url.clone()) {
            Some(url) => Location::parse(&url),
            None => Location::Sqlite(data_dir.join("hinomi.db")),
        };
        let log_level = std::env::var("HINOMI_LOG")
            .ok()
            .or(file.log_level.clone())
            .unwrap_or_else(|| "info".into());
        Ok(Settings {
            location,
            data_dir,
            log_level,
            file,
        })
    }
}
