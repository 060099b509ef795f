//! `hinomi import csaf DIR` and `hinomi import kev FILE`: bulk loads straight into the
//! store, with progress on stderr and a JSON summary on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use hinomi_hub::service::advisories::{advisory_from_csaf, kev_from_json, AdvisoryError};
use hinomi_stix::Tlp;
use hinomi_store::{AdvisoryOutcome, Store};

use crate::config::{Settings, StoreArgs};
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

fn owner(store: &Store, org: Option<String>) -> Result<String> {
    match org {
        Some(id) => Ok(store
            .organization(&id)
            .with_context(|| format!("--organization {id}"))?
            .id),
        None => match store.coordinator()? {
            Some(c) => Ok(c.id),
            None => bail!("this store has no coordinator yet: run 'hinomi admin bootstrap' first"),
        },
    }
}

pub fn run(cmd: ImportCommand) -> Result<ExitCode> {
    match cmd {
        ImportCommand::Csaf(a) => import_csaf(a),
        ImportCommand::Kev(a) => import_kev(a),
    }
}

fn import_csaf(a: CsafImportArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    let store = Store::open(&settings.location)
        .with_context(|| format!("opening {:?}", settings.location))?;
    let owner = owner(&store, a.organization)?;
    let default_tlp: Tlp = match a.default_tlp {
        Some(t) => t.parse().context("--default-tlp")?,
        None => Tlp::Amber,
    };
    let files = json_files(&a.paths);
    if files.is_empty() {
        bail!("no .json files under the given paths");
    }
    let (mut added, mut duplicates, mut skipped, mut findings) = (0usize, 0usize, 0usize, 0usize);
    let started = std::time::Instant::now();
    for (i, f) in files.iter().enumerate() {
        let doc: Result<Value, String> = std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("not JSON: {e}")));
        let result = doc.and_then(|d| match advisory_from_csaf(&d, default_tlp) {
            Ok(adv) => Ok(adv),
            Err(AdvisoryError::Invalid(findings)) => Err(format!(
                "not valid CSAF 2.0: {} finding(s), first: {}",
                findings.len(),
                findings[0]
            )),
            Err(AdvisoryError::Unusable(m)) => Err(m),
        });
        match result {
            Err(m) => {
                skipped += 1;
                eprintln!("{}: skipped: {m}", f.display());
            }
            Ok(adv) => match store.add_advisory(&owner, &adv)? {
                AdvisoryOutcome::Added => {
                    added += 1;
                    findings += hinomi_hub::service::inventory::rematch_advisory(
                        &store,
                        &adv.publisher,
                        &adv.tracking_id,
                    )?
                    .len();
                }
                AdvisoryOutcome::Duplicate => duplicates += 1,
                AdvisoryOutcome::Refused(m) => {
                    skipped += 1;
                    eprintln!("{}: skipped: {m}", f.display());
                }
            },
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
    let store = Store::open(&settings.location)
        .with_context(|| format!("opening {:?}", settings.location))?;
    let actor = owner(&store, None)?;
    let text = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let doc: Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", a.file.display()))?;
    let entries = kev_from_json(&doc).map_err(|m| anyhow::anyhow!("{}: {m}", a.file.display()))?;
    let r = store.import_kev(&entries, &actor)?;
    println!(
        "{}",
        json!({"entries": entries.len(), "added": r.added, "updated": r.updated, "unchanged": r.unchanged, "catalog_version": doc.get("catalogVersion")})
    );
    Ok(ExitCode::SUCCESS)
}
