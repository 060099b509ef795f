//! TAXII ingest and paging benchmark against a real `hinomi serve` process.
//!
//! ```text
//! cargo build --release -p hinomi
//! cargo run --release -p hinomi-hub --example taxii_bench -- \
//!     [--bin target/release/hinomi] [--objects 1000000] [--database-url postgres://…]
//! ```
//!
//! Workload: envelopes of 1,000 STIX indicators (the same generator as
//! bench/medallion_peer.py) POSTed to the shared collection, SQLite with
//! `synchronous=FULL` (every acknowledged envelope is durable). At 10k, 100k and the
//! final size it times the first page (`limit=1000`, median of 7) and a page deep in the
//! collection (via `next`), then pages through everything. Prints one JSON object.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TAXII: &str = "application/taxii+json;version=2.1";
const SHARED: &str = "4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60";

struct Args {
    bin: String,
    objects: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        bin: "target/release/hinomi".into(),
        objects: 1_000_000,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--bin" => a.bin = v,
            "--objects" => a.objects = v.parse().expect("--objects N"),
            "--database-url" => a.database_url = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// The i-th benchmark indicator (same shape as bench/medallion_peer.py).
pub fn indicator(i: usize) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", i >> 16, i),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("Malicious address {i}"),
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Server {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(a: &Args) -> Server {
    let dir = std::env::temp_dir().join(format!("hinomi-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store_args: Vec<String> = match &a.database_url {
        Some(u) => vec!["--database-url".into(), u.clone()],
        None => vec!["--data-dir".into(), dir.display().to_string()],
    };
    let out = Command::new(&a.bin)
        .arg("admin")
        .arg("bootstrap")
        .args(&store_args)
        .output()
        .expect("run hinomi");
    assert!(
        out.status.success(),
        "bootstrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&a.bin)
        .arg("serve")
        .args(&store_args)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("HINOMI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if ureq::get(&format!("{base}/healthz")).call().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = admin["token"].as_str().unwrap();
    let org: Value = ureq::post(&format!("{base}/api/v1/organizations"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({"name": "Bench member", "kind": "private"}))
        .unwrap()
        .into_json()
        .unwrap();
    let tok: Value = ureq::post(&format!(
        "{base}/api/v1/organizations/{}/tokens",
        org["id"].as_str().unwrap()
    ))
    .set("Authorization", &format!("Bearer {token}"))
    .send_json(json!({"role": "member"}))
    .unwrap()
    .into_json()
    .unwrap();
    Server {
        child,
        base,
        token: tok["token"].as_str().unwrap().to_string(),
    }
}

fn get(s: &Server, path: &str) -> (Value, usize) {
    let resp = ureq::get(&format!("{}{path}", s.base))
        .set("Authorization", &format!("Bearer {}", s.token))
        .set("Accept", TAXII)
        .call()
        .unwrap();
    let mut body = String::new();
    resp.into_reader()
        .take(1 << 30)
        .read_to_string(&mut body)
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let n = v["objects"].as_array().map_or(0, |a| a.len());
    (v, n)
}

/// The date_added of object `i`, from the response header of a one-object read.
fn date_added_of(s: &Server, i: usize) -> String {
    let id = indicator(i)["id"].as_str().unwrap().to_string();
    ureq::get(&format!(
        "{}/taxii2/hub/collections/{SHARED}/objects/{id}/",
        s.base
    ))
    .set("Authorization", &format!("Bearer {}", s.token))
    .set("Accept", TAXII)
    .call()
    .unwrap()
    .header("X-TAXII-Date-Added-First")
    .unwrap()
    .to_string()
}

/// Median milliseconds of the first page and of the page after object `deep_after`.
fn page_times(s: &Server, deep_after: usize) -> (f64, f64) {
    let objects = format!("/taxii2/hub/collections/{SHARED}/objects/?limit=1000");
    let time = |path: &str| {
        median(
            (0..7)
                .map(|_| {
                    let t = Instant::now();
                    let (_, n) = get(s, path);
                    assert!(n > 0);
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        )
    };
    let after = date_added_of(s, deep_after);
    (
        time(&objects),
        time(&format!("{objects}&added_after={after}")),
    )
}

fn main() {
    let a = args();
    let s = start(&a);
    let url = format!("{}/taxii2/hub/collections/{SHARED}/objects/", s.base);
    let envelopes = a.objects.div_ceil(1000);
    let mut rates = Vec::new();
    let mut checkpoints = Vec::new();
    let t_all = Instant::now();
    let mut ingest_secs = 0.0;
    for e in 0..envelopes {
        let objs: Vec<Value> = (e * 1000..(e + 1) * 1000).map(indicator).collect();
        let body = json!({ "objects": objs }).to_string();
        let t = Instant::now();
        let st: Value = ureq::post(&url)
            .set("Authorization", &format!("Bearer {}", s.token))
            .set("Accept", TAXII)
            .set("Content-Type", TAXII)
            .send_string(&body)
            .unwrap()
            .into_json()
            .unwrap();
        let dt = t.elapsed().as_secs_f64();
        ingest_secs += dt;
        assert_eq!(st["success_count"], 1000, "{st}");
        rates.push(1000.0 / dt);
        let n = (e + 1) * 1000;
        if n == 10_000 || n == 100_000 || n == envelopes * 1000 {
            // A page deep in the collection: the last 1,000 objects.
            let (first, deep) = page_times(&s, n - 1001);
            checkpoints.push(json!({"objects": n, "first_page_ms": first, "deep_page_ms": deep, "server_rss_mib": rss_kib(s.child.id()) as f64 / 1024.0}));
            eprintln!("{n} objects: first page {first:.1} ms, deep page {deep:.1} ms");
        }
        if e % 100 == 99 {
            eprintln!(
                "ingested {} objects, {:.0} objects/s so far",
                (e + 1) * 1000,
                (e + 1) as f64 * 1000.0 / ingest_secs
            );
        }
    }
    let wall = t_all.elapsed().as_secs_f64();

    // Page through everything.
    let t = Instant::now();
    let mut total = 0;
    let mut path =
        format!("/taxii2/hub/collections/{SHARED}/objects/?limit=1000&match[type]=indicator");
    loop {
        let (v, n) = get(&s, &path);
        total += n;
        match v["next"].as_str() {
            Some(next) if v["more"] == true => path = format!("/taxii2/hub/collections/{SHARED}/objects/?limit=1000&match[type]=indicator&next={next}"),
            _ => break,
        }
    }
    let page_secs = t.elapsed().as_secs_f64();
    assert_eq!(total, envelopes * 1000);
    let out = json!({
        "backend": if a.database_url.is_some() { "postgres" } else { "sqlite" },
        "objects": total,
        "ingest_objects_per_s_median_envelope": median(rates.clone()),
        "ingest_objects_per_s_overall": total as f64 / ingest_secs,
        "ingest_wall_s_including_checkpoints": wall,
        "paging_objects_per_s": total as f64 / page_secs,
        "paging_s": page_secs,
        "checkpoints": checkpoints,
        "server_rss_mib_after_paging": rss_kib(s.child.id()) as f64 / 1024.0,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
