//! The mandatory tests of CSAF 2.0 §6.1. Each test is a plain function over
//! the raw document; none assumes the document is schema-valid (a missing or
//! mistyped member simply yields nothing to check), and none stops at the
//! first failure.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::cvss;
use crate::datetime;
use crate::docversion::DocVersion;
use crate::language;
use crate::purl::Purl;
use crate::Finding;

/// A test: its id and the function that runs it.
pub(crate) type Test = (&'static str, fn(&Value, &mut Out));

/// Where a test writes its findings.
pub(crate) struct Out<'a> {
    pub test: &'static str,
    pub findings: &'a mut Vec<Finding>,
}

impl Out<'_> {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            test: self.test.to_string(),
            path: path.into(),
            message: message.into(),
        });
    }
}

/// All mandatory tests, in spec order.
pub(crate) const TESTS: &[Test] = &[
    ("6.1.1", t_6_1_1),
    ("6.1.2", t_6_1_2),
    ("6.1.3", t_6_1_3),
    ("6.1.4", t_6_1_4),
    ("6.1.5", t_6_1_5),
    ("6.1.6", t_6_1_6),
    ("6.1.7", t_6_1_7),
    ("6.1.8", t_6_1_8),
    ("6.1.9", t_6_1_9),
    ("6.1.10", t_6_1_10),
    ("6.1.11", t_6_1_11),
    ("6.1.12", t_6_1_12),
    ("6.1.13", t_6_1_13),
    ("6.1.14", t_6_1_14),
    ("6.1.15", t_6_1_15),
    ("6.1.16", t_6_1_16),
    ("6.1.17", t_6_1_17),
    ("6.1.18", t_6_1_18),
    ("6.1.19", t_6_1_19),
    ("6.1.20", t_6_1_20),
    ("6.1.21", t_6_1_21),
    ("6.1.22", t_6_1_22),
    ("6.1.23", t_6_1_23),
    ("6.1.24", t_6_1_24),
    ("6.1.25", t_6_1_25),
    ("6.1.26", t_6_1_26),
    ("6.1.27.1", t_6_1_27_1),
    ("6.1.27.2", t_6_1_27_2),
    ("6.1.27.3", t_6_1_27_3),
    ("6.1.27.4", t_6_1_27_4),
    ("6.1.27.5", t_6_1_27_5),
    ("6.1.27.6", t_6_1_27_6),
    ("6.1.27.7", t_6_1_27_7),
    ("6.1.27.8", t_6_1_27_8),
    ("6.1.27.9", t_6_1_27_9),
    ("6.1.27.10", t_6_1_27_10),
    ("6.1.27.11", t_6_1_27_11),
    ("6.1.28", t_6_1_28),
    ("6.1.29", t_6_1_29),
    ("6.1.30", t_6_1_30),
    ("6.1.31", t_6_1_31),
    ("6.1.32", t_6_1_32),
    ("6.1.33", t_6_1_33),
];

// ---------------------------------------------------------------- helpers

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    doc.ptr(pointer)
}

/// `Value::pointer` without its per-token allocation (the pointers here are
/// constants without `~` escapes).
trait Ptr {
    fn ptr(&self, pointer: &str) -> Option<&Value>;
}

impl Ptr for Value {
    fn ptr(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        debug_assert!(!rest.contains('~'));
        let mut v = self;
        for token in rest.split('/') {
            v = match v {
                Value::Object(map) => map.get(token)?,
                Value::Array(items) => {
                    if token.len() > 1 && token.starts_with('0') {
                        return None;
                    }
                    items.get(token.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(v)
    }
}

fn category(doc: &Value) -> Option<&str> {
    at(doc, "/document/category").and_then(Value::as_str)
}

fn status(doc: &Value) -> Option<&str> {
    at(doc, "/document/tracking/status").and_then(Value::as_str)
}

fn vulnerabilities(doc: &Value) -> impl Iterator<Item = (String, &Value)> {
    arr(doc, "vulnerabilities")
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("/vulnerabilities/{i}"), v))
}

/// `{base}/{key}/{i}`, formatted only when a finding needs it.
#[derive(Clone, Copy)]
struct ItemPath<'b> {
    base: &'b str,
    key: &'b str,
    i: usize,
}

impl std::fmt::Display for ItemPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.base, self.key, self.i)
    }
}

impl From<ItemPath<'_>> for String {
    fn from(p: ItemPath<'_>) -> String {
        p.to_string()
    }
}

/// `(value, path)` of each string in `v[key]`.
fn strings<'a, 'b>(v: &'a Value, key: &'b str, base: &'b str) -> Vec<(&'a str, ItemPath<'b>)> {
    arr(v, key)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_str().map(|s| (s, ItemPath { base, key, i })))
        .collect()
}

/// The JSON pointer of a value inside a document, found (by identity) only
/// when it is formatted: the walks of the tests build no path on success.
#[derive(Clone, Copy)]
struct At<'a> {
    doc: &'a Value,
    target: &'a Value,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn find<'a>(v: &'a Value, target: &Value, path: &mut crate::pointer::PathBuf<'a>) -> bool {
            if std::ptr::eq(v, target) {
                return true;
            }
            match v {
                Value::Array(items) => {
                    for (i, x) in items.iter().enumerate() {
                        path.push_index(i);
                        if find(x, target, path) {
                            return true;
                        }
                        path.pop();
                    }
                }
                Value::Object(map) => {
                    for (k, x) in map {
                        path.push_key(k);
                        if find(x, target, path) {
                            return true;
                        }
                        path.pop();
                    }
                }
                _ => {}
            }
            false
        }
        let mut path = crate::pointer::PathBuf::default();
        find(self.doc, self.target, &mut path);
        write!(f, "{path}")
    }
}

impl From<At<'_>> for String {
    fn from(a: At<'_>) -> String {
        a.to_string()
    }
}

/// Every full product name in the product tree: `(object, path)`.
fn full_product_names(doc: &Value) -> Vec<(&Value, At<'_>)> {
    fn walk<'a>(doc: &'a Value, branches: &'a [Value], out: &mut Vec<(&'a Value, At<'a>)>) {
        for b in branches {
            if let Some(prod) = b.get("product") {
                out.push((prod, At { doc, target: prod }));
            }
            walk(doc, arr(b, "branches"), out);
        }
    }
    let mut out = Vec::new();
    let Some(tree) = doc.get("product_tree") else {
        return out;
    };
    walk(doc, arr(tree, "branches"), &mut out);
    for f in arr(tree, "full_product_names") {
        out.push((f, At { doc, target: f }));
    }
    for r in arr(tree, "relationships") {
        if let Some(f) = r.get("full_product_name") {
            out.push((f, At { doc, target: f }));
        }
    }
    out
}

const STATUSES: &[&str] = &[
    "first_affected",
    "first_fixed",
    "fixed",
    "known_affected",
    "known_not_affected",
    "last_affected",
    "recommended",
    "under_investigation",
];

/// Every reference to a product id: `(id, path)`.
fn product_references(doc: &Value) -> Vec<(&str, At<'_>)> {
    fn push<'a>(doc: &'a Value, x: &'a Value, out: &mut Vec<(&'a str, At<'a>)>) {
        if let Some(s) = x.as_str() {
            out.push((s, At { doc, target: x }));
        }
    }
    fn strings<'a>(doc: &'a Value, v: &'a Value, key: &str, out: &mut Vec<(&'a str, At<'a>)>) {
        for x in arr(v, key) {
            push(doc, x, out);
        }
    }
    let mut out = Vec::new();
    if let Some(tree) = doc.get("product_tree") {
        for g in arr(tree, "product_groups") {
            strings(doc, g, "product_ids", &mut out);
        }
        for r in arr(tree, "relationships") {
            for key in ["product_reference", "relates_to_product_reference"] {
                if let Some(x) = r.get(key) {
                    push(doc, x, &mut out);
                }
            }
        }
    }
    for v in arr(doc, "vulnerabilities") {
        if let Some(ps) = v.get("product_status") {
            for key in STATUSES {
                strings(doc, ps, key, &mut out);
            }
        }
        for (list, key) in [
            ("remediations", "product_ids"),
            ("scores", "products"),
            ("threats", "product_ids"),
            ("flags", "product_ids"),
        ] {
            for x in arr(v, list) {
                strings(doc, x, key, &mut out);
            }
        }
    }
    out
}

/// product group id → member product ids.
fn group_members(doc: &Value) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for g in doc
        .ptr("/product_tree/product_groups")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        if let Some(id) = str_of(g, "group_id") {
            map.entry(id)
                .or_default()
                .extend(arr(g, "product_ids").iter().filter_map(Value::as_str));
        }
    }
    map
}

/// The products an item (remediation, threat, flag) applies to, directly or
/// through its product groups.
fn item_products<'a>(item: &'a Value, groups: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut set: HashSet<&str> = arr(item, "product_ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for g in arr(item, "group_ids").iter().filter_map(Value::as_str) {
        if let Some(m) = groups.get(g) {
            set.extend(m.iter().copied());
        }
    }
    set
}

struct Revision<'a> {
    index: usize,
    number: &'a str,
    version: Option<DocVersion>,
    date: Option<datetime::Instant>,
}

fn revisions(doc: &Value) -> Vec<Revision<'_>> {
    at(doc, "/document/tracking/revision_history")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .enumerate()
        .filter_map(|(index, r)| {
            let number = str_of(r, "number")?;
            Some(Revision {
                index,
                number,
                version: DocVersion::parse(number),
                date: str_of(r, "date").and_then(datetime::parse),
            })
        })
        .collect()
}

/// Revision history sorted ascending by date, items of the same date by
/// number (undated items last).
fn revisions_by_date(doc: &Value) -> Vec<Revision<'_>> {
    let mut revs = revisions(doc);
    revs.sort_by(|a, b| {
        (a.date.is_none(), a.date)
            .cmp(&(b.date.is_none(), b.date))
            .then_with(|| match (&a.version, &b.version) {
                (Some(x), Some(y)) => x.precedence(y),
                _ => std::cmp::Ordering::Equal,
            })
    });
    revs
}

fn doc_version(doc: &Value) -> Option<(&str, Option<DocVersion>)> {
    let s = at(doc, "/document/tracking/version").and_then(Value::as_str)?;
    Some((s, DocVersion::parse(s)))
}

fn is_released(doc: &Value) -> bool {
    matches!(status(doc), Some("final" | "interim"))
}

// ---------------------------------------------------------------- 6.1.1 - 6.1.7

fn t_6_1_1(doc: &Value, out: &mut Out) {
    let defined: HashSet<&str> = full_product_names(doc)
        .iter()
        .filter_map(|(f, _)| str_of(f, "product_id"))
        .collect();
    for (id, path) in product_references(doc) {
        if !defined.contains(id) {
            out.push(
                path,
                format!("product id {id} is not defined in the product tree"),
            );
        }
    }
}

fn t_6_1_2(doc: &Value, out: &mut Out) {
    let mut seen: HashMap<&str, At> = HashMap::new();
    for (f, path) in full_product_names(doc) {
        if let Some(id) = str_of(f, "product_id") {
            if let Some(first) = seen.get(id) {
                out.push(
                    format!("{path}/product_id"),
                    format!("product id {id} is already defined at {first}/product_id"),
                );
            } else {
                seen.insert(id, path);
            }
        }
    }
}

fn t_6_1_3(doc: &Value, out: &mut Out) {
    let rels = doc
        .ptr("/product_tree/relationships")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rels {
        if let Some(id) = r
            .ptr("/full_product_name/product_id")
            .and_then(Value::as_str)
        {
            let e = edges.entry(id).or_default();
            e.extend(str_of(r, "product_reference"));
            e.extend(str_of(r, "relates_to_product_reference"));
        }
    }
    // One strongly-connected-component pass over the whole graph (linear): an id is
    // defined in terms of itself when its component has more than one member or it
    // refers to itself.
    let circular = on_cycles(&edges);
    for (i, r) in rels.iter().enumerate() {
        let Some(id) = r
            .ptr("/full_product_name/product_id")
            .and_then(Value::as_str)
        else {
            continue;
        };
        if circular.contains(id) {
            out.push(
                format!("/product_tree/relationships/{i}/full_product_name/product_id"),
                format!("product id {id} is defined in terms of itself"),
            );
        }
    }
}

/// The nodes of `edges` that lie on a cycle: Tarjan's algorithm, iterative (a chain of
/// any length cannot overflow the stack), O(nodes + edges).
fn on_cycles<'a>(edges: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut index: HashMap<&str, (usize, usize)> = HashMap::new(); // node -> (index, lowlink)
    let mut on_stack: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = Vec::new();
    let mut out = HashSet::new();
    let mut next = 0usize;
    let none: Vec<&str> = Vec::new();
    for &root in edges.keys() {
        if index.contains_key(root) {
            continue;
        }
        // (node, position in its edge list)
        let mut work: Vec<(&str, usize)> = vec![(root, 0)];
        index.insert(root, (next, next));
        next += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            let succ = edges.get(v).unwrap_or(&none);
            if *pos < succ.len() {
                let w = succ[*pos];
                *pos += 1;
                if w == v {
                    out.insert(v);
                }
                match index.get(w).copied() {
                    None => {
                        index.insert(w, (next, next));
                        next += 1;
                        stack.push(w);
                        on_stack.insert(w);
                        work.push((w, 0));
                    }
                    Some((wi, _)) if on_stack.contains(w) => {
                        let e = index.get_mut(v).unwrap();
                        e.1 = e.1.min(wi);
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            let (vi, vl) = index[v];
            if let Some(&(parent, _)) = work.last() {
                let p = index.get_mut(parent).unwrap();
                p.1 = p.1.min(vl);
            }
            if vl == vi {
                let mut members = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(w);
                    members.push(w);
                    if w == v {
                        break;
                    }
                }
                if members.len() > 1 {
                    out.extend(members);
                }
            }
        }
    }
    out
}

fn group_references(doc: &Value) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    for (vp, v) in vulnerabilities(doc) {
        for list in ["remediations", "threats", "flags"] {
            for (j, x) in arr(v, list).iter().enumerate() {
                out.extend(
                    strings(x, "group_ids", &format!("{vp}/{list}/{j}"))
                        .into_iter()
                        .map(|(s, p)| (s, p.to_string())),
                );
            }
        }
    }
    out
}

fn t_6_1_4(doc: &Value, out: &mut Out) {
    let groups = group_members(doc);
    for (id, path) in group_references(doc) {
        if !groups.contains_key(id) {
            out.push(
                path,
                format!("product group id {id} is not defined in the product tree"),
            );
        }
    }
}

fn t_6_1_5(doc: &Value, out: &mut Out) {
    let mut seen = HashSet::new();
    let groups = doc
        .ptr("/product_tree/product_groups")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, g) in groups.iter().enumerate() {
        if let Some(id) = str_of(g, "group_id") {
            if !seen.insert(id) {
                out.push(
                    format!("/product_tree/product_groups/{i}/group_id"),
                    format!("product group id {id} is defined more than once"),
                );
            }
        }
    }
}

fn t_6_1_6(doc: &Value, out: &mut Out) {
    const GROUPS: &[(&str, &str)] = &[
        ("first_affected", "affected"),
        ("known_affected", "affected"),
        ("last_affected", "affected"),
        ("known_not_affected", "not affected"),
        ("first_fixed", "fixed"),
        ("fixed", "fixed"),
        ("under_investigation", "under investigation"),
    ];
    for (vp, v) in vulnerabilities(doc) {
        let Some(ps) = v.get("product_status") else {
            continue;
        };
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (key, group) in GROUPS {
            for (id, path) in strings(ps, key, &format!("{vp}/product_status")) {
                match seen.get(id) {
                    Some(g) if g != group => {
                        out.push(path, format!("product {id} is both {g} and {group}"));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(id, group);
                    }
                }
            }
        }
    }
}

fn t_6_1_7(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for (j, score) in arr(v, "scores").iter().enumerate() {
            let mut versions = Vec::new();
            if score.get("cvss_v2").is_some() {
                versions.push(
                    score
                        .ptr("/cvss_v2/version")
                        .and_then(Value::as_str)
                        .unwrap_or("2.0"),
                );
            }
            if let Some(v3) = score.get("cvss_v3") {
                versions.push(str_of(v3, "version").unwrap_or("3"));
            }
            for (id, path) in strings(score, "products", &format!("{vp}/scores/{j}")) {
                for &ver in &versions {
                    if !seen.insert((id, ver)) {
                        out.push(
                            path,
                            format!("product {id} has more than one CVSS {ver} score"),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- 6.1.8 - 6.1.13

/// Each CVSS object is checked against the FIRST schema of its version. The
/// CSAF schema pass already walks these objects (through its `$ref`s), so
/// errors found there below `cvss_v2`/`cvss_v3` are reported under 6.1.8 by
/// [`crate::validate_schema`]; this test only adds the version dispatch the
/// CSAF schema's `oneOf` cannot express.
fn t_6_1_8(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        for (j, score) in arr(v, "scores").iter().enumerate() {
            if let Some(v3) = score.get("cvss_v3") {
                let version = str_of(v3, "version");
                let prefix = str_of(v3, "vectorString")
                    .and_then(|s| s.strip_prefix("CVSS:"))
                    .and_then(|s| s.split('/').next());
                if let (Some(version), Some(prefix)) = (version, prefix) {
                    if version != prefix {
                        out.push(
                            format!("{vp}/scores/{j}/cvss_v3/vectorString"),
                            format!("vector is CVSS {prefix} but version is {version}"),
                        );
                    }
                }
            }
        }
    }
}

fn number(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn t_6_1_9(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        for (j, score) in arr(v, "scores").iter().enumerate() {
            if let Some(c) = score.get("cvss_v2") {
                let base = format!("{vp}/scores/{j}/cvss_v2");
                let computed = str_of(c, "vectorString")
                    .and_then(cvss::parse_vector)
                    .and_then(|(_, m)| cvss::score_v2(&m));
                if let Some(s) = computed {
                    check_scores(out, c, &base, s, None);
                }
            }
            if let Some(c) = score.get("cvss_v3") {
                let base = format!("{vp}/scores/{j}/cvss_v3");
                let computed = str_of(c, "vectorString")
                    .and_then(cvss::parse_vector)
                    .and_then(|(ver, m)| match ver {
                        Some("3.0") => cvss::score_v3(&m, 0),
                        Some("3.1") => cvss::score_v3(&m, 1),
                        _ => None,
                    });
                if let Some(s) = computed {
                    check_scores(out, c, &base, s, Some(()));
                }
            }
        }
    }
}

fn check_scores(out: &mut Out, c: &Value, base: &str, s: cvss::Scores, v3: Option<()>) {
    for (key, sev_key, expected) in [
        ("baseScore", "baseSeverity", s.base),
        ("temporalScore", "temporalSeverity", s.temporal),
        (
            "environmentalScore",
            "environmentalSeverity",
            s.environmental,
        ),
    ] {
        if let Some(given) = number(c, key) {
            if (given - expected).abs() > 1e-9 {
                out.push(
                    format!("{base}/{key}"),
                    format!("{key} is {given} but the vector yields {expected}"),
                );
            }
        }
        if v3.is_some() {
            if let Some(given) = str_of(c, sev_key) {
                let want = cvss::severity(expected);
                if given != want {
                    out.push(
                        format!("{base}/{sev_key}"),
                        format!("{sev_key} is {given} but the vector yields {want}"),
                    );
                }
            }
        }
    }
}

fn t_6_1_10(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        for (j, score) in arr(v, "scores").iter().enumerate() {
            for (key, table) in [("cvss_v2", cvss::V2_PROPS), ("cvss_v3", cvss::V3_PROPS)] {
                let Some(c) = score.get(key) else { continue };
                let Some((_, metrics)) = str_of(c, "vectorString").and_then(cvss::parse_vector)
                else {
                    continue;
                };
                for (prop, metric, codes) in table {
                    let Some(given) = str_of(c, prop) else {
                        continue;
                    };
                    let code = metrics.iter().find(|(m, _)| m == metric).map(|(_, c)| *c);
                    let implied = match code {
                        Some(code) => codes.iter().find(|(c, _)| *c == code).map(|(_, v)| *v),
                        None => Some("NOT_DEFINED"),
                    };
                    if implied != Some(given) {
                        out.push(
                            format!("{vp}/scores/{j}/{key}/{prop}"),
                            format!(
                                "{prop} is {given} but the vector says {}",
                                code.map_or("nothing".to_string(), |c| format!("{metric}:{c}"))
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn t_6_1_11(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        let Some(cwe) = v.get("cwe") else { continue };
        let Some(id) = str_of(cwe, "id") else {
            continue;
        };
        match crate::cwe::name(id) {
            None => out.push(format!("{vp}/cwe/id"), format!("{id} is not a known CWE")),
            Some(name) => {
                if let Some(given) = str_of(cwe, "name") {
                    if given != name {
                        out.push(
                            format!("{vp}/cwe/name"),
                            format!("the name of {id} is \"{name}\", not \"{given}\""),
                        );
                    }
                }
            }
        }
    }
}

fn t_6_1_12(doc: &Value, out: &mut Out) {
    for key in ["lang", "source_lang"] {
        if let Some(tag) = doc.get("document").and_then(|d| str_of(d, key)) {
            if let Err(e) = language::check(tag) {
                out.push(
                    format!("/document/{key}"),
                    format!("{tag} is not a valid language tag: {e}"),
                );
            }
        }
    }
}

fn t_6_1_13(doc: &Value, out: &mut Out) {
    for (f, path) in full_product_names(doc) {
        if let Some(p) = f
            .ptr("/product_identification_helper/purl")
            .and_then(Value::as_str)
        {
            if let Err(e) = Purl::parse(p) {
                out.push(
                    format!("{path}/product_identification_helper/purl"),
                    format!("invalid purl: {e}"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- 6.1.14 - 6.1.22: versions

fn rev_path(r: &Revision<'_>) -> String {
    format!("/document/tracking/revision_history/{}/number", r.index)
}

fn t_6_1_14(doc: &Value, out: &mut Out) {
    let revs = revisions_by_date(doc);
    for w in revs.windows(2) {
        if let (Some(a), Some(b)) = (&w[0].version, &w[1].version) {
            if a.precedence(b).is_gt() {
                out.push(
                    rev_path(&w[1]),
                    format!(
                        "revision {} is dated after revision {} but numbered before it",
                        w[1].number, w[0].number
                    ),
                );
            }
        }
    }
}

fn t_6_1_15(doc: &Value, out: &mut Out) {
    if at(doc, "/document/publisher/category").and_then(Value::as_str) == Some("translator")
        && at(doc, "/document/source_lang").is_none()
    {
        out.push(
            "/document/source_lang",
            "the publisher is a translator but source_lang is missing",
        );
    }
}

fn t_6_1_16(doc: &Value, out: &mut Out) {
    let Some((vs, Some(version))) = doc_version(doc) else {
        return;
    };
    let revs = revisions_by_date(doc);
    let Some(last) = revs.last() else { return };
    let Some(lv) = &last.version else { return };
    let draft = status(doc) == Some("draft");
    if version.normalized(draft) != lv.normalized(draft) {
        out.push(
            "/document/tracking/version",
            format!(
                "version {vs} is not the number of the latest revision ({})",
                last.number
            ),
        );
    }
}

fn t_6_1_17(doc: &Value, out: &mut Out) {
    let Some((vs, Some(v))) = doc_version(doc) else {
        return;
    };
    if (v.major() == 0 || v.pre_release().is_some()) && status(doc) != Some("draft") {
        if let Some(s) = status(doc) {
            out.push(
                "/document/tracking/status",
                format!("version {vs} requires status draft, not {s}"),
            );
        }
    }
}

fn t_6_1_18(doc: &Value, out: &mut Out) {
    if !is_released(doc) {
        return;
    }
    for r in revisions(doc) {
        if r.version.as_ref().is_some_and(|v| v.major() == 0) {
            out.push(
                rev_path(&r),
                format!(
                    "a final or interim document has the pre-release revision {}",
                    r.number
                ),
            );
        }
    }
}

fn t_6_1_19(doc: &Value, out: &mut Out) {
    for r in revisions(doc) {
        if r.version
            .as_ref()
            .and_then(DocVersion::pre_release)
            .is_some()
        {
            out.push(
                rev_path(&r),
                format!("revision number {} has a pre-release part", r.number),
            );
        }
    }
}

fn t_6_1_20(doc: &Value, out: &mut Out) {
    let Some((vs, Some(v))) = doc_version(doc) else {
        return;
    };
    if is_released(doc) && v.pre_release().is_some() {
        out.push(
            "/document/tracking/version",
            format!("a final or interim document has the pre-release version {vs}"),
        );
    }
}

fn t_6_1_21(doc: &Value, out: &mut Out) {
    // Sorted by date alone: items of the same date keep their document
    // order (unlike 6.1.14/6.1.16), as the OASIS corpus expects: a history
    // listing "2" before "1" on the same day does not start at 0 or 1.
    let mut revs = revisions(doc);
    revs.sort_by_key(|r| (r.date.is_none(), r.date));
    let mut majors: Vec<u64> = Vec::new();
    for r in revs {
        if let Some(v) = &r.version {
            if !majors.contains(&v.major()) {
                majors.push(v.major());
            }
        }
    }
    let Some(&first) = majors.first() else { return };
    if first > 1 {
        out.push(
            "/document/tracking/revision_history",
            format!("revision history starts at {first}, not 0 or 1"),
        );
    }
    for (i, &m) in majors.iter().enumerate() {
        let expected = first + i as u64;
        if m > expected {
            out.push(
                "/document/tracking/revision_history",
                format!("version {expected} is missing from the revision history"),
            );
        }
    }
}

fn t_6_1_22(doc: &Value, out: &mut Out) {
    let mut seen = HashSet::new();
    for r in revisions(doc) {
        if !seen.insert(r.number) {
            out.push(
                rev_path(&r),
                format!("revision number {} is used more than once", r.number),
            );
        }
    }
}

// ---------------------------------------------------------------- 6.1.23 - 6.1.26

fn t_6_1_23(doc: &Value, out: &mut Out) {
    let mut seen = HashSet::new();
    for (vp, v) in vulnerabilities(doc) {
        if let Some(cve) = str_of(v, "cve") {
            if !seen.insert(cve) {
                out.push(
                    format!("{vp}/cve"),
                    format!("{cve} is used by more than one vulnerability"),
                );
            }
        }
    }
}

fn t_6_1_24(doc: &Value, out: &mut Out) {
    for (vp, v) in vulnerabilities(doc) {
        let mut seen = HashSet::new();
        for (j, inv) in arr(v, "involvements").iter().enumerate() {
            let party = str_of(inv, "party");
            let date = str_of(inv, "date").map(|d| datetime::parse(d).ok_or(d));
            if !seen.insert((party, date)) {
                out.push(
                    format!("{vp}/involvements/{j}"),
                    format!(
                        "involvement of {} on the same date is given twice",
                        party.unwrap_or("?")
                    ),
                );
            }
        }
    }
}

fn t_6_1_25(doc: &Value, out: &mut Out) {
    for (f, path) in full_product_names(doc) {
        let Some(hashes) = f
            .ptr("/product_identification_helper/hashes")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, h) in hashes.iter().enumerate() {
            let mut seen = HashSet::new();
            for (j, fh) in arr(h, "file_hashes").iter().enumerate() {
                if let Some(alg) = str_of(fh, "algorithm") {
                    if !seen.insert(alg) {
                        out.push(
                            format!("{path}/product_identification_helper/hashes/{i}/file_hashes/{j}/algorithm"),
                            format!("hash algorithm {alg} is used twice for the same file"),
                        );
                    }
                }
            }
        }
    }
}

const PROFILES: &[(&str, &str)] = &[
    (
        "csaf_security_incident_response",
        "Security incident response",
    ),
    ("csaf_informational_advisory", "Informational Advisory"),
    ("csaf_security_advisory", "Security Advisory"),
    ("csaf_vex", "VEX"),
];

fn t_6_1_26(doc: &Value, out: &mut Out) {
    let Some(cat) = category(doc) else { return };
    if cat == "csaf_base" || PROFILES.iter().any(|(v, _)| *v == cat) {
        return;
    }
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    if cat.to_lowercase().starts_with("csaf_") {
        out.push(
            "/document/category",
            format!("{cat} uses the reserved prefix csaf_"),
        );
        return;
    }
    let n = norm(cat);
    for (value, name) in PROFILES {
        if n == norm(name) || n == norm(value) || n == norm(&value["csaf_".len()..]) {
            out.push(
                "/document/category",
                format!("{cat} is too close to the profile {name} ({value})"),
            );
            return;
        }
    }
}

// ---------------------------------------------------------------- 6.1.27: profiles

fn is_category(doc: &Value, cats: &[&str]) -> bool {
    category(doc).is_some_and(|c| cats.contains(&c))
}

const INFO_AND_IR: &[&str] = &[
    "csaf_informational_advisory",
    "csaf_security_incident_response",
];
const SA_AND_VEX: &[&str] = &["csaf_security_advisory", "csaf_vex"];

fn t_6_1_27_1(doc: &Value, out: &mut Out) {
    if !is_category(doc, INFO_AND_IR) {
        return;
    }
    let notes = at(doc, "/document/notes")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let ok = notes.iter().any(|n| {
        matches!(
            str_of(n, "category"),
            Some("description" | "details" | "general" | "summary")
        )
    });
    if !ok {
        out.push(
            "/document/notes",
            "needs a note of category description, details, general or summary",
        );
    }
}

fn t_6_1_27_2(doc: &Value, out: &mut Out) {
    if !is_category(doc, INFO_AND_IR) {
        return;
    }
    let refs = at(doc, "/document/references")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    // A reference without category is external (the schema's default).
    if !refs
        .iter()
        .any(|r| matches!(str_of(r, "category"), None | Some("external")))
    {
        out.push(
            "/document/references",
            "needs at least one external reference",
        );
    }
}

fn t_6_1_27_3(doc: &Value, out: &mut Out) {
    if is_category(doc, &["csaf_informational_advisory"]) && doc.get("vulnerabilities").is_some() {
        out.push(
            "/vulnerabilities",
            "an informational advisory has no vulnerabilities",
        );
    }
}

fn t_6_1_27_4(doc: &Value, out: &mut Out) {
    if is_category(doc, SA_AND_VEX) && doc.get("product_tree").is_none() {
        out.push("/product_tree", "this profile requires a product tree");
    }
}

fn t_6_1_27_5(doc: &Value, out: &mut Out) {
    if !is_category(doc, SA_AND_VEX) {
        return;
    }
    for (vp, v) in vulnerabilities(doc) {
        if v.get("notes").is_none() {
            out.push(vp, "this profile requires notes for each vulnerability");
        }
    }
}

fn t_6_1_27_6(doc: &Value, out: &mut Out) {
    if !is_category(doc, &["csaf_security_advisory"]) {
        return;
    }
    for (vp, v) in vulnerabilities(doc) {
        if v.get("product_status").is_none() {
            out.push(
                vp,
                "this profile requires a product status for each vulnerability",
            );
        }
    }
}

fn t_6_1_27_7(doc: &Value, out: &mut Out) {
    if !is_category(doc, &["csaf_vex"]) {
        return;
    }
    for (vp, v) in vulnerabilities(doc) {
        let ok = v.get("product_status").is_some_and(|ps| {
            [
                "fixed",
                "known_affected",
                "known_not_affected",
                "under_investigation",
            ]
            .iter()
            .any(|k| ps.get(k).is_some())
        });
        if !ok {
            out.push(
                format!("{vp}/product_status"),
                "needs fixed, known_affected, known_not_affected or under_investigation",
            );
        }
    }
}

fn t_6_1_27_8(doc: &Value, out: &mut Out) {
    if !is_category(doc, &["csaf_vex"]) {
        return;
    }
    for (vp, v) in vulnerabilities(doc) {
        if v.get("cve").is_none() && v.get("ids").is_none() {
            out.push(vp, "needs a cve or ids");
        }
    }
}

fn t_6_1_27_9(doc: &Value, out: &mut Out) {
    if !is_category(doc, &["csaf_vex"]) {
        return;
    }
    let groups = group_members(doc);
    for (vp, v) in vulnerabilities(doc) {
        let Some(ps) = v.get("product_status") else {
            continue;
        };
        let mut covered: HashSet<&str> = HashSet::new();
        for f in arr(v, "flags") {
            covered.extend(item_products(f, &groups));
        }
        for t in arr(v, "threats") {
            if str_of(t, "category") == Some("impact") {
                covered.extend(item_products(t, &groups));
            }
        }
        for (id, path) in strings(ps, "known_not_affected", &format!("{vp}/product_status")) {
            if !covered.contains(id) {
                out.push(
                    path,
                    format!("product {id} is not affected but has no impact statement"),
                );
            }
        }
    }
}

fn t_6_1_27_10(doc: &Value, out: &mut Out) {
    if !is_category(doc, &["csaf_vex"]) {
        return;
    }
    let groups = group_members(doc);
    for (vp, v) in vulnerabilities(doc) {
        let Some(ps) = v.get("product_status") else {
            continue;
        };
        let mut covered: HashSet<&str> = HashSet::new();
        for r in arr(v, "remediations") {
            covered.extend(item_products(r, &groups));
        }
        for (id, path) in strings(ps, "known_affected", &format!("{vp}/product_status")) {
            if !covered.contains(id) {
                out.push(
                    path,
                    format!("product {id} is affected but has no action statement"),
                );
            }
        }
    }
}

fn t_6_1_27_11(doc: &Value, out: &mut Out) {
    if is_category(doc, SA_AND_VEX) && doc.get("vulnerabilities").is_none() {
        out.push("/vulnerabilities", "this profile requires vulnerabilities");
    }
}

// ---------------------------------------------------------------- 6.1.28 - 6.1.33

fn t_6_1_28(doc: &Value, out: &mut Out) {
    let lang = at(doc, "/document/lang").and_then(Value::as_str);
    let source = at(doc, "/document/source_lang").and_then(Value::as_str);
    if let (Some(l), Some(s)) = (lang, source) {
        if l.eq_ignore_ascii_case(s) {
            out.push(
                "/document/lang",
                format!("a translation into {l} from {s} is no translation"),
            );
        }
    }
}

fn without_product_reference(doc: &Value, out: &mut Out, list: &str, what: &str) {
    for (vp, v) in vulnerabilities(doc) {
        for (j, x) in arr(v, list).iter().enumerate() {
            if x.get("product_ids").is_none() && x.get("group_ids").is_none() {
                out.push(
                    format!("{vp}/{list}/{j}"),
                    format!("{what} names neither product_ids nor group_ids"),
                );
            }
        }
    }
}

fn t_6_1_29(doc: &Value, out: &mut Out) {
    without_product_reference(doc, out, "remediations", "remediation");
}

fn t_6_1_30(doc: &Value, out: &mut Out) {
    let Some((vs, Some(v))) = doc_version(doc) else {
        return;
    };
    let integer = v.is_integer();
    for r in revisions(doc) {
        if let Some(rv) = &r.version {
            if rv.is_integer() != integer {
                out.push(
                    rev_path(&r),
                    format!(
                        "revision {} and version {vs} mix integer and semantic versioning",
                        r.number
                    ),
                );
            }
        }
    }
}

fn t_6_1_31(doc: &Value, out: &mut Out) {
    fn walk(branches: &[Value], base: String, out: &mut Out) {
        for (i, b) in branches.iter().enumerate() {
            let p = format!("{base}/{i}");
            if str_of(b, "category") == Some("product_version") {
                if let Some(name) = str_of(b, "name") {
                    let lower = name.to_lowercase();
                    let range = lower.contains('<')
                        || lower.contains('>')
                        || lower.split_whitespace().any(|w| {
                            [
                                "after", "all", "before", "earlier", "later", "prior", "versions",
                            ]
                            .contains(&w)
                        });
                    if range {
                        out.push(format!("{p}/name"), format!("product_version {name} is a version range (use product_version_range)"));
                    }
                }
            }
            walk(arr(b, "branches"), format!("{p}/branches"), out);
        }
    }
    if let Some(tree) = doc.get("product_tree") {
        walk(arr(tree, "branches"), "/product_tree/branches".into(), out);
    }
}

fn t_6_1_32(doc: &Value, out: &mut Out) {
    without_product_reference(doc, out, "flags", "flag");
}

fn t_6_1_33(doc: &Value, out: &mut Out) {
    let groups = group_members(doc);
    for (vp, v) in vulnerabilities(doc) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, f) in arr(v, "flags").iter().enumerate() {
            let mut products: Vec<&str> = item_products(f, &groups).into_iter().collect();
            products.sort_unstable();
            for id in products {
                if let Some(first) = seen.insert(id, j) {
                    out.push(
                        format!("{vp}/flags/{j}"),
                        format!("product {id} already has a VEX justification in flag {first}"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, Vec<&'a str>> {
        let mut g: HashMap<&str, Vec<&str>> = HashMap::new();
        for (a, b) in pairs {
            g.entry(a).or_default().push(b);
        }
        g
    }

    #[test]
    fn cycles_are_found_once_for_the_whole_graph() {
        let g = graph(&[
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("c", "d"),
            ("e", "e"),
            ("f", "a"),
        ]);
        let mut got: Vec<&str> = on_cycles(&g).into_iter().collect();
        got.sort();
        assert_eq!(got, ["a", "b", "c", "e"]);
        assert!(on_cycles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    }

    #[test]
    fn a_long_chain_closes_into_one_cycle_without_recursion() {
        let names: Vec<String> = (0..200_000).map(|i| format!("p{i}")).collect();
        let mut pairs: Vec<(&str, &str)> = names
            .windows(2)
            .map(|w| (w[0].as_str(), w[1].as_str()))
            .collect();
        assert!(on_cycles(&graph(&pairs)).is_empty());
        pairs.push((names.last().unwrap(), &names[0]));
        assert_eq!(on_cycles(&graph(&pairs)).len(), names.len());
    }
}
