//! The audit log against someone who holds the database but not the hub's secret key:
//! they drop the append-only triggers, delete entries and recompute the chain. The keyed
//! chain shows the rewrite; a signed checkpoint kept elsewhere shows a cut tail.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use hinomi_store::Location;

use crate::Hub;

/// Runs SQL statements on the hub's database directly, as an attacker with a copy would.
fn raw(hub: &Hub, statements: &[String]) {
    match &hub.location {
        Location::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            for s in statements {
                c.execute_batch(s).unwrap();
            }
        }
        Location::Postgres(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            for s in statements {
                c.batch_execute(s).unwrap();
            }
        }
    }
}

fn drop_triggers(hub: &Hub) -> String {
    match hub.location {
        Location::Sqlite(_) => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;".into()
        }
        Location::Postgres(_) => "DROP TRIGGER audit_log_no_change ON audit_log;".into(),
    }
}

fn entries(hub: &Hub) -> Vec<Value> {
    let r = hub.rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None);
    r.json()["entries"].as_array().unwrap().clone()
}

/// The plain SHA-256 chain an attacker without the key can compute.
fn plain_hash(prev: &str, e: &Value) -> String {
    let at = hinomi_stix::Timestamp::parse(e["at"].as_str().unwrap())
        .unwrap()
        .micros()
        .to_string();
    let detail = serde_json::to_string(&e["detail"]).unwrap();
    let mut h = Sha256::new();
    for part in [
        prev,
        &at,
        e["actor_organization_id"].as_str().unwrap_or(""),
        e["action"].as_str().unwrap(),
        e["subject"].as_str().unwrap_or(""),
        &detail,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn verify(hub: &Hub, checkpoints: &[Value]) -> Value {
    let r = hub.rest(
        "POST",
        "/api/v1/audit/verify",
        &hub.admin,
        Some(json!({ "checkpoints": checkpoints })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn a_rewritten_or_truncated_audit_log_is_detected() {
    let hub = Hub::start();
    for i in 0..12 {
        hub.member(&format!("Org {i}"), "private");
    }
    let all = entries(&hub);
    assert!(all.len() >= 24, "{}", all.len());
    // The bootstrap ran without the key; from the hub's start on, the chain is keyed.
    let start = all
        .iter()
        .position(|e| e["action"] == "audit.keyed")
        .expect("the keyed chain starts when the hub does");
    assert!(all[start..]
        .iter()
        .all(|e| e["hash"].as_str().unwrap().starts_with("k1:")));
    let r = hub.rest("GET", "/api/v1/audit/checkpoint", &hub.admin, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let checkpoint = r.json();
    assert_eq!(checkpoint["seq"], all.last().unwrap()["seq"]);
    let (_, member) = hub.member("Member", "private");
    assert_eq!(
        hub.rest("GET", "/api/v1/audit/checkpoint", &member, None)
            .status,
        403
    );
    let v = verify(&hub, std::slice::from_ref(&checkpoint));
    assert_eq!(v["intact"], true, "{v}");

    // A forged checkpoint is not this hub's.
    let mut forged = checkpoint.clone();
    forged["seq"] = json!(3);
    let v = verify(&hub, &[forged]);
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["checkpoints"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("signature"));

    // The tail is cut (the entries after the checkpoint too): the chain that is left
    // verifies, the checkpoint does not.
    let last = checkpoint["seq"].as_i64().unwrap();
    raw(
        &hub,
        &[
            drop_triggers(&hub),
            format!("DELETE FROM audit_log WHERE seq > {}", last - 10),
        ],
    );
    assert_eq!(
        hub.rest("GET", "/api/v1/audit/verify", &hub.admin, None)
            .json()["intact"],
        true,
        "a cut tail alone leaves a consistent chain"
    );
    let v = verify(&hub, std::slice::from_ref(&checkpoint));
    assert_eq!(v["intact"], false, "{v}");
    assert!(
        v["checkpoints"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{v}"
    );

    // An entry in the middle is deleted and the chain recomputed without the key.
    let kept: Vec<Value> = entries(&hub)
        .into_iter()
        .filter(|e| e["seq"] != json!(5))
        .collect();
    let mut sql = vec![String::from("DELETE FROM audit_log WHERE seq = 5")];
    let mut prev = "0".to_string();
    for e in &kept {
        let h = plain_hash(&prev, e);
        sql.push(format!(
            "UPDATE audit_log SET prev_hash = '{prev}', hash = '{h}' WHERE seq = {}",
            e["seq"]
        ));
        prev = h;
    }
    raw(&hub, &sql);
    let v = hub
        .rest("GET", "/api/v1/audit/verify", &hub.admin, None)
        .json();
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["first_broken_seq"].is_i64(), "{v}");
}
