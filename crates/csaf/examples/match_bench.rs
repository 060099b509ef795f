//! Matching benchmark on a synthetic but realistic workload: 2,000 CSAF
//! advisories × 1,000 organizations × 1,000 inventory components each.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-csaf cargo run -j1 --release -p hinomi-csaf \
//!     --example match_bench -- [--advisories 2000] [--orgs 1000] [--components 1000]
//! ```
//!
//! The package universe has 20,000 packages (npm, maven, pypi purls; 20 %
//! CPE-identified firmware; 10 % known only by vendor + product name);
//! inventories draw from it with a skewed (popular packages are common)
//! distribution. Each advisory names 1–8 packages of the universe, each
//! with a `vers:` range or a fixed version, plus a fixed product. Timings:
//! compiling the advisories, indexing the inventories, a full re-match of
//! every advisory against every inventory, and one new advisory against
//! all inventories (median of 101).

use std::time::Instant;

use hinomi_csaf::inventory::{Component, Inventory};
use hinomi_csaf::matching::{ComponentKeys, InventoryIndex, Matcher};
use serde_json::{json, Value};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Skewed towards small values.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

const UNIVERSE: u64 = 20_000;

fn kind(p: u64) -> u64 {
    p % 10 // 0,1: cpe; 2: name only; else purl
}

fn version(r: &mut Rng) -> (u64, u64, u64) {
    (r.below(5), r.below(20), r.below(30))
}

fn component(p: u64, (a, b, c): (u64, u64, u64)) -> Component {
    let v = format!("{a}.{b}.{c}");
    let j = match kind(p) {
        0 | 1 => json!({"name": format!("fw{p}"), "version": v,
            "cpe": format!("cpe:2.3:o:vendor{}:fw{p}:{v}:*:*:*:*:*:*:*", p % 97)}),
        2 => {
            json!({"name": format!("Product {p}"), "vendor": format!("Vendor {}", p % 97), "version": v})
        }
        k => {
            let ty = ["npm", "maven", "pypi"][(k % 3) as usize];
            let purl = if ty == "maven" {
                format!("pkg:maven/org.example{}/lib{p}@{v}", p % 50)
            } else {
                format!("pkg:{ty}/lib{p}@{v}")
            };
            json!({"name": format!("lib{p}"), "version": v, "purl": purl})
        }
    };
    Inventory::from_json(&json!({ "components": [j] }))
        .unwrap()
        .components
        .remove(0)
}

fn product(p: u64, id: &str, range: &str, fixed: &str) -> (Value, Value) {
    let helper = |ver: Option<&str>| match kind(p) {
        0 | 1 => {
            json!({"cpe": format!("cpe:2.3:o:vendor{}:fw{p}:{}:*:*:*:*:*:*:*", p % 97, ver.unwrap_or("*"))})
        }
        2 => Value::Null,
        k => {
            let ty = ["npm", "maven", "pypi"][(k % 3) as usize];
            let base = if ty == "maven" {
                format!("pkg:maven/org.example{}/lib{p}", p % 50)
            } else {
                format!("pkg:{ty}/lib{p}")
            };
            json!({"purl": ver.map_or(base.clone(), |v| format!("{base}@{v}"))})
        }
    };
    let scheme = match kind(p) {
        0..=2 => "generic",
        k => ["npm", "maven", "pypi"][(k % 3) as usize],
    };
    let mut affected =
        json!({"product_id": format!("{id}-A"), "name": format!("product {p} {range}")});
    let mut fixed_p =
        json!({"product_id": format!("{id}-F"), "name": format!("product {p} {fixed}")});
    if let h @ Value::Object(_) = helper(None) {
        affected["product_identification_helper"] = h;
    }
    if let h @ Value::Object(_) = helper(Some(fixed)) {
        fixed_p["product_identification_helper"] = h;
    }
    let name = if kind(p) == 2 {
        format!("Product {p}")
    } else if kind(p) < 2 {
        format!("fw{p}")
    } else {
        format!("lib{p}")
    };
    let branch = json!({"category": "vendor", "name": format!("Vendor {}", p % 97), "branches": [
        {"category": "product_name", "name": name, "branches": [
            {"category": "product_version_range", "name": format!("vers:{scheme}/<{range}"), "product": affected},
            {"category": "product_version", "name": fixed, "product": fixed_p}]}]});
    (branch, json!([format!("{id}-A"), format!("{id}-F")]))
}

fn advisory(r: &mut Rng, n: usize) -> Value {
    let mut branches = Vec::new();
    let mut affected = Vec::new();
    let mut fixed = Vec::new();
    for i in 0..1 + r.below(8) {
        let p = r.skewed(UNIVERSE);
        let (a, b, c) = version(r);
        let id = format!("ADV{n}-{i}");
        let (br, _) = product(p, &id, &format!("{a}.{b}.{c}"), &format!("{a}.{b}.{c}"));
        branches.push(br);
        affected.push(format!("{id}-A"));
        fixed.push(format!("{id}-F"));
    }
    json!({"product_tree": {"branches": branches},
        "vulnerabilities": [{"cve": format!("CVE-2025-{n:05}"),
            "product_status": {"known_affected": affected, "fixed": fixed},
            "remediations": [{"category": "vendor_fix", "details": "update", "product_ids": affected}],
            "scores": [{"products": affected, "cvss_v3": {"version": "3.1", "baseScore": 9.8, "baseSeverity": "CRITICAL",
                "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]}]})
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |n| n.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n_adv = arg(&args, "--advisories", 2000);
    let n_org = arg(&args, "--orgs", 1000);
    let n_comp = arg(&args, "--components", 1000);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);

    let docs: Vec<Value> = (0..n_adv).map(|n| advisory(&mut r, n)).collect();
    let t = Instant::now();
    let matchers: Vec<Matcher> = docs.iter().map(Matcher::new).collect();
    let compile = t.elapsed();
    let products: usize = matchers.iter().map(Matcher::product_count).sum();

    let invs: Vec<Inventory> = (0..n_org)
        .map(|_| Inventory {
            components: (0..n_comp)
                .map(|_| {
                    let p = r.skewed(UNIVERSE);
                    let v = version(&mut r);
                    component(p, v)
                })
                .collect(),
        })
        .collect();
    let t = Instant::now();
    let mut index = InventoryIndex::new();
    for inv in invs {
        index.insert(inv);
    }
    let indexing = t.elapsed();

    let t = Instant::now();
    let mut matches = 0usize;
    let mut affected = 0usize;
    for m in &matchers {
        let found = index.match_advisory(m);
        matches += found.len();
        affected += found
            .iter()
            .filter(|(_, x)| x.status == hinomi_csaf::matching::Status::Affected)
            .count();
    }
    let full = t.elapsed();

    let fresh = Matcher::new(&advisory(&mut r, n_adv));
    let mut times: Vec<f64> = (0..101)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(index.match_advisory(&fresh));
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    // One inventory probed against one advisory (the Matcher direction).
    let inv0 = index.inventory(0).clone();
    let t = Instant::now();
    let keys: Vec<_> = inv0.components.iter().map(ComponentKeys::of).collect();
    let mut probe_hits = 0;
    let mut buf = Vec::new();
    for m in &matchers {
        for (i, c) in inv0.components.iter().enumerate() {
            m.match_keyed(i, c, &keys[i], &mut buf);
        }
        probe_hits += buf.len();
        buf.clear();
    }
    let probe = t.elapsed();

    println!("advisories {n_adv} ({products} products with a status), organizations {n_org} x {n_comp} components");
    println!(
        "compile advisories      {:>9.1} ms",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "index inventories       {:>9.1} ms",
        indexing.as_secs_f64() * 1e3
    );
    println!(
        "full re-match           {:>9.1} ms  ({matches} matches, {affected} affected)",
        full.as_secs_f64() * 1e3
    );
    println!(
        "one new advisory        {:>9.3} ms  (median of 101)",
        times[50] * 1e3
    );
    println!(
        "1 inventory x all advisories via Matcher {:>7.1} ms  ({probe_hits} matches)",
        probe.as_secs_f64() * 1e3
    );
}
