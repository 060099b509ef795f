//! `hinomi federation`: sync with a peer hub now, list peers.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::{Settings, StoreArgs};

#[derive(Subcommand)]
pub enum FederationCommand {
    /// Pull from and push to one peer now (by name or id) and print what moved as JSON.
    ///
    /// Uses the store and the hub's secret key directly, so it works while `hinomi serve`
    /// runs (syncs are idempotent) or without it. Exit status 2 when the sync failed.
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
    let store = hinomi_store::Store::open(&settings.location)
        .with_context(|| format!("opening the store at {:?}", settings.location))?;
    let Some(peer) = store.peer(&a.peer)? else {
        bail!(
            "no peer named '{}' (hinomi federation peers lists them)",
            a.peer
        );
    };
    let key = crate::load_key(&settings)?;
    let fed_config = crate::federation_config(&settings)?;
    let agent = hinomi_hub::service::federation::agent(&fed_config);
    let fed = hinomi_hub::service::federation::Fed {
        store: &store,
        key: &key,
        agent: &agent,
        batch: fed_config.batch,
        state: None,
    };
    eprintln!(
        "syncing with {} ({}, {})",
        peer.name, peer.api_root, peer.direction
    );
    match hinomi_hub::service::federation::sync(&fed, &peer) {
        Ok(r) => {
            println!(
                "{}",
                json!({"peer": peer.name, "ok": true, "moved": r.to_json()})
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", json!({"peer": peer.name, "ok": false, "error": e}));
            Ok(ExitCode::from(2))
        }
    }
}

fn peers(a: PeersArgs) -> Result<ExitCode> {
    let settings = Settings::load(&a.store)?;
    let store = hinomi_store::Store::open(&settings.location)
        .with_context(|| format!("opening the store at {:?}", settings.location))?;
    for p in store.peers()? {
        let mut v = p.to_json();
        let st = store.peer_status(&p.id)?;
        v["status"] = json!({
            "last_pull": st.last_pull.map(|t| hinomi_stix::Timestamp(t).to_string()),
            "last_push": st.last_push.map(|t| hinomi_stix::Timestamp(t).to_string()),
            "last_error": st.last_error,
            "objects": st.counts,
        });
        println!("{v}");
    }
    Ok(ExitCode::SUCCESS)
}
