//! `hinomi import csaf DIR` and `hinomi import kev FILE`: bulk loads through the hub's
//! advisory service (the one behind `POST /api/v1/advisories` and `/api/v1/kev`), with
//! progress on stderr and a JSON summary on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use hinomi_hub::service::advisories::{self, Submitted};
use hinomi_hub::service::Kind;

use crate::config::{Settings, StoreArgs};
use crate::console;
use crate::csaf_cmd::json_files;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import CSAF 2.0 advisories from files or directory trees (*.json).
    ///
    /// Each document is validated (schema and mandatory tests) and stored as a revision
    /// owned by the coordinator (or --organization). Invalid documents are reported on
    /// stderr and skipped; the rest is imported. Exit status 2 when any was skipped.
    Csaf(CsafImportArgs),
    /// Import the CISA Known Exploited Vulnerabilities catalog (JSON); idempotent.
    Kev(KevImportArgs),
}

#[derive(Args)]
pub struct CsafImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Owner of the imported advisories [default: the coordinator].
    #[arg(long, value_name = "ORGANIZATION_ID")]
    organization: Option<String>,
    /// TLP of documents without /document/distribution/tlp [default: amber].
    #[arg(long, value_name = "TLP")]
    default_tlp: Option<String>,
    /// Files or directories.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
pub struct KevImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The catalog file (known_exploited_vulnerabilities.json).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(cmd: ImportCommand) -> Result<ExitCode> {
    match cmd {
        ImportCommand::Csaf(a) => import_csaf(a),
        ImportCommand::Kev(a) => import_kev(a),
    }
}

fn import_csaf(a: CsafImportArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    if let Some(t) = &a.default_tlp {
        t.parse::<hinomi_stix::Tlp>().context("--default-tlp")?;
    }
    let files = json_files(&a.paths);
    if files.is_empty() {
        bail!("no .json files under the given paths");
    }
    // The same service as `POST /api/v1/advisories`, as the coordinator (or the member
    // organization named).
    let (state, who) = console(
        &settings,
        Some(a.default_tlp.unwrap_or_else(|| "amber".into())),
        a.organization.as_deref(),
    )?;
    let (mut added, mut duplicates, mut skipped, mut findings) = (0usize, 0usize, 0usize, 0u64);
    let started = std::time::Instant::now();
    for (i, f) in files.iter().enumerate() {
        let doc: Result<Value, String> = std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("not JSON: {e}")));
        let outcome = match doc {
            Err(m) => Err(m),
            Ok(d) => match advisories::submit(&state, &who, d) {
                Ok(Submitted::Invalid(f)) => Err(format!(
                    "not valid CSAF 2.0: {} finding(s), first: {}",
                    f.len(),
                    f[0]
                )),
                Ok(Submitted::Stored { added, summary }) => Ok((added, summary)),
                Err(e) if matches!(e.kind, Kind::Unprocessable | Kind::Conflict) => Err(e.message),
                Err(e) => return Err(anyhow::anyhow!("{}: {e}", f.display())),
            },
        };
        match outcome {
            Err(m) => {
                skipped += 1;
                eprintln!("{}: skipped: {m}", f.display());
            }
            Ok((true, summary)) => {
                added += 1;
                findings += summary["new_findings"].as_u64().unwrap_or(0);
            }
            Ok((false, _)) => duplicates += 1,
        }
        if (i + 1) % 100 == 0 {
            eprintln!(
                "{} of {} files ({added} added, {duplicates} unchanged, {skipped} skipped)",
                i + 1,
                files.len()
            );
        }
    }
    println!(
        "{}",
        json!({"files": files.len(), "added": added, "unchanged": duplicates, "skipped": skipped, "new_findings": findings, "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(if skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn import_kev(a: KevImportArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    let text = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let doc: Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", a.file.display()))?;
    let (state, admin) = console(&settings, None, None)?;
    let mut r = advisories::import_kev(&state, &admin, &doc)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    r["catalog_version"] = doc.get("catalogVersion").cloned().unwrap_or(Value::Null);
    println!("{r}");
    Ok(ExitCode::SUCCESS)
}
