//! `hinomi federation`: sync with a peer hub now, list peers.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use hinomi_hub::service::{federation, Kind};

use crate::config::{Settings, StoreArgs};
use crate::console;

#[derive(Subcommand)]
pub enum FederationCommand {
    /// Pull from and push to one peer now (by name or id) and print what moved as JSON.
    ///
    /// Runs the hub's federation service on the store and the hub's secret key, so it
    /// works while `hinomi serve` runs (syncs are idempotent) or without it. Exit status 2 when the sync failed.
    Sync(SyncArgs),
    /// List the registered peers with their status, one JSON line each.
    Peers(PeersArgs),
}

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The peer's name or id (see `hinomi federation peers`).
    peer: String,
}

#[derive(Args)]
pub struct PeersArgs {
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(cmd: FederationCommand) -> Result<ExitCode> {
    match cmd {
        FederationCommand::Sync(a) => sync(a),
        FederationCommand::Peers(a) => peers(a),
    }
}

fn sync(a: SyncArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    let (state, admin) = console(&settings, None, None)?;
    let peer = match federation::get_peer(&state, &admin, &a.peer) {
        Ok(p) => p,
        Err(e) if e.kind == Kind::NotFound => bail!(
            "no peer named '{}' (hinomi federation peers lists them)",
            a.peer
        ),
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let name = peer["name"].as_str().unwrap_or(&a.peer).to_string();
    eprintln!(
        "syncing with {name} ({}, {})",
        peer["api_root"].as_str().unwrap_or_default(),
        peer["direction"].as_str().unwrap_or_default()
    );
    let id = peer["id"].as_str().unwrap_or(&a.peer).to_string();
    match federation::sync_peer(&state, &admin, &id) {
        Ok(moved) => {
            println!("{}", json!({"peer": name, "ok": true, "moved": moved}));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", json!({"peer": name, "ok": false, "error": e.message}));
            Ok(ExitCode::from(2))
        }
    }
}

fn peers(a: PeersArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    let (state, admin) = console(&settings, None, None)?;
    let list = federation::list_peers(&state, &admin).map_err(|e| anyhow::anyhow!("{e}"))?;
    for p in list["peers"].as_array().into_iter().flatten() {
        println!("{p}");
    }
    Ok(ExitCode::SUCCESS)
}
