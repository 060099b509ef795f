//! Matching advisories against asset inventories.
//!
//! [`Matcher::new`] compiles one CSAF advisory once: every product that a
//! vulnerability's `product_status` names is indexed under the keys an
//! inventory component can be probed with — its purl `type/namespace/name`,
//! its CPE `vendor:product`, and its normalized product name. Probing a
//! component is then a few hash look-ups plus a version check on the few
//! candidates found ([`Matcher::match_component`]).
//!
//! For the other direction (one new advisory against every member's
//! inventory) [`InventoryIndex`] indexes the components of many inventories
//! under the same keys, so the advisory's products probe the inventories.
//!
//! A component matches a product when
//! 1. both have a purl: type, namespace and name are equal (case-folded),
//!    every qualifier of the product's purl other than `vers` is present and
//!    equal in the component's, and the version is in the product's range
//!    (purl version, `vers` qualifier, else the product's version branches);
//! 2. else both have a CPE: the product's CPE matches the component's (NISTIR
//!    7696 superset or equal; the component's CPE gets its version filled in
//!    when it has none), and the version is in the product's range;
//! 3. else (no common identifier) the normalized product names are equal,
//!    the vendors agree when both are known, and the version is in range.
//!
//! Ranges that are not `vers:` are read the way CISA writes them (`<= 3.0.5`,
//! `<V2.4`, `4.00 | 4.01`, `All versions`); a range that cannot be read still
//! matches, with [`Match::version_certain`] false.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;
use serde_json::Value;

use crate::cpe::{Cpe, Value as CpeValue};
use crate::inventory::{Component, Inventory};
use crate::product_tree::{self, Product};
use crate::purl::Purl;
use crate::vers::{Comparator, CompiledVers, Constraint, Vers, VersionKey};

/// The status of a product with respect to a vulnerability, as matching
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// `known_affected`, `first_affected`, `last_affected`.
    Affected,
    /// `under_investigation`.
    UnderInvestigation,
    /// `fixed`, `first_fixed`, and `recommended` (a recommended version is
    /// one to move to).
    Fixed,
    /// `known_not_affected`.
    NotAffected,
}

impl Status {
    fn from_csaf(key: &str) -> Option<Self> {
        Some(match key {
            "known_affected" | "first_affected" | "last_affected" => Self::Affected,
            "under_investigation" => Self::UnderInvestigation,
            "fixed" | "first_fixed" | "recommended" => Self::Fixed,
            "known_not_affected" => Self::NotAffected,
            _ => return None,
        })
    }
}

/// A remediation of a vulnerability, with its product groups expanded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remediation {
    pub category: String,
    pub details: String,
    pub url: Option<String>,
    /// `product_ids` plus the members of `group_ids`.
    pub product_ids: Vec<String>,
}

/// A CVSS base score of a vulnerability for some products.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cvss {
    /// `"2.0"`, `"3.0"`, `"3.1"` or `"4.0"`.
    pub version: String,
    pub base_score: f64,
    pub severity: String,
    pub vector: String,
}

/// One vulnerability of the advisory, as matching needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vulnerability {
    pub cve: Option<String>,
    /// `(id, name)`.
    pub cwe: Option<(String, String)>,
    pub title: Option<String>,
    pub remediations: Vec<Remediation>,
    /// `(products, score)` per `scores[]` entry with a CVSS score.
    pub scores: Vec<(Vec<String>, Cvss)>,
}

impl Vulnerability {
    /// `cve`, else `vulnerabilities[index]`.
    pub fn label(&self, index: usize) -> String {
        self.cve
            .clone()
            .unwrap_or_else(|| format!("vulnerabilities[{index}]"))
    }

    /// The score for a product: the newest CVSS version that lists it.
    pub fn cvss_for(&self, product_id: &str) -> Option<&Cvss> {
        self.scores
            .iter()
            .filter(|(ps, _)| ps.iter().any(|p| p == product_id))
            .map(|(_, s)| s)
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// The remediations that name a product (directly or by group).
    pub fn remediations_for<'a>(
        &'a self,
        product_id: &'a str,
    ) -> impl Iterator<Item = &'a Remediation> + 'a {
        self.remediations
            .iter()
            .filter(move |r| r.product_ids.iter().any(|p| p == product_id))
    }
}

/// A version constraint of a product (bounds parsed once).
#[derive(Debug, Clone)]
enum VersionRule {
    Any,
    Range(CompiledVers),
    /// A range we could not read: matches, uncertainly.
    Unreadable,
}

impl VersionRule {
    /// `Some(certain)` when `version` may be in the range.
    fn check(&self, version: Option<&str>) -> Option<bool> {
        self.check_prepared(version, None)
    }

    /// As `check`, using the component's version key when `prepared` has
    /// it for this scheme (no parsing in the hot loop).
    fn check_prepared(
        &self,
        version: Option<&str>,
        prepared: Option<(&Prepared, &Component)>,
    ) -> Option<bool> {
        match self {
            Self::Any => Some(true),
            Self::Unreadable => Some(false),
            Self::Range(v) => match version {
                None => Some(false),
                Some(ver) => {
                    let scheme = v.vers.scheme.as_str();
                    let owned;
                    let key = match prepared.and_then(|(p, c)| p.key_for(c, scheme, ver)) {
                        Some(k) => k,
                        None => {
                            let ver = if scheme == "generic" {
                                strip_v(ver)
                            } else {
                                ver
                            };
                            owned = VersionKey::new(scheme, ver);
                            &owned
                        }
                    };
                    v.contains_key(key).then_some(true)
                }
            },
        }
    }
}

fn strip_v(s: &str) -> &str {
    let s = s.trim();
    match s.as_bytes() {
        [b'v' | b'V', d, ..] if d.is_ascii_digit() => &s[1..],
        _ => s,
    }
}

/// The vers scheme for a purl type (`generic` when the type has none).
fn scheme_of(ty: &str) -> &str {
    match ty {
        "npm" | "pypi" | "maven" | "deb" | "rpm" | "cargo" | "golang" | "hex" => ty,
        "gem" | "nuget" | "composer" | "cocoapods" => "semver",
        _ => "generic",
    }
}

/// Read a free-text or `vers:` range / version list.
fn parse_rule(text: &str, scheme: &str, exact: bool) -> VersionRule {
    let t = text.trim();
    if t.starts_with("vers:") {
        return match Vers::parse_lenient(t) {
            Ok(v) if v.any => VersionRule::Any,
            Ok(mut v) => {
                if v.scheme == "all" {
                    v.scheme = scheme.into();
                }
                // Sorted and parsed once here, not per probe.
                VersionRule::Range(CompiledVers::new(v.normalized()))
            }
            Err(_) => VersionRule::Unreadable,
        };
    }
    let lower = t.to_ascii_lowercase();
    if lower == "all versions" || lower == "*" || lower == "all" {
        return VersionRule::Any;
    }
    let mut constraints = Vec::new();
    for part in t.split(['|', ',']) {
        let part = part.trim();
        let (comparator, rest) = if let Some(r) = part.strip_prefix(">=") {
            (Comparator::Ge, r)
        } else if let Some(r) = part.strip_prefix("<=") {
            (Comparator::Le, r)
        } else if let Some(r) = part.strip_prefix("!=") {
            (Comparator::Ne, r)
        } else if let Some(r) = part.strip_prefix('<') {
            (Comparator::Lt, r)
        } else if let Some(r) = part.strip_prefix('>') {
            (Comparator::Gt, r)
        } else if let Some(r) = part.strip_prefix('=') {
            (Comparator::Eq, r)
        } else if exact {
            (Comparator::Eq, part)
        } else {
            return VersionRule::Unreadable;
        };
        let version = strip_v(rest);
        if version.is_empty() {
            return VersionRule::Unreadable;
        }
        constraints.push(Constraint {
            comparator,
            version: version.to_string(),
        });
    }
    if constraints.is_empty() {
        return VersionRule::Unreadable;
    }
    VersionRule::Range(CompiledVers::new(
        Vers {
            scheme: if scheme == "generic" || !exact {
                "generic".into()
            } else {
                scheme.into()
            },
            constraints,
            any: false,
        }
        .normalized(),
    ))
}

/// Lowercase alphanumerics only: `Delta Electronics, Inc.` → `deltaelectronicsinc`.
pub fn normalize_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn vendors_agree(a: &str, b: &str) -> bool {
    a.is_empty() || b.is_empty() || a.contains(b) || b.contains(a)
}

// ---- keys -------------------------------------------------------------

/// FxHash-style hasher for already well-mixed `u64` keys and short strings.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Hash of the lowercased parts: the UTF-8 bytes of the lowercased text,
/// eight at a time, each part closed by `0xff`.
fn key_of(kind: u8, parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(kind);
    for p in parts {
        let mut buf = [0u8; 8];
        let mut n = 0;
        let mut push = |h: &mut FxHasher, b: u8| {
            buf[n] = b;
            n += 1;
            if n == 8 {
                h.write_u64(u64::from_le_bytes(buf));
                n = 0;
            }
        };
        for c in p.chars() {
            if c.is_ascii() {
                push(&mut h, c.to_ascii_lowercase() as u8);
            } else {
                for l in c.to_lowercase() {
                    let mut enc = [0u8; 4];
                    for &b in l.encode_utf8(&mut enc).as_bytes() {
                        push(&mut h, b);
                    }
                }
            }
        }
        if n > 0 {
            buf[n..].fill(0);
            h.write_u64(u64::from_le_bytes(buf));
        }
        h.write_u8(0xff);
    }
    h.finish()
}

fn purl_key(p: &Purl) -> u64 {
    key_of(
        b'p',
        &[&p.ty, p.namespace.as_deref().unwrap_or(""), &p.name],
    )
}

fn cpe_key(c: &Cpe) -> Option<u64> {
    match (c.vendor(), c.product()) {
        (CpeValue::Str(v), CpeValue::Str(p))
            if !v.contains(['*', '?']) && !p.contains(['*', '?']) =>
        {
            Some(key_of(b'c', &[v, p]))
        }
        _ => None,
    }
}

fn name_key(normalized: &str) -> u64 {
    key_of(b'n', &[normalized])
}

/// The probe keys of a component: purl, CPE, name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentKeys {
    purl: Option<u64>,
    cpe: Option<u64>,
    name: u64,
}

impl ComponentKeys {
    pub fn of(c: &Component) -> Self {
        Self {
            purl: c.purl.as_ref().map(purl_key),
            cpe: c.cpe.as_ref().and_then(cpe_key),
            name: name_key(&normalize_name(&c.name)),
        }
    }
}

/// What matching needs of a component, derived once (an [`InventoryIndex`]
/// keeps it per component): normalized name and vendor, the CPE with its
/// version filled in, and the version parsed for its scheme.
#[derive(Debug, Clone)]
struct Prepared {
    name: String,
    vendor: String,
    /// The component's CPE with its version filled in from `version`, when
    /// that changes it (else the CPE itself is the target).
    cpe_filled: Option<Cpe>,
    /// The key of `version` (else the purl's version) under the purl type's
    /// scheme, else under `generic` (`v` prefix stripped).
    key: Option<(&'static str, VersionKey)>,
}

/// The vers scheme of a purl type, when it has one of its own.
fn natural_scheme(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "npm" => "npm",
        "pypi" => "pypi",
        "maven" => "maven",
        "deb" => "deb",
        "rpm" => "rpm",
        "cargo" => "cargo",
        "golang" => "golang",
        "hex" => "hex",
        "gem" | "nuget" | "composer" | "cocoapods" => "semver",
        _ => return None,
    })
}

impl Prepared {
    fn of(c: &Component) -> Self {
        let key = prepared_version(c).map(|v| {
            match c.purl.as_ref().and_then(|p| natural_scheme(&p.ty)) {
                Some(s) => (s, VersionKey::new(s, v)),
                None => ("generic", VersionKey::new("generic", strip_v(v))),
            }
        });
        let cpe_filled = c
            .cpe
            .as_ref()
            .and_then(|cc| match (cc.version(), &c.version) {
                (CpeValue::Any | CpeValue::Na, Some(v)) => {
                    Some(cc.with_version(CpeValue::from_literal(v)))
                }
                _ => None,
            });
        let vendor = c
            .vendor
            .as_deref()
            .map(normalize_name)
            .or_else(|| {
                c.purl
                    .as_ref()
                    .and_then(|p| p.namespace.as_deref())
                    .map(normalize_name)
            })
            .or_else(|| {
                c.cpe
                    .as_ref()
                    .and_then(|x| x.vendor().literal())
                    .map(|s| normalize_name(&s))
            })
            .unwrap_or_default();
        Self {
            name: normalize_name(&c.name),
            vendor,
            cpe_filled,
            key,
        }
    }

    /// The CPE that a product's CPE is tested against.
    fn cpe_target<'a>(&'a self, c: &'a Component) -> Option<&'a Cpe> {
        self.cpe_filled.as_ref().or(c.cpe.as_ref())
    }

    /// The prepared key of `version` under `scheme`, if there is one.
    fn key_for(&self, c: &Component, scheme: &str, version: &str) -> Option<&VersionKey> {
        let (s, k) = self.key.as_ref()?;
        (*s == scheme && prepared_version(c) == Some(version)).then_some(k)
    }
}

/// The version string a component's key is made of.
fn prepared_version(c: &Component) -> Option<&str> {
    c.version
        .as_deref()
        .or_else(|| c.purl.as_ref().and_then(|p| p.version.as_deref()))
}

// ---- the compiled advisory ---------------------------------------------

/// A product that some vulnerability gives a status, compiled for matching.
#[derive(Debug, Clone)]
struct Rule {
    product: Product,
    purl: Option<Purl>,
    purl_key: Option<u64>,
    /// Version rule that goes with the purl (its version or `vers`).
    purl_rule: VersionRule,
    cpe: Option<Cpe>,
    /// Version rule from the branches.
    rule: VersionRule,
    name: String,
    name_key: u64,
    vendor: String,
    /// `(vulnerability index, status)`.
    statuses: Vec<(usize, Status)>,
}

/// A component ↔ product ↔ vulnerability match (indices, cheap to make).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Match {
    /// Index of the component in its inventory.
    pub component: usize,
    /// Index into [`Matcher::vulnerabilities`].
    pub vulnerability: usize,
    /// Index into [`Matcher::product`].
    pub product: usize,
    pub status: Status,
    /// False when the product's version range could not be read, or the
    /// component has no version to test against it.
    pub version_certain: bool,
    /// How the component was recognized.
    pub by: MatchedBy,
}

/// Which identifier produced a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Purl,
    Cpe,
    Name,
}

/// A match with everything a member needs to act on it (owned; serializable).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetFinding {
    pub component: usize,
    /// The CVE, else `vulnerabilities[N]`.
    pub vulnerability: String,
    pub vulnerability_index: usize,
    pub product_id: String,
    pub product_name: String,
    pub status: Status,
    pub version_certain: bool,
    pub matched_by: MatchedBy,
    pub remediations: Vec<Remediation>,
    pub cvss: Option<Cvss>,
    pub cwe: Option<(String, String)>,
}

/// One advisory compiled for matching against inventories.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    rules: Vec<Rule>,
    vulnerabilities: Vec<Vulnerability>,
    by_purl: FxMap<u64, Vec<u32>>,
    by_cpe: FxMap<u64, Vec<u32>>,
    /// CPEs whose vendor or product is a wildcard: tried on every CPE probe.
    cpe_scan: Vec<u32>,
    by_name: FxMap<u64, Vec<u32>>,
}

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(Value::as_str)
}

fn parse_vulnerability(v: &Value, groups: &HashMap<&str, Vec<&str>>) -> Vulnerability {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let remediations = v
        .get("remediations")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|r| {
            let mut ids: Vec<String> = strs(r.get("product_ids").unwrap_or(&Value::Null))
                .map(String::from)
                .collect();
            for g in strs(r.get("group_ids").unwrap_or(&Value::Null)) {
                for p in groups.get(g).map_or(&[][..], Vec::as_slice) {
                    if !ids.iter().any(|x| x == p) {
                        ids.push((*p).to_string());
                    }
                }
            }
            Remediation {
                category: s(r, "category").unwrap_or_default(),
                details: s(r, "details").unwrap_or_default(),
                url: s(r, "url"),
                product_ids: ids,
            }
        })
        .collect();
    let mut scores = Vec::new();
    for sc in v
        .get("scores")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let products: Vec<String> = strs(sc.get("products").unwrap_or(&Value::Null))
            .map(String::from)
            .collect();
        for key in ["cvss_v4", "cvss_v3", "cvss_v2"] {
            if let Some(c) = sc.get(key) {
                if let Some(cvss) = crate::cvss::from_csaf(c) {
                    scores.push((products.clone(), cvss));
                }
            }
        }
    }
    Vulnerability {
        cve: s(v, "cve"),
        cwe: v.get("cwe").map(|c| {
            (
                s(c, "id").unwrap_or_default(),
                s(c, "name").unwrap_or_default(),
            )
        }),
        title: s(v, "title"),
        remediations,
        scores,
    }
}

impl Matcher {
    /// Compile an advisory. Never fails: what cannot be read is left out (an
    /// advisory is validated separately with [`crate::validate`]).
    pub fn new(doc: &Value) -> Self {
        let products = product_tree::flatten(doc);
        let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
        for g in doc
            .pointer("/product_tree/product_groups")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
        {
            if let Some(id) = g.get("group_id").and_then(Value::as_str) {
                groups
                    .entry(id)
                    .or_default()
                    .extend(strs(g.get("product_ids").unwrap_or(&Value::Null)));
            }
        }
        let mut m = Self::default();
        let mut rule_of: HashMap<String, usize> = HashMap::new();
        for (vi, v) in doc
            .get("vulnerabilities")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            m.vulnerabilities.push(parse_vulnerability(v, &groups));
            let Some(ps) = v.get("product_status").and_then(Value::as_object) else {
                continue;
            };
            for (key, ids) in ps {
                let Some(status) = Status::from_csaf(key) else {
                    continue;
                };
                for id in strs(ids) {
                    let Some(p) = products.get(id) else { continue };
                    let ri = *rule_of
                        .entry(id.to_string())
                        .or_insert_with(|| m.add_rule(p, &products));
                    if !m.rules[ri].statuses.contains(&(vi, status)) {
                        m.rules[ri].statuses.push((vi, status));
                    }
                }
            }
        }
        m
    }

    fn add_rule(&mut self, p: &Product, all: &BTreeMap<String, Product>) -> usize {
        // A relationship product is identified by its product_reference.
        let base = p
            .relationship
            .as_ref()
            .and_then(|(_, r, _)| all.get(r))
            .unwrap_or(p);
        let purl = p
            .purl
            .as_deref()
            .or(base.purl.as_deref())
            .and_then(|s| Purl::parse(s).ok());
        let cpe = p
            .cpe
            .as_deref()
            .or(base.cpe.as_deref())
            .and_then(|s| Cpe::parse(s).ok());
        let scheme = purl.as_ref().map_or("generic", |p| scheme_of(&p.ty));
        let rule = match (&p.version, &p.product_version_range) {
            (_, Some(r)) => parse_rule(r, scheme, false),
            (Some(v), None) => parse_rule(v, scheme, true),
            (None, None) => VersionRule::Any,
        };
        let purl_rule = match &purl {
            Some(pu) => match pu.qualifiers.iter().find(|(k, _)| k == "vers") {
                Some((_, r)) => parse_rule(r, scheme, false),
                None => match &pu.version {
                    Some(v) => VersionRule::Range(CompiledVers::new(Vers {
                        scheme: scheme.into(),
                        constraints: vec![Constraint {
                            comparator: Comparator::Eq,
                            version: v.clone(),
                        }],
                        any: false,
                    })),
                    None => rule.clone(),
                },
            },
            None => VersionRule::Any,
        };
        let name = normalize_name(
            base.product
                .as_deref()
                .or(base.product_family.as_deref())
                .unwrap_or(&base.name),
        );
        let vendor = normalize_name(base.vendor.as_deref().unwrap_or(""));
        let idx = self.rules.len() as u32;
        if let Some(pu) = &purl {
            self.by_purl.entry(purl_key(pu)).or_default().push(idx);
        }
        if let Some(c) = &cpe {
            match cpe_key(c) {
                Some(k) => self.by_cpe.entry(k).or_default().push(idx),
                None => self.cpe_scan.push(idx),
            }
        }
        if !name.is_empty() {
            self.by_name.entry(name_key(&name)).or_default().push(idx);
        }
        self.rules.push(Rule {
            product: p.clone(),
            purl_key: purl.as_ref().map(purl_key),
            purl,
            purl_rule,
            cpe,
            rule,
            name_key: name_key(&name),
            name,
            vendor,
            statuses: Vec::new(),
        });
        idx as usize
    }

    /// The vulnerabilities, in document order.
    pub fn vulnerabilities(&self) -> &[Vulnerability] {
        &self.vulnerabilities
    }

    /// A product that matching can report, by [`Match::product`].
    pub fn product(&self, index: usize) -> &Product {
        &self.rules[index].product
    }

    /// The number of products that some vulnerability gives a status.
    pub fn product_count(&self) -> usize {
        self.rules.len()
    }

    /// Whether the advisory can match nothing at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn check(
        &self,
        ri: usize,
        c: &Component,
        keys: &ComponentKeys,
        prep: &Prepared,
    ) -> Option<(bool, MatchedBy)> {
        let r = &self.rules[ri];
        let version = c.version.as_deref();
        if let (Some(pp), Some(cp)) = (&r.purl, &c.purl) {
            if keys.purl != r.purl_key
                || !pp.ty.eq_ignore_ascii_case(&cp.ty)
                || !opt_eq(&pp.namespace, &cp.namespace)
                || !pp.name.eq_ignore_ascii_case(&cp.name)
                || !pp
                    .qualifiers
                    .iter()
                    .filter(|(k, _)| k != "vers")
                    .all(|q| cp.qualifiers.contains(q))
            {
                return None;
            }
            let v = version.or(cp.version.as_deref());
            return r
                .purl_rule
                .check_prepared(v, Some((prep, c)))
                .map(|c| (c, MatchedBy::Purl));
        }
        if let (Some(pc), Some(target)) = (&r.cpe, prep.cpe_target(c)) {
            if !pc.matches(target) {
                return None;
            }
            let literal;
            let v = match version {
                Some(v) => Some(v),
                None => {
                    literal = target.version().literal();
                    literal.as_deref()
                }
            };
            return r
                .rule
                .check_prepared(v, Some((prep, c)))
                .map(|c| (c, MatchedBy::Cpe));
        }
        if r.name.is_empty() || keys.name != r.name_key || prep.name != r.name {
            return None;
        }
        if !vendors_agree(&prep.vendor, &r.vendor) {
            return None;
        }
        r.rule
            .check_prepared(version, Some((prep, c)))
            .map(|c| (c, MatchedBy::Name))
    }

    fn candidates<'a>(&'a self, keys: &ComponentKeys) -> impl Iterator<Item = usize> + 'a {
        let get = |m: &'a FxMap<u64, Vec<u32>>, k: Option<u64>| {
            k.and_then(|k| m.get(&k)).map_or(&[][..], Vec::as_slice)
        };
        let scan = if keys.cpe.is_some() || !self.cpe_scan.is_empty() {
            &self.cpe_scan[..]
        } else {
            &[][..]
        };
        get(&self.by_purl, keys.purl)
            .iter()
            .chain(get(&self.by_cpe, keys.cpe))
            .chain(scan)
            .chain(get(&self.by_name, Some(keys.name)))
            .map(|i| *i as usize)
    }

    /// Every match of one component (`index` is its place in its inventory).
    pub fn match_component(&self, index: usize, c: &Component, out: &mut Vec<Match>) {
        self.match_keyed(index, c, &ComponentKeys::of(c), out);
    }

    /// As [`Matcher::match_component`], with the keys computed beforehand
    /// (an inventory that is matched often keeps them).
    pub fn match_keyed(
        &self,
        index: usize,
        c: &Component,
        keys: &ComponentKeys,
        out: &mut Vec<Match>,
    ) {
        let mut candidates = self.candidates(keys).peekable();
        if candidates.peek().is_none() {
            return;
        }
        let prep = Prepared::of(c);
        self.match_candidates(index, c, keys, &prep, candidates, out);
    }

    fn match_candidates(
        &self,
        index: usize,
        c: &Component,
        keys: &ComponentKeys,
        prep: &Prepared,
        candidates: impl Iterator<Item = usize>,
        out: &mut Vec<Match>,
    ) {
        let start = out.len();
        for ri in candidates {
            let Some((certain, by)) = self.check(ri, c, keys, prep) else {
                continue;
            };
            for &(vi, status) in &self.rules[ri].statuses {
                let m = Match {
                    component: index,
                    vulnerability: vi,
                    product: ri,
                    status,
                    version_certain: certain,
                    by,
                };
                if !out[start..].contains(&m) {
                    out.push(m);
                }
            }
        }
    }

    /// Every match of an inventory, ordered by component, vulnerability,
    /// product.
    pub fn match_inventory(&self, inv: &Inventory) -> Vec<Match> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        for (i, c) in inv.components.iter().enumerate() {
            self.match_component(i, c, &mut out);
        }
        out.sort_unstable();
        out
    }

    /// The owned, serializable form of a match.
    pub fn finding(&self, m: &Match) -> AssetFinding {
        let v = &self.vulnerabilities[m.vulnerability];
        let p = &self.rules[m.product].product;
        AssetFinding {
            component: m.component,
            vulnerability: v.label(m.vulnerability),
            vulnerability_index: m.vulnerability,
            product_id: p.product_id.clone(),
            product_name: p.name.clone(),
            status: m.status,
            version_certain: m.version_certain,
            matched_by: m.by,
            remediations: v.remediations_for(&p.product_id).cloned().collect(),
            cvss: v.cvss_for(&p.product_id).cloned(),
            cwe: v.cwe.clone(),
        }
    }

    /// [`Matcher::match_inventory`] as findings.
    pub fn findings(&self, inv: &Inventory) -> Vec<AssetFinding> {
        self.match_inventory(inv)
            .iter()
            .map(|m| self.finding(m))
            .collect()
    }
}

fn opt_eq(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

// ---- many inventories ------------------------------------------------------

/// Many inventories indexed by component keys, so that one new advisory is
/// matched against all of them by probing only the keys its products have.
#[derive(Debug, Default)]
pub struct InventoryIndex {
    inventories: Vec<Inventory>,
    /// Per inventory, per component: its keys.
    keys: Vec<Vec<ComponentKeys>>,
    /// Per inventory, per component: what matching derives from it.
    prepared: Vec<Vec<Prepared>>,
    /// key → (inventory, component).
    by_key: FxMap<u64, Vec<(u32, u32)>>,
    /// Components with a CPE but no literal vendor/product key.
    cpe_any: Vec<(u32, u32)>,
}

impl InventoryIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an inventory; returns its index.
    pub fn insert(&mut self, inv: Inventory) -> usize {
        let ii = self.inventories.len() as u32;
        let keys: Vec<ComponentKeys> = inv.components.iter().map(ComponentKeys::of).collect();
        for (ci, k) in keys.iter().enumerate() {
            let at = (ii, ci as u32);
            let mut seen = [0u64; 3];
            let mut n = 0;
            for key in [k.purl, k.cpe, Some(k.name)].into_iter().flatten() {
                if !seen[..n].contains(&key) {
                    seen[n] = key;
                    n += 1;
                    self.by_key.entry(key).or_default().push(at);
                }
            }
            if k.cpe.is_none() && inv.components[ci].cpe.is_some() {
                self.cpe_any.push(at);
            }
        }
        self.prepared
            .push(inv.components.iter().map(Prepared::of).collect());
        self.inventories.push(inv);
        self.keys.push(keys);
        ii as usize
    }

    pub fn inventory(&self, index: usize) -> &Inventory {
        &self.inventories[index]
    }

    pub fn len(&self) -> usize {
        self.inventories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inventories.is_empty()
    }

    /// Every match of one advisory in every inventory, as `(inventory
    /// index, match)`, ordered.
    pub fn match_advisory(&self, matcher: &Matcher) -> Vec<(usize, Match)> {
        let mut hits: Vec<(u32, u32)> = Vec::new();
        let mut probe = |k: u64| {
            if let Some(v) = self.by_key.get(&k) {
                hits.extend_from_slice(v);
            }
        };
        for k in matcher
            .by_purl
            .keys()
            .chain(matcher.by_cpe.keys())
            .chain(matcher.by_name.keys())
        {
            probe(*k);
        }
        if !matcher.cpe_scan.is_empty() {
            // A wildcard vendor/product CPE can match any component with a
            // CPE: those are few and all probed.
            for (ii, inv) in self.keys.iter().enumerate() {
                for (ci, k) in inv.iter().enumerate() {
                    if k.cpe.is_some() {
                        hits.push((ii as u32, ci as u32));
                    }
                }
            }
        }
        hits.extend_from_slice(&self.cpe_any);
        hits.sort_unstable();
        hits.dedup();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (ii, ci) in hits {
            let (ii, ci) = (ii as usize, ci as usize);
            buf.clear();
            let keys = &self.keys[ii][ci];
            let component = &self.inventories[ii].components[ci];
            matcher.match_candidates(
                ci,
                component,
                keys,
                &self.prepared[ii][ci],
                matcher.candidates(keys),
                &mut buf,
            );
            out.extend(buf.iter().map(|m| (ii, *m)));
        }
        out.sort_unstable();
        out
    }
}

/// Compare versions under a scheme; exposed for callers that show ranges.
pub fn version_in(range: &str, scheme: &str, version: &str) -> Option<bool> {
    parse_rule(range, scheme, false).check(Some(version))
}
