//! `hinomi csaf validate`: CSAF 2.0 documents against the JSON schema and every mandatory
//! test (6.1.1–6.1.33), one JSON line per file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum CsafCommand {
    /// Validate CSAF 2.0 documents: the JSON schema and all mandatory tests.
    ///
    /// Writes one JSON line per file: {"file", "valid", "errors": [{"test", "path",
    /// "message"}]} where "test" is the spec's test id ("6.1.27.3") or "schema", and
    /// "path" a JSON pointer. Every test runs. Directories are searched for *.json.
    /// Exit status: 0 when all files are valid, 1 when any is invalid or unreadable.
    Validate(ValidateArgs),
    /// Publish the coordinator's TLP:CLEAR advisories as a CSAF trusted provider.
    ///
    /// Writes the /.well-known/csaf/ tree (provider-metadata.json, year folders with
    /// .sha256, .sha512 and OpenPGP .asc files, index.txt, changes.csv, a ROLIE feed)
    /// into OUT, which `hinomi serve` serves at /.well-known/csaf/. Signing uses GnuPG
    /// with --gpg-key. Run it again after new advisories; it replaces the tree at once.
    Publish(PublishArgs),
}

#[derive(Args)]
pub struct PublishArgs {
    #[command(flatten)]
    store: crate::config::StoreArgs,
    /// Public base URL of the hub (https://…); the tree's links start with it.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// Output directory [default: DATA_DIR/csaf-provider].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// OpenPGP key (id, fingerprint or user id) to sign with.
    #[arg(long, value_name = "KEY")]
    gpg_key: Option<String>,
    /// GnuPG home directory holding that key [default: gpg's].
    #[arg(long, value_name = "DIR", requires = "gpg_key")]
    gnupg_home: Option<PathBuf>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Files or directories to validate.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Files as given, and the `*.json` files under directories, in a stable order.
pub fn json_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
                    .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                entries.sort();
                for e in entries {
                    if e.is_dir() {
                        stack.push(e);
                    } else if e.extension().is_some_and(|x| x == "json") {
                        out.push(e);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Where the provider tree lives by default: beside the SQLite store.
pub fn default_provider_dir(settings: &crate::config::Settings) -> Option<PathBuf> {
    match &settings.location {
        hinomi_store::Location::Sqlite(db) => db.parent().map(|d| d.join("csaf-provider")),
        hinomi_store::Location::Postgres(_) => None,
    }
}

fn publish(a: PublishArgs) -> Result<ExitCode> {
    let settings = crate::config::Settings::load(&a.store)?;
    let out = a
        .out
        .or_else(|| settings.file.csaf_provider_dir.clone())
        .or_else(|| default_provider_dir(&settings))
        .ok_or_else(|| anyhow::anyhow!("--out is needed with a PostgreSQL store"))?;
    let store = hinomi_store::Store::open(&settings.location)?;
    let signer = a.gpg_key.map(|key| hinomi_hub::service::provider::Signer {
        gnupg_home: a.gnupg_home,
        key,
    });
    let r = hinomi_hub::service::provider::publish(&store, &out, &a.base_url, signer.as_ref())?;
    println!(
        "{}",
        json!({"out": out.display().to_string(), "advisories": r.advisories, "signed": r.signed, "fingerprint": r.fingerprint})
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: CsafCommand) -> Result<ExitCode> {
    let args = match cmd {
        CsafCommand::Validate(args) => args,
        CsafCommand::Publish(a) => return publish(a),
    };
    let files = json_files(&args.files);
    let mut invalid = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let progress = files.len() > 200;
    for (n, f) in files.iter().enumerate() {
        let name = f.display().to_string();
        let errors: Vec<Value> = match std::fs::read(f) {
            Err(e) => vec![json!({"test": "read", "path": "", "message": e.to_string()})],
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Err(e) => {
                    vec![json!({"test": "json", "path": "", "message": format!("not JSON: {e}")})]
                }
                Ok(doc) => hinomi_csaf::validate(&doc)
                    .into_iter()
                    .map(|f| json!({"test": f.test, "path": f.path, "message": f.message}))
                    .collect(),
            },
        };
        if !errors.is_empty() {
            invalid += 1;
        }
        writeln!(
            out,
            "{}",
            json!({"file": name, "valid": errors.is_empty(), "errors": errors})
        )?;
        if progress && (n + 1) % 500 == 0 {
            eprintln!(
                "validated {} of {} files, {invalid} invalid",
                n + 1,
                files.len()
            );
        }
    }
    if files.is_empty() {
        eprintln!("error: no .json files found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
