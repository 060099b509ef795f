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

pub fn run(cmd: CsafCommand) -> Result<ExitCode> {
    let CsafCommand::Validate(args) = cmd;
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
