//! `hinomi`: the hub server and its command-line tools.

mod config;
mod csaf_cmd;
mod federation_cmd;
mod import_cmd;
mod pattern_cmd;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use hinomi_hub::{AppState, HubConfig};
use hinomi_store::{Location, Store};

use config::{Settings, StoreArgs};

/// hinomi: a watch-and-warning exchange for national cyber-security coordination.
///
/// A national focal point runs a hub; member organizations and peer hubs exchange
/// incident warnings, vulnerability information and analysis over TAXII 2.1 under
/// TLP 2.0.
#[derive(Parser)]
#[command(name = "hinomi", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub (TAXII 2.1, REST API, /healthz, /metrics).
    Serve(ServeArgs),
    /// Administration of a hub's store.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// STIX patterns: check them (`hinomi pattern check`).
    #[command(subcommand)]
    Pattern(pattern_cmd::PatternCommand),
    /// Match indicators' STIX patterns against observations (bundles, observed-data or
    /// flat Zeek/Suricata events); matches as JSON lines or a bundle of sightings.
    #[command(after_long_help = pattern_cmd::MATCH_HELP)]
    Match(pattern_cmd::MatchArgs),
    /// CSAF 2.0 advisories: validate them (`hinomi csaf validate FILE...`).
    #[command(subcommand)]
    Csaf(csaf_cmd::CsafCommand),
    /// Bulk imports into the store: CSAF advisories, known-exploited catalogs.
    #[command(subcommand)]
    Import(import_cmd::ImportCommand),
    /// Federation with peer hubs: sync now, list peers.
    #[command(subcommand)]
    Federation(federation_cmd::FederationCommand),
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8640].
    #[arg(long, env = "HINOMI_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// TLP of objects submitted without a TLP marking: clear, green, amber,
    /// amber+strict or red [default: amber].
    #[arg(long, env = "HINOMI_DEFAULT_TLP", value_name = "TLP")]
    default_tlp: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(
        long,
        env = "HINOMI_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of the certificate.
    #[arg(
        long,
        env = "HINOMI_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the coordinator organization and an admin token on an empty store.
    ///
    /// Prints one JSON object: {"organization_id", "identity_id", "token"}. The token
    /// is shown only this once; it is stored hashed.
    Bootstrap(BootstrapArgs),
    /// Write a consistent copy of the SQLite store to FILE while the hub keeps serving.
    ///
    /// PostgreSQL stores are backed up with pg_dump (docs/deployment-postgresql.md).
    Backup(BackupArgs),
    /// Restore a backup made by `hinomi admin backup` into a data directory (stop the hub
    /// first).
    Restore(RestoreArgs),
    /// The audit log: signed checkpoints and verification.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The correlation index of observable values.
    #[command(subcommand)]
    Correlation(CorrelationCommand),
    /// Invite a person to become a user of an organization (web UI sign-in).
    ///
    /// Prints the invitation link (single use, valid 7 days). The person opens it, sets
    /// a password and enrols an authenticator app (TOTP). Links start with
    /// `public_url` from the configuration when it is set.
    Invite(InviteArgs),
}

#[derive(Args)]
struct InviteArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The organization's id [default: the coordinator].
    #[arg(long, value_name = "ORG_ID")]
    organization: Option<String>,
    /// The person's e-mail address (their sign-in name).
    #[arg(long)]
    email: String,
    /// admin, analyst or read-only.
    #[arg(long, default_value = "analyst")]
    role: String,
}

#[derive(Subcommand)]
enum CorrelationCommand {
    /// Rebuild the index from every stored object (the hub may keep serving; reports
    /// filed meanwhile are indexed when written). Prints progress on stderr and one
    /// JSON line with the counts at the end.
    Rebuild(AuditArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print a signed checkpoint of the audit log's head as one JSON line. Append it to
    /// a file kept outside the hub (another host, write-once storage).
    Checkpoint(AuditArgs),
    /// Verify the keyed audit chain and, with --checkpoints, that each checkpoint is
    /// still in the log. Exits 1 when anything fails.
    Verify(AuditVerifyArgs),
}

#[derive(Args)]
struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct AuditVerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// A file of checkpoints, one JSON object per line (from `hinomi admin audit
    /// checkpoint` or GET /api/v1/audit/checkpoint).
    #[arg(long, value_name = "FILE")]
    checkpoints: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct BackupArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The backup file to create (must not exist).
    #[arg(long, value_name = "FILE")]
    to: std::path::PathBuf,
}

#[derive(Args)]
struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: std::path::PathBuf,
    /// Data directory to restore into [default: ./hinomi-data].
    #[arg(long, env = "HINOMI_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Replace an existing store.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct BootstrapArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Name of the coordinator organization.
    #[arg(long, default_value = "National coordinator")]
    name: String,
    /// ISO 3166-1 alpha-2 country code of the coordinator.
    #[arg(long)]
    country: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader of the output went away (`hinomi match … | head`): stop quietly,
        // as other filters do.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Admin(AdminCommand::Bootstrap(args)) => bootstrap(args),
        Command::Pattern(cmd) => pattern_cmd::pattern(cmd),
        Command::Match(args) => pattern_cmd::run_match(args),
        Command::Csaf(cmd) => csaf_cmd::run(cmd),
        Command::Import(cmd) => import_cmd::run(cmd),
        Command::Federation(cmd) => federation_cmd::run(cmd),
        Command::Admin(AdminCommand::Backup(args)) => backup(args),
        Command::Admin(AdminCommand::Restore(args)) => restore(args),
        Command::Admin(AdminCommand::Audit(AuditCommand::Checkpoint(args))) => {
            let settings = Settings::load(&args.store)?;
            let (state, who) = console(&settings, None, None)?;
            let c = hinomi_hub::service::directory::audit_checkpoint(&state, &who)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{c}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(AdminCommand::Audit(AuditCommand::Verify(args))) => audit_verify(args),
        Command::Admin(AdminCommand::Invite(args)) => invite(args),
        Command::Admin(AdminCommand::Correlation(CorrelationCommand::Rebuild(args))) => {
            let settings = Settings::load(&args.store)?;
            let (state, _) = console(&settings, None, None)?;
            let started = std::time::Instant::now();
            let mut last = std::time::Instant::now();
            let (objects, postings) =
                hinomi_hub::service::correlation::rebuild(&state, &mut |done| {
                    if last.elapsed() >= std::time::Duration::from_secs(2) {
                        eprintln!("indexed {done} objects…");
                        last = std::time::Instant::now();
                    }
                })
                .map_err(|e| anyhow::anyhow!("rebuilding the correlation index: {e}"))?;
            eprintln!(
                "indexed {objects} objects ({postings} values) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            println!(
                "{}",
                serde_json::json!({"objects": objects, "postings": postings})
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_store(settings: &Settings) -> Result<Store> {
    let location = &settings.location;
    let store =
        Store::open(location).with_context(|| format!("opening the store at {location:?}"))?;
    if let Some(n) = settings.file.database_max_connections {
        if n == 0 {
            bail!("database_max_connections: at least 1");
        }
        store.set_max_connections(n);
    }
    Ok(store)
}

fn bootstrap(args: BootstrapArgs) -> Result<ExitCode> {
    let settings = Settings::load(&args.store)?;
    let store = open_store(&settings)?;
    match hinomi_hub::service::directory::bootstrap(&store, &args.name, args.country.as_deref()) {
        Ok(b) => {
            println!(
                "{}",
                serde_json::json!({
                    "organization_id": b.organization.id,
                    "identity_id": b.organization.identity_id,
                    "token": b.token,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind == hinomi_hub::service::Kind::Conflict => {
            eprintln!("error: {}", e.message);
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(anyhow::anyhow!("bootstrapping the hub: {e}")),
    }
}

fn invite(args: InviteArgs) -> Result<ExitCode> {
    let settings = Settings::load(&args.store)?;
    let (state, who) = console(&settings, None, None)?;
    let org = match args.organization {
        Some(o) => o,
        None => who
            .org()
            .map(|o| o.id.clone())
            .context("this store has no coordinator yet: run 'hinomi admin bootstrap' first")?,
    };
    let i =
        hinomi_hub::service::accounts::invite(&state, &who, None, &org, &args.email, &args.role)
            .map_err(|e| anyhow::anyhow!("inviting {}: {e}", args.email))?;
    let link = if i.link.starts_with('/') {
        let listen = settings.file.listen.as_deref().unwrap_or("127.0.0.1:8640");
        format!("http://{listen}{}", i.link)
    } else {
        i.link
    };
    println!(
        "{}",
        serde_json::json!({"link": link, "expires": i.expires.to_string()})
    );
    eprintln!(
        "send this link to {} (it works once, until {}; set public_url for the address people reach)",
        args.email, i.expires
    );
    Ok(ExitCode::SUCCESS)
}

fn backup(args: BackupArgs) -> Result<ExitCode> {
    let settings = Settings::load(&args.store)?;
    let store = open_store(&settings)?;
    store
        .backup(&args.to)
        .with_context(|| format!("backing up to {}", args.to.display()))?;
    eprintln!("backup written to {}", args.to.display());
    Ok(ExitCode::SUCCESS)
}

fn audit_verify(args: AuditVerifyArgs) -> Result<ExitCode> {
    let settings = Settings::load(&args.store)?;
    let mut checkpoints = Vec::new();
    if let Some(path) = &args.checkpoints {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            checkpoints.push(
                serde_json::from_str::<serde_json::Value>(line).with_context(|| {
                    format!("{}:{}: not a JSON checkpoint", path.display(), i + 1)
                })?,
            );
        }
    }
    let (state, who) = console(&settings, None, None)?;
    let v = hinomi_hub::service::directory::verify_audit(&state, &who, &checkpoints)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{v}");
    if v["intact"] == true {
        eprintln!(
            "audit log intact ({} checkpoint(s) checked)",
            checkpoints.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("audit log NOT intact: {v}");
        Ok(ExitCode::from(1))
    }
}

fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| std::path::PathBuf::from("hinomi-data"));
    let dest = dir.join("hinomi.db");
    Store::restore(&args.from, &dest, args.force)
        .with_context(|| format!("restoring {} into {}", args.from.display(), dest.display()))?;
    eprintln!("restored {} into {}", args.from.display(), dest.display());
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let settings = Settings::load(&args.store)?;
    init_logging(&settings.log_level);
    let listen = args
        .listen
        .or(settings.file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8640".to_string());
    let mut config = hub_config(&settings, &listen, args.default_tlp)?;
    if args.tls_cert.is_some() {
        config.accounts.secure_cookies = true;
    }
    let tls = match (
        args.tls_cert.or(settings.file.tls_cert.clone()),
        args.tls_key.or(settings.file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => {
            let client_required = match settings.file.tls_client_auth.as_deref() {
                None | Some("optional") => false,
                Some("required") => true,
                Some(other) => bail!("tls_client_auth: '{other}' is not one of optional, required"),
            };
            Some(
                hinomi_hub::tls::server_config(&hinomi_hub::tls::TlsFiles {
                    cert,
                    key,
                    client_ca: settings.file.tls_client_ca.clone(),
                    client_required,
                })
                .context("setting up TLS")?,
            )
        }
        (None, None) => None,
        _ => bail!("TLS needs both tls_cert and tls_key"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };

    let store = Arc::new(open_store(&settings)?);
    if store.coordinator()?.is_none() {
        let how = match &settings.location {
            Location::Sqlite(p) => format!(
                "--data-dir {}",
                p.parent()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
            Location::Postgres(_) => "--database-url <the same URL>".to_string(),
        };
        eprintln!(
            "This hub has no coordinator yet. Create it and an admin token with:\n    hinomi admin bootstrap {how}\n(the hub keeps serving meanwhile; the token takes effect at once)"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(hinomi_hub::work::max_blocking_threads(config.max_blocking))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The store is synchronous: load the indicator index before entering the runtime.
    let state = AppState::new(store, config).context("loading the indicator index")?;
    // Dropped after the runtime: the PostgreSQL client must not close inside it.
    let keep = state.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "hinomi {} serving on {scheme}://{addr} (store: {:?})\n  TAXII 2.1 discovery: {scheme}://{addr}/taxii2/\n  REST API: {scheme}://{addr}/api/v1/openapi.json",
            env!("CARGO_PKG_VERSION"),
            settings.location
        );
        match tls {
            Some(config) => hinomi_hub::serve_tls(listener, config, state, shutdown_signal()).await,
            None => hinomi_hub::serve(listener, state, shutdown_signal()).await,
        }
        .context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    drop(rt);
    drop(keep);
    eprintln!("hinomi stopped");
    Ok(ExitCode::SUCCESS)
}

/// The hub's configuration from the settings (and a `--default-tlp` given on the
/// command line); `listen` is where acknowledgement links point by default.
fn hub_config(settings: &Settings, listen: &str, default_tlp: Option<String>) -> Result<HubConfig> {
    let default_tlp = match default_tlp.or(settings.file.default_tlp.clone()) {
        Some(t) => t.parse().with_context(|| "--default-tlp".to_string())?,
        None => hinomi_stix::Tlp::Amber,
    };
    let mut config = HubConfig {
        default_tlp,
        ..HubConfig::default()
    };
    if let Some(t) = &settings.file.title {
        config.title = t.clone();
    }
    config.provider_dir = settings
        .file
        .csaf_provider_dir
        .clone()
        .or_else(|| csaf_cmd::default_provider_dir(settings));
    if let Some(r) = settings.file.write_rate_per_minute {
        config.write_rate_per_minute = r;
    }
    if let Some(m) = settings.file.max_content_length {
        if m < 1024 {
            bail!("max_content_length: {m} bytes is too small (at least 1024)");
        }
        config.max_content_length = m;
    }
    config.notify = notify_config(settings, listen)?;
    config.federation = federation_config(settings)?;
    config.metrics_public = settings.file.metrics_public.unwrap_or(false);
    config.accounts.public_url = settings.file.public_url.clone();
    // Session cookies are Secure when browsers reach the hub over HTTPS: served with TLS
    // here, or behind a proxy whose public URL says https.
    config.accounts.secure_cookies = settings.file.tls_cert.is_some()
        || settings
            .file
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
    let f = &settings.file;
    if let Some(n) = f.max_connections {
        config.max_connections = n.max(1);
    }
    if let Some(n) = f.max_large_bodies {
        config.max_large_bodies = n.max(1);
    }
    if let Some(n) = f.max_blocking {
        config.max_blocking = n.max(1);
    }
    match f.unbound_publishers.as_deref() {
        None | Some("refuse") => {}
        Some("accept") => config.accept_unbound_publishers = true,
        Some(other) => {
            anyhow::bail!("unbound_publishers: '{other}' is neither 'refuse' nor 'accept'")
        }
    }
    for (field, value, slot) in [
        ("idle_timeout", &f.idle_timeout, &mut config.idle_timeout),
        ("body_timeout", &f.body_timeout, &mut config.body_timeout),
        (
            "header_timeout",
            &f.header_timeout,
            &mut config.header_timeout,
        ),
        ("blocking_wait", &f.blocking_wait, &mut config.blocking_wait),
    ] {
        if let Some(v) = value {
            *slot = config::parse_duration(field, v)?
                .ok_or_else(|| anyhow::anyhow!("{field}: needs a duration, not none"))?;
        }
    }
    if config.header_timeout < config.idle_timeout {
        tracing::warn!(
            "header_timeout ({:?}) is shorter than idle_timeout ({:?}): idle keep-alive \
             connections close after header_timeout",
            config.header_timeout,
            config.idle_timeout
        );
    }
    for (i, n) in f.trusted_proxies.iter().flatten().enumerate() {
        config.trusted_proxies.push(
            n.parse()
                .map_err(|e| anyhow::anyhow!("trusted_proxies[{i}]: {e}"))?,
        );
    }
    if let Some(o) = &settings.file.outbound {
        for (i, n) in o.allow.iter().flatten().enumerate() {
            config.outbound.allow.push(
                n.parse()
                    .map_err(|e| anyhow::anyhow!("outbound.allow[{i}]: {e}"))?,
            );
        }
        if let Some(t) = &o.plain_http_up_to {
            config.outbound.plain_http_up_to = t
                .parse()
                .with_context(|| "outbound.plain_http_up_to".to_string())?;
        }
        if let Some(n) = o.max_webhooks_per_org {
            config.notify.max_webhooks_per_org = n;
        }
    }
    if let Some(m) = &settings.file.matching {
        let c = &mut config.matching;
        if let Some(w) = &m.window {
            c.window = config::parse_duration("matching.window", w)?
                .ok_or_else(|| anyhow::anyhow!("matching.window: needs a duration, not none"))?;
        }
        for (field, value, slot) in [
            (
                "matching.max_per_pattern",
                m.max_per_pattern,
                &mut c.max_per_pattern,
            ),
            (
                "matching.max_held_per_org",
                m.max_held_per_org,
                &mut c.max_held_per_org,
            ),
        ] {
            if let Some(n) = value {
                if n == 0 {
                    bail!("{field}: at least 1");
                }
                *slot = n;
            }
        }
        if let Some(n) = m.max_held_mib_per_org {
            if n == 0 {
                bail!("matching.max_held_mib_per_org: at least 1");
            }
            c.max_bytes_per_org = n.saturating_mul(1 << 20);
        }
        if let Some(n) = m.max_evaluated_per_request {
            c.max_evaluated_per_request = n;
        }
    }
    if let Some(i) = &settings.file.incidents {
        let c = &mut config.incidents;
        for (field, value, slot) in [
            (
                "incidents.report_within",
                &i.report_within,
                &mut c.report_within,
            ),
            (
                "incidents.ransom_report_within",
                &i.ransom_report_within,
                &mut c.ransom_report_within,
            ),
            (
                "incidents.final_report_within",
                &i.final_report_within,
                &mut c.final_report_within,
            ),
        ] {
            if let Some(v) = value {
                *slot = config::parse_duration(field, v)?
                    .ok_or_else(|| anyhow::anyhow!("{field}: needs a duration, not none"))?;
            }
        }
        if let Some(n) = i.common_after {
            c.common_after = n.max(1);
        }
        if let Some(n) = i.max_attachment_bytes {
            if n > config.max_content_length {
                bail!(
                    "incidents.max_attachment_bytes: {n} is more than max_content_length ({})",
                    config.max_content_length
                );
            }
            c.max_attachment_bytes = n;
        }
        if let Some(n) = i.max_attachments {
            c.max_attachments = n;
        }
        if let Some(n) = i.max_objects {
            c.max_objects = n.clamp(1, 100_000);
        }
    }
    if let Some(w) = &settings.file.web {
        let a = &mut config.accounts;
        for (field, value, slot) in [
            ("web.lock_for", &w.lock_for, &mut a.lock_for),
            ("web.session_idle", &w.session_idle, &mut a.session_idle),
            ("web.session_max", &w.session_max, &mut a.session_max),
            (
                "web.invitation_ttl",
                &w.invitation_ttl,
                &mut a.invitation_ttl,
            ),
        ] {
            if let Some(v) = value {
                *slot = config::parse_duration(field, v)?
                    .ok_or_else(|| anyhow::anyhow!("{field}: needs a duration, not none"))?;
            }
        }
        if let Some(n) = w.lock_after {
            if n < 1 {
                bail!("web.lock_after: at least 1");
            }
            a.lock_after = n;
        }
        if let Some(n) = w.sign_in_rate_per_minute {
            a.sign_in_rate_per_minute = n;
        }
        if let Some(n) = w.max_password_checks {
            a.max_password_checks = n.max(1);
        }
    }
    Ok(config)
}

/// The hub's services for a console command (`import`, `federation`), without its
/// workers or a listener, and the operator as the caller: the coordinator, or the
/// member organization `org` it acts for. What the command writes (outbox entries,
/// targeted warnings) a running hub's workers pick up.
pub(crate) fn console(
    settings: &Settings,
    default_tlp: Option<String>,
    org: Option<&str>,
) -> Result<(hinomi_hub::Shared, hinomi_hub::service::Viewer)> {
    let listen = settings
        .file
        .listen
        .clone()
        .unwrap_or_else(|| "127.0.0.1:8640".to_string());
    let config = hub_config(settings, &listen, default_tlp)?;
    let store = Arc::new(open_store(settings)?);
    let who = hinomi_hub::service::Viewer::console(&store, org).map_err(|e| match org {
        Some(id) => anyhow::anyhow!("--organization {id}: {e}"),
        None => anyhow::anyhow!("{e}"),
    })?;
    // No workers: the running hub's workers deliver what this command writes.
    let state = AppState::idle(store, config).context("loading the indicator index")?;
    Ok((state, who))
}

/// The hub's secret key: `HINOMI_SECRET_KEY`, else `secret_key_file`, else
/// `DATA_DIR/secret.key` (created on first use). Several PostgreSQL nodes must share it.
pub(crate) fn load_key(settings: &Settings) -> Result<hinomi_notify::sealed::MasterKey> {
    use hinomi_notify::sealed::MasterKey;
    if let Ok(k) = std::env::var("HINOMI_SECRET_KEY") {
        return MasterKey::from_base64(&k).context("HINOMI_SECRET_KEY");
    }
    let path = settings
        .file
        .secret_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("secret.key"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory {}", dir.display()))?;
    }
    MasterKey::load_or_create(&path)
        .with_context(|| format!("the secret key file {}", path.display()))
}

/// The `[federation]` settings.
pub(crate) fn federation_config(
    settings: &Settings,
) -> Result<hinomi_hub::service::federation::FederationConfig> {
    let mut c = hinomi_hub::service::federation::FederationConfig::default();
    let Some(f) = &settings.file.federation else {
        return Ok(c);
    };
    if let Some(i) = &f.pull_interval {
        c.pull_interval = config::parse_duration("federation.pull_interval", i)?
            .unwrap_or(std::time::Duration::from_secs(86_400 * 365));
    }
    if let Some(b) = f.batch {
        c.batch = b.clamp(1, 10_000);
    }
    let identity = match (&f.client_cert, &f.client_key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        (None, None) => None,
        _ => bail!("federation: client_cert and client_key go together"),
    };
    if identity.is_some() || f.ca_file.is_some() {
        c.client_tls = Some(
            hinomi_hub::tls::client_config(f.ca_file.as_deref(), identity)
                .context("federation TLS")?,
        );
    }
    Ok(c)
}

/// The warnings settings: the sealing key, the SMTP relay, the policies.
fn notify_config(settings: &Settings, listen: &str) -> Result<hinomi_hub::NotifyConfig> {
    use hinomi_hub::service::delivery::AckPolicy;
    use hinomi_notify::smtp::{SmtpConfig, TlsMode};
    let f = &settings.file;
    let mut n = hinomi_hub::NotifyConfig {
        public_url: f
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}")),
        ..Default::default()
    };
    let key = load_key(settings)?;
    n.key = Arc::new(key);
    if let Some(m) = &f.smtp {
        let tls = match m.tls.as_deref().unwrap_or("starttls") {
            "starttls" => TlsMode::StartTls,
            "tls" => TlsMode::Implicit,
            "none" => TlsMode::None,
            other => bail!("smtp.tls: '{other}' is not one of starttls, tls, none"),
        };
        let port = m.port.unwrap_or(match tls {
            TlsMode::Implicit => 465,
            _ => 587,
        });
        let mut c = SmtpConfig::new(&m.host, port, &m.from);
        c.tls = tls;
        c.username = m.username.clone();
        c.password = std::env::var("HINOMI_SMTP_PASSWORD")
            .ok()
            .or(m.password.clone());
        c.from_name = m.from_name.clone();
        if let Some(h) = &m.helo_name {
            c.helo_name = h.clone();
        }
        c.ca_file = m.ca_file.clone();
        n.smtp = Some(c);
    }
    if let Some(w) = &f.warnings {
        if let Some(a) = w.max_attempts {
            n.max_attempts = a.max(1);
        }
        if let Some(x) = w.senders {
            n.senders = x.clamp(1, 256);
        }
        if let Some(m) = w.member_max_recipients {
            n.member_warning_max_recipients = m;
        }
        if let Some(t) = &w.ack_link_ttl {
            n.ack_link_ttl = config::parse_duration("warnings.ack_link_ttl", t)?
                .ok_or_else(|| anyhow::anyhow!("warnings.ack_link_ttl: links need an expiry"))?;
        }
        if let Some(t) = &w.targeted {
            n.targeted = match t.as_str() {
                "draft" => hinomi_hub::TargetedWarnings::Draft,
                "publish" => hinomi_hub::TargetedWarnings::Publish,
                "off" => hinomi_hub::TargetedWarnings::Off,
                other => bail!("warnings.targeted: '{other}' is not one of draft, publish, off"),
            };
        }
        for (i, (name, p)) in [
            ("informational", &w.informational),
            ("low", &w.low),
            ("medium", &w.medium),
            ("high", &w.high),
            ("critical", &w.critical),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(p) = p {
                let mut pol: AckPolicy = n.policies[i];
                if let Some(win) = &p.ack_window {
                    pol.window =
                        config::parse_duration(&format!("warnings.{name}.ack_window"), win)?;
                }
                if let Some(e) = p.escalate {
                    pol.escalate = e;
                }
                n.policies[i] = pol;
            }
        }
    }
    Ok(n)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

fn init_logging(level: &str) {
    let level = match level.to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let mut full = vec!["hinomi", "serve"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("arguments parse").command {
            Command::Serve(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn precedence_file_env_flag() {
        let dir = std::env::temp_dir().join(format!("hinomi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hinomi.toml");
        std::fs::write(
            &file,
            "data_dir = \"from-file\"\nlisten = \"127.0.0.1:1111\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();

        let a = serve_args(&["--config", f]);
        let s = Settings::load(&a.store).unwrap();
        assert_eq!(s.location, Location::Sqlite("from-file/hinomi.db".into()));
        assert_eq!(s.file.listen.as_deref(), Some("127.0.0.1:1111"));

        std::env::set_var("HINOMI_DATA_DIR", "from-env");
        let a = serve_args(&["--config", f]);
        assert_eq!(
            Settings::load(&a.store).unwrap().location,
            Location::Sqlite("from-env/hinomi.db".into())
        );
        let a = serve_args(&["--config", f, "--data-dir", "from-flag"]);
        assert_eq!(
            Settings::load(&a.store).unwrap().location,
            Location::Sqlite("from-flag/hinomi.db".into())
        );
        std::env::remove_var("HINOMI_DATA_DIR");

        let a = serve_args(&["--config", f, "--database-url", "postgres://u:secret@db/h"]);
        let s = Settings::load(&a.store).unwrap();
        assert!(matches!(s.location, Location::Postgres(_)));
        assert!(
            !format!("{:?}", s.location).contains("secret"),
            "password redacted"
        );

        // [web]: lockout and sessions reach the hub's configuration.
        let data = dir.join("data");
        std::fs::write(
            &file,
            format!(
                "data_dir = {:?}\n[web]\nlock_after = 3\nsession_idle = \"30m\"\nsign_in_rate_per_minute = 0\n",
                data.to_str().unwrap()
            ),
        )
        .unwrap();
        let s = Settings::load(&serve_args(&["--config", f]).store).unwrap();
        let c = hub_config(&s, "127.0.0.1:8640", None).unwrap();
        assert_eq!(c.accounts.lock_after, 3);
        assert_eq!(
            c.accounts.session_idle,
            std::time::Duration::from_secs(1800)
        );
        assert_eq!(c.accounts.sign_in_rate_per_minute, 0);
        // The defaults let an idle keep-alive connection live its idle timeout: hyper's
        // header timer also runs while a connection awaits its next request.
        assert!(c.header_timeout >= c.idle_timeout, "{c:?}");
        std::fs::write(
            &file,
            format!(
                "data_dir = {:?}\n[web]\nlock_after = 0\n",
                data.to_str().unwrap()
            ),
        )
        .unwrap();
        let s = Settings::load(&serve_args(&["--config", f]).store).unwrap();
        let e = hub_config(&s, "127.0.0.1:8640", None).unwrap_err();
        assert!(format!("{e:#}").contains("web.lock_after"), "{e:#}");

        // Trusted proxies: networks, with the bad entry named.
        std::fs::write(
            &file,
            format!(
                "data_dir = {:?}\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.example\"]\n",
                data.to_str().unwrap()
            ),
        )
        .unwrap();
        let s = Settings::load(&serve_args(&["--config", f]).store).unwrap();
        let e = hub_config(&s, "127.0.0.1:8640", None).unwrap_err();
        assert!(format!("{e:#}").contains("trusted_proxies[1]"), "{e:#}");

        // [matching]: the per-organization state of patterns binding several observations.
        let matching = |body: &str| {
            std::fs::write(
                &file,
                format!(
                    "data_dir = {:?}\n[matching]\n{body}",
                    data.to_str().unwrap()
                ),
            )
            .unwrap();
            let s = Settings::load(&serve_args(&["--config", f]).store).unwrap();
            hub_config(&s, "127.0.0.1:8640", None)
        };
        let c = matching("window = \"2h\"\nmax_per_pattern = 50\nmax_held_mib_per_org = 4\n")
            .unwrap()
            .matching;
        assert_eq!(c.window, std::time::Duration::from_secs(7200));
        assert_eq!((c.max_per_pattern, c.max_bytes_per_org), (50, 4 << 20));
        assert_eq!(c.max_held_per_org, 20_000);
        for (body, field) in [
            ("window = \"soon\"\n", "matching.window"),
            ("max_held_per_org = 0\n", "matching.max_held_per_org"),
        ] {
            let e = matching(body).unwrap_err();
            assert!(format!("{e:#}").contains(field), "{e:#}");
        }

        std::fs::write(&file, "listen = \"x\"\ncolour = \"red\"\n").unwrap();
        let e = Settings::load(&serve_args(&["--config", f]).store).unwrap_err();
        assert!(format!("{e:#}").contains("colour"), "{e:#}");
    }
}

#[cfg(test)]
mod fuzz {
    //! Configuration files from careless hands: a full file mutated byte- and token-wise
    //! is parsed and turned into the hub's configuration. Every outcome is a value or an
    //! error, never a panic. Deterministic (xorshift); `HINOMI_FUZZ_ROUNDS` sets the
    //! number of files.

    use super::*;
    use crate::config::FileConfig;

    const FULL: &str = r#"
listen = "127.0.0.1:8640"
title = "National CSIRT hub"
default_tlp = "amber"
max_content_length = 16777216
write_rate_per_minute = 6000
log_level = "info"
public_url = "https://hub.example.go.jp"
metrics_public = false
database_max_connections = 32
trusted_proxies = ["10.0.0.0/8", "::1"]
header_timeout = "60s"
[smtp]
host = "smtp.example.go.jp"
port = 587
tls = "starttls"
from = "warnings@hub.example.go.jp"
[warnings]
max_attempts = 12
senders = 32
ack_link_ttl = "30d"
member_max_recipients = 20
targeted = "draft"
critical = { ack_window = "1h", escalate = true }
low = { ack_window = "none" }
[federation]
pull_interval = "60s"
batch = 1000
[outbound]
allow = ["10.20.0.0/16", "::1/128"]
plain_http_up_to = "green"
max_webhooks_per_org = 20
[incidents]
report_within = "72h"
ransom_report_within = "24h"
final_report_within = "30d"
common_after = 20
max_attachment_bytes = 10485760
max_attachments = 20
max_objects = 1000
[web]
lock_after = 5
lock_for = "15m"
session_idle = "2h"
session_max = "12h"
invitation_ttl = "7d"
sign_in_rate_per_minute = 30
max_password_checks = 2
[matching]
window = "1h"
max_per_pattern = 1000
max_held_per_org = 20000
max_held_mib_per_org = 32
max_evaluated_per_request = 1000000
"#;

    #[test]
    fn mutated_configuration_files_never_panic() {
        let rounds: usize = std::env::var("HINOMI_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let dir = std::env::temp_dir().join(format!("hinomi-config-fuzz-{}", std::process::id()));
        let tokens = [
            "=",
            "\"",
            "[",
            "]",
            "{",
            "}",
            ",",
            "\n",
            "-1",
            "99999999999999999999",
            "0",
            "\"\"",
            "\"none\"",
            "\"1y\"",
            "\"red\"",
            "\"999.1.1.1/99\"",
            "true",
            "#",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: usize| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
        };
        let (mut parsed, mut refused) = (0, 0);
        for _ in 0..rounds {
            let mut text = FULL.to_string();
            for _ in 0..1 + next(3) {
                let mut at = next(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => text.insert_str(at, tokens[next(tokens.len())]),
                    1 => {
                        let mut end = (at + 1 + next(12)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                        text.insert_str(line_start, "# ");
                    }
                }
            }
            let outcome = std::panic::catch_unwind(|| {
                let file: FileConfig = match toml::from_str(&text) {
                    Ok(f) => f,
                    Err(_) => return false,
                };
                let settings = Settings {
                    location: Location::Sqlite(dir.join("hinomi.db")),
                    data_dir: dir.clone(),
                    log_level: "info".into(),
                    file,
                };
                hub_config(&settings, "127.0.0.1:8640", None).is_ok()
            });
            match outcome {
                Ok(true) => parsed += 1,
                Ok(false) => refused += 1,
                Err(_) => panic!("configuration fuzz: panic on\n{text}"),
            }
        }
        assert!(
            parsed > 0 && refused > 0,
            "{parsed} parsed, {refused} refused"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
