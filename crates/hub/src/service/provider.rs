//! CSAF 2.0 trusted-provider publication (§7) of the coordinator's TLP:CLEAR advisories:
//! year folders with §5.1 file names, `.sha256`/`.sha512`, OpenPGP `.asc` signatures
//! (GnuPG with a configured key), `index.txt`, `changes.csv`, a ROLIE feed and
//! `provider-metadata.json`. The tree is written beside the target and renamed into
//! place, so readers never see half a publication.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256, Sha512};

use hinomi_stix::Timestamp;
use hinomi_store::Store;

use super::{hex, Error, Kind, Result};
use crate::AppState;

/// An OpenPGP key to sign with, through GnuPG.
#[derive(Debug, Clone)]
pub struct Signer {
    /// GnuPG home directory holding the secret key (None: gpg's default).
    pub gnupg_home: Option<PathBuf>,
    /// Key id, fingerprint or user id of the signing key.
    pub key: String,
}

/// What a publication wrote.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub advisories: usize,
    pub signed: bool,
    pub fingerprint: Option<String>,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Store(#[from] hinomi_store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("gpg: {0}")]
    Gpg(String),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The §5.1 file name of a tracking id: lower case, every character other than
/// `+`, `-`, `a-z` and `0-9` replaced by `_`, then `.json`.
pub fn file_name(tracking_id: &str) -> String {
    let mut s: String = tracking_id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.push_str(".json");
    s
}

fn year(t: Timestamp) -> i64 {
    // Days since the epoch to the civil year (proleptic Gregorian).
    let days = t.micros().div_euclid(86_400_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400;
    if mp >= 10 {
        y + 1
    } else {
        y
    }
}

fn gpg(signer: &Signer) -> Command {
    let mut c = Command::new("gpg");
    c.args([
        "--batch",
        "--yes",
        "--no-tty",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]);
    if let Some(h) = &signer.gnupg_home {
        c.env("GNUPGHOME", h);
    }
    c
}

fn run(mut c: Command) -> Result<Vec<u8>, PublishError> {
    let out = c
        .output()
        .map_err(|e| PublishError::Gpg(format!("cannot run gpg: {e}")))?;
    if !out.status.success() {
        return Err(PublishError::Gpg(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out.stdout)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Publishes the coordinator's current TLP:CLEAR advisories under `out`
/// (the `/.well-known/csaf/` tree), with URLs under `base_url`.
pub fn publish(
    store: &Store,
    out: &Path,
    base_url: &str,
    signer: Option<&Signer>,
) -> Result<Published, PublishError> {
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(PublishError::Invalid(format!(
            "base URL '{base_url}' must start with https:// (or http:// for tests)"
        )));
    }
    let coordinator = store.coordinator()?.ok_or_else(|| {
        PublishError::Invalid(
            "this store has no coordinator yet: run 'hinomi admin bootstrap'".into(),
        )
    })?;
    let advisories = store.clear_advisories_of(&coordinator.id)?;
    let staging = out.with_extension("staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;

    let mut fingerprint = None;
    if let Some(s) = signer {
        let listing = String::from_utf8_lossy(&run({
            let mut c = gpg(s);
            c.args(["--with-colons", "--fingerprint", &s.key]);
            c
        })?)
        .to_string();
        let fpr = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .ok_or_else(|| PublishError::Gpg(format!("no fingerprint for key '{}'", s.key)))?;
        let key = run({
            let mut c = gpg(s);
            c.args(["--armor", "--export", &s.key]);
            c
        })?;
        write(&staging.join("openpgp").join(format!("{fpr}.asc")), &key)?;
        fingerprint = Some(fpr);
    }

    let mut index = String::new();
    let mut changes = Vec::new();
    let mut entries = Vec::new();
    for a in &advisories {
        let rel = format!("{}/{}", year(a.initial_release), file_name(&a.tracking_id));
        let path = staging.join(&rel);
        let body = a.json.as_bytes();
        write(&path, body)?;
        let name = file_name(&a.tracking_id);
        write(
            &staging.join(format!("{rel}.sha256")),
            format!("{}  {name}\n", hex(&Sha256::digest(body))).as_bytes(),
        )?;
        write(
            &staging.join(format!("{rel}.sha512")),
            format!("{}  {name}\n", hex(&Sha512::digest(body))).as_bytes(),
        )?;
        if let Some(s) = signer {
            let asc = staging.join(format!("{rel}.asc"));
            run({
                let mut c = gpg(s);
                c.args([
                    "--local-user",
                    &s.key,
                    "--armor",
                    "--detach-sign",
                    "--output",
                ])
                .arg(&asc)
                .arg(&path);
                c
            })?;
        }
        index.push_str(&rel);
        index.push('\n');
        changes.push((rel.clone(), a.current_release));
        let url = format!("{base}/.well-known/csaf/{rel}");
        entries.push(json!({
            "id": a.tracking_id,
            "title": a.title,
            "link": [{"rel": "self", "href": url}],
            "published": a.initial_release.to_string(),
            "updated": a.current_release.to_string(),
            "summary": {"content": a.title},
            "content": {"type": "application/json", "src": url},
            "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"},
        }));
    }
    changes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let csv: String = changes
        .iter()
        .map(|(p, t)| format!("\"{p}\",\"{t}\"\n"))
        .collect();
    write(&staging.join("index.txt"), index.as_bytes())?;
    write(&staging.join("changes.csv"), csv.as_bytes())?;
    let now = Timestamp::now().to_string();
    let feed_url = format!("{base}/.well-known/csaf/feed-tlp-white.json");
    let feed = json!({"feed": {
        "id": format!("{}-tlp-white", coordinator.name.to_lowercase().replace(' ', "-")),
        "title": format!("{} CSAF feed (TLP:WHITE)", coordinator.name),
        "link": [{"rel": "self", "href": feed_url}],
        "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
        "updated": now,
        "entry": entries,
    }});
    write(
        &staging.join("feed-tlp-white.json"),
        serde_json::to_string_pretty(&feed)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let mut metadata = json!({
        "canonical_url": format!("{base}/.well-known/csaf/provider-metadata.json"),
        "distributions": [{"rolie": {"feeds": [{"summary": "TLP:WHITE advisories", "tlp_label": "WHITE", "url": feed_url}]}}],
        "last_updated": now,
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "publisher": {"category": "coordinator", "name": coordinator.name, "namespace": base},
        "role": "csaf_trusted_provider",
    });
    if let Some(f) = &fingerprint {
        metadata["public_openpgp_keys"] =
            json!([{"fingerprint": f, "url": format!("{base}/.well-known/csaf/openpgp/{f}.asc")}]);
    }
    write(
        &staging.join("provider-metadata.json"),
        serde_json::to_string_pretty(&metadata)
            .unwrap_or_default()
            .as_bytes(),
    )?;

    // Swap the new tree in.
    let old = out.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if out.exists() {
        std::fs::rename(out, &old).map_err(io(out))?;
    }
    std::fs::rename(&staging, out).map_err(io(out))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(Published {
        advisories: advisories.len(),
        signed: signer.is_some(),
        fingerprint,
    })
}

/// A file of the published provider tree, for everyone: its bytes and media type.
/// NotFound when the hub publishes no tree, for paths that leave the tree or name a
/// hidden file, and for files that are not there.
pub fn published_file(s: &AppState, path: &str) -> Result<(Vec<u8>, &'static str)> {
    let Some(dir) = &s.config.provider_dir else {
        return Err(Error::new(
            Kind::NotFound,
            "this hub publishes no CSAF provider tree",
        ));
    };
    let not_found = || Error::new(Kind::NotFound, "not found");
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == ".." || seg.starts_with('.'))
    {
        return Err(not_found());
    }
    let full = dir.join(path);
    let ctype = match full.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        _ => "text/plain; charset=utf-8",
    };
    let bytes = std::fs::read(&full).map_err(|_| not_found())?;
    Ok((bytes, ctype))
}
