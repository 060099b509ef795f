//! `vers:` version range specifiers (purl-spec VERS): canonical parsing,
//! normalization, containment, and version comparison per scheme (semver,
//! npm, pypi/PEP 440, maven, deb, rpm, generic).

use std::cmp::Ordering;
use std::fmt;

/// A constraint comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// One `comparator version` pair; `version` is percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub comparator: Comparator,
    pub version: String,
}

/// A parsed `vers:` range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vers {
    pub scheme: String,
    /// Empty with `any` set for `vers:<scheme>/*`.
    pub constraints: Vec<Constraint>,
    pub any: bool,
}

/// Why a `vers:` string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersError(pub String);

impl fmt::Display for VersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VersError {}

fn non_canonical(what: &str) -> VersError {
    VersError(format!("non-canonical VERS: {what}"))
}

fn decode_version(raw: &str, scheme: &str) -> Result<String, VersError> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                return Err(non_canonical("invalid percent-encoding in version"));
            };
            if hex.chars().any(|c| c.is_ascii_lowercase()) {
                return Err(non_canonical(
                    "percent-encoding in version is not canonical",
                ));
            }
            let byte = u8::from_str_radix(hex, 16)
                .map_err(|_| non_canonical("invalid percent-encoding in version"))?;
            if scheme == "datetime" && byte == b':' {
                return Err(non_canonical("datetime time colons must be unencoded"));
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let v =
        String::from_utf8(out).map_err(|_| non_canonical("invalid percent-encoding in version"))?;
    if scheme == "datetime" && (v.contains('t') || v.contains('z')) {
        return Err(non_canonical("datetime must use uppercase T and Z"));
    }
    Ok(v)
}

fn split_comparator(c: &str) -> (Comparator, &str) {
    for (p, cmp) in [
        (">=", Comparator::Ge),
        ("<=", Comparator::Le),
        ("!=", Comparator::Ne),
        ("<", Comparator::Lt),
        (">", Comparator::Gt),
        ("=", Comparator::Eq),
    ] {
        if let Some(rest) = c.strip_prefix(p) {
            return (cmp, rest);
        }
    }
    (Comparator::Eq, c)
}

impl Vers {
    /// Parse without requiring sorted constraints (then [`Vers::normalized`]
    /// sorts them).
    pub fn parse_lenient(s: &str) -> Result<Self, VersError> {
        if s.chars().any(|c| c.is_ascii_whitespace()) {
            return Err(non_canonical("whitespace is not permitted"));
        }
        let rest = s
            .strip_prefix("vers:")
            .ok_or_else(|| VersError("a VERS starts with vers:".into()))?;
        let (scheme, list) = rest
            .split_once('/')
            .ok_or_else(|| VersError("a VERS has a scheme and constraints".into()))?;
        if scheme.is_empty() || scheme.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(non_canonical("scheme must be lowercase and not empty"));
        }
        if list == "*" {
            return Ok(Self {
                scheme: scheme.into(),
                constraints: Vec::new(),
                any: true,
            });
        }
        if list.starts_with('|') {
            return Err(non_canonical("leading pipe is not permitted"));
        }
        if list.ends_with('|') {
            return Err(non_canonical("trailing pipe is not permitted"));
        }
        if list.contains("||") {
            return Err(non_canonical("consecutive pipes are not permitted"));
        }
        let mut constraints = Vec::new();
        for c in list.split('|') {
            let (comparator, raw) = split_comparator(c);
            if raw.is_empty() {
                return Err(VersError(format!("constraint {c} has no version")));
            }
            constraints.push(Constraint {
                comparator,
                version: decode_version(raw, scheme)?,
            });
        }
        Ok(Self {
            scheme: scheme.into(),
            constraints,
            any: false,
        })
    }

    /// Parse a canonical `vers:` string: constraints must be sorted.
    pub fn parse(s: &str) -> Result<Self, VersError> {
        let v = Self::parse_lenient(s)?;
        for w in v.constraints.windows(2) {
            if compare(&v.scheme, &w[0].version, &w[1].version) == Some(Ordering::Greater) {
                return Err(non_canonical("constraints are not sorted by version"));
            }
        }
        Ok(v)
    }

    /// The same range with constraints sorted by version (stable).
    pub fn normalized(&self) -> Self {
        let mut v = self.clone();
        v.constraints.sort_by(|a, b| {
            compare(&self.scheme, &a.version, &b.version).unwrap_or(Ordering::Equal)
        });
        v
    }

    /// Whether `version` lies in the range (the VERS containment algorithm).
    pub fn contains(&self, version: &str) -> bool {
        if self.any {
            return true;
        }
        let cmp = |a: &str, b: &str| compare(&self.scheme, a, b).unwrap_or(Ordering::Equal);
        for c in &self.constraints {
            if cmp(version, &c.version) == Ordering::Equal {
                match c.comparator {
                    Comparator::Eq | Comparator::Le | Comparator::Ge => return true,
                    Comparator::Ne => return false,
                    _ => {}
                }
            }
        }
        let sorted;
        let this = if self
            .constraints
            .windows(2)
            .all(|w| cmp(&w[0].version, &w[1].version).is_le())
        {
            self
        } else {
            sorted = self.normalized();
            &sorted
        };
        let ranges: Vec<&Constraint> = this
            .constraints
            .iter()
            .filter(|c| !matches!(c.comparator, Comparator::Eq | Comparator::Ne))
            .collect();
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            return false;
        };
        if matches!(first.comparator, Comparator::Lt | Comparator::Le)
            && cmp(version, &first.version).is_lt()
        {
            return true;
        }
        if matches!(last.comparator, Comparator::Gt | Comparator::Ge)
            && cmp(version, &last.version).is_gt()
        {
            return true;
        }
        for w in ranges.windows(2) {
            if matches!(w[0].comparator, Comparator::Gt | Comparator::Ge)
                && matches!(w[1].comparator, Comparator::Lt | Comparator::Le)
                && cmp(version, &w[0].version).is_gt()
                && cmp(version, &w[1].version).is_lt()
            {
                return true;
            }
        }
        false
    }
}

impl fmt::Display for Vers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vers:{}/", self.scheme)?;
        if self.any {
            return f.write_str("*");
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            if c.comparator != Comparator::Eq {
                f.write_str(c.comparator.as_str())?;
            }
            for ch in c.version.chars() {
                match ch {
                    '%' | '|' | '/' | '?' | '#' | '@' => write!(f, "%{:02X}", ch as u32)?,
                    _ => write!(f, "{ch}")?,
                }
            }
        }
        Ok(())
    }
}

/// Compare two versions of a scheme; `None` if a version is not valid in it.
pub fn compare(scheme: &str, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        "semver" | "npm" | "cargo" | "golang" | "hex" => Some(semver_key(a)?.cmp(&semver_key(b)?)),
        "pypi" => Some(pep440_key(a)?.cmp(&pep440_key(b)?)),
        "maven" => Some(maven::compare(a, b)),
        "deb" => Some(deb_compare(a, b)),
        "rpm" => Some(rpm_compare(a, b)),
        _ => Some(generic_compare(a, b)),
    }
}

/// A `(major, minor, patch, pre-release)` key; `v` prefixes and missing minor
/// or patch are tolerated, build metadata is ignored.
fn semver_key(v: &str) -> Option<(u64, u64, u64, PreRelease)> {
    let v = v.trim_start_matches(['v', '=']);
    let v = v.split_once('+').map_or(v, |(x, _)| x);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let mut nums = core.split('.');
    let major = nums.next()?.parse().ok()?;
    let minor = nums.next().map_or(Some(0), |n| n.parse().ok())?;
    let patch = nums.next().map_or(Some(0), |n| n.parse().ok())?;
    if nums.next().is_some() {
        return None;
    }
    Some((major, minor, patch, PreRelease(pre.map(String::from))))
}

/// A SemVer pre-release; none ranks above any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreRelease(Option<String>);

impl Ord for PreRelease {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => crate::docversion::compare_pre(a, b),
        }
    }
}

impl PartialOrd for PreRelease {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// PEP 440 sort key: epoch, release (trailing zeros dropped), pre, post,
/// dev, local, with the packaging library's infinities as `i64` extremes.
type Pep440Key = (u64, Vec<u64>, (i64, i64), i64, i64, Vec<(i64, String)>);

fn pep440_key(v: &str) -> Option<Pep440Key> {
    use std::sync::OnceLock;
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
        )
        .expect("pep440 regex")
    });
    let lower = v.trim().to_ascii_lowercase();
    let c = re.captures(&lower)?;
    let num = |i: usize| c.get(i).map(|m| m.as_str().parse::<i64>().unwrap_or(0));
    let epoch = c.get(1).map_or(Some(0), |m| m.as_str().parse().ok())?;
    let mut release: Vec<u64> = c[2].split('.').map(|n| n.parse().unwrap_or(0)).collect();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let pre = c.get(3).map(|m| {
        let rank = match m.as_str() {
            "a" | "alpha" => 0,
            "b" | "beta" => 1,
            _ => 2,
        };
        (rank, num(4).unwrap_or(0))
    });
    let post = num(5).or_else(|| c.get(6).map(|_| num(7).unwrap_or(0)));
    let dev = c.get(8).map(|_| num(9).unwrap_or(0));
    let pre_key = match (pre, post, dev) {
        (None, None, Some(_)) => (i64::MIN, 0),
        (None, _, _) => (i64::MAX, 0),
        (Some(p), _, _) => p,
    };
    let local = c
        .get(10)
        .map(|m| {
            m.as_str()
                .split(['-', '_', '.'])
                .map(|s| {
                    s.parse::<i64>()
                        .map_or((-1, s.to_string()), |n| (n, String::new()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some((
        epoch,
        release,
        pre_key,
        post.unwrap_or(i64::MIN),
        dev.unwrap_or(i64::MAX),
        local,
    ))
}

/// dpkg's `verrevcmp` on one part.
fn dpkg_part(a: &str, b: &str) -> Ordering {
    let order = |c: Option<u8>| -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(c) => i32::from(c) + 256,
        }
    };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

fn split_evr(v: &str, revision_sep: char) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, v),
    };
    let (upstream, revision) = rest.rsplit_once(revision_sep).unwrap_or((rest, ""));
    (epoch, upstream, revision)
}

/// Debian version comparison (`[epoch:]upstream[-revision]`).
fn deb_compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_evr(a, '-');
    let (eb, ub, rb) = split_evr(b, '-');
    ea.cmp(&eb)
        .then_with(|| dpkg_part(ua, ub))
        .then_with(|| dpkg_part(ra, rb))
}

/// rpm's `rpmvercmp` on one part.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        let skip = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| !c.is_ascii_alphanumeric() && **c != b'~' && **c != b'^')
                .count()
        };
        a = &a[skip(a)..];
        b = &b[skip(b)..];
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, _) | (_, None) => break,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let seg = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (seg(a), seg(b));
        if lb == 0 {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        let o = if numeric {
            let ta = &sa[sa.iter().take_while(|c| **c == b'0').count()..];
            let tb = &sb[sb.iter().take_while(|c| **c == b'0').count()..];
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if o.is_ne() {
            return o;
        }
        a = &a[la..];
        b = &b[lb..];
    }
    a.len().cmp(&b.len())
}

/// RPM version comparison (`[epoch:]version[-release]`).
fn rpm_compare(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a, '-');
    let (eb, vb, rb) = split_evr(b, '-');
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| rpmvercmp(ra, rb))
}

/// A token of a generic version: a number or a non-digit run.
type GenericToken = Result<u128, String>;

fn generic_tokens(s: &str) -> Vec<GenericToken> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut digit = false;
    for ch in s.chars() {
        let is_sep = ".-_+".contains(ch);
        if (is_sep || ch.is_ascii_digit() != digit) && !cur.is_empty() {
            out.push(if digit {
                cur.parse().map_err(|_| cur.clone())
            } else {
                Err(cur.clone())
            });
            cur.clear();
        }
        if !is_sep {
            digit = ch.is_ascii_digit();
            cur.push(ch);
        }
    }
    if !cur.is_empty() {
        out.push(if digit {
            cur.parse().map_err(|_| cur.clone())
        } else {
            Err(cur)
        });
    }
    out
}

fn generic_cmp_tokens(ta: &[GenericToken], tb: &[GenericToken]) -> Ordering {
    for (x, y) in ta.iter().zip(tb) {
        let o = match (x, y) {
            (Ok(m), Ok(n)) => m.cmp(n),
            (Ok(_), Err(_)) => Ordering::Greater,
            (Err(_), Ok(_)) => Ordering::Less,
            (Err(s), Err(t)) => s.cmp(t),
        };
        if o.is_ne() {
            return o;
        }
    }
    ta.len().cmp(&tb.len())
}

/// Generic: runs of digits compare numerically, other runs lexically,
/// separators (`.`, `-`, `_`, `+`) only split.
fn generic_compare(a: &str, b: &str) -> Ordering {
    generic_cmp_tokens(&generic_tokens(a), &generic_tokens(b))
}

/// A version parsed once for one scheme, so that comparing it against many
/// range bounds parses nothing ([`compare`] parses both sides every call).
#[derive(Debug, Clone)]
pub(crate) enum VersionKey {
    Semver(Option<(u64, u64, u64, PreRelease)>),
    Pep440(Option<Pep440Key>),
    Maven(Vec<maven::Item>),
    Deb(String),
    Rpm(String),
    Generic(Vec<GenericToken>),
}

impl VersionKey {
    pub(crate) fn new(scheme: &str, v: &str) -> Self {
        match scheme {
            "semver" | "npm" | "cargo" | "golang" | "hex" => Self::Semver(semver_key(v)),
            "pypi" => Self::Pep440(pep440_key(v)),
            "maven" => Self::Maven(maven::parse(v)),
            "deb" => Self::Deb(v.to_string()),
            "rpm" => Self::Rpm(v.to_string()),
            _ => Self::Generic(generic_tokens(v)),
        }
    }

    /// As [`compare`] under the scheme both keys were made for; a version
    /// that does not parse compares equal (as `contains` treats `None`).
    pub(crate) fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Semver(Some(a)), Self::Semver(Some(b))) => a.cmp(b),
            (Self::Pep440(Some(a)), Self::Pep440(Some(b))) => a.cmp(b),
            (Self::Maven(a), Self::Maven(b)) => maven::cmp_lists(a, b),
            (Self::Deb(a), Self::Deb(b)) => deb_compare(a, b),
            (Self::Rpm(a), Self::Rpm(b)) => rpm_compare(a, b),
            (Self::Generic(a), Self::Generic(b)) => generic_cmp_tokens(a, b),
            _ => Ordering::Equal,
        }
    }
}

/// A [`Vers`] compiled for repeated [`Vers::contains`] checks: every bound
/// parsed once, the sort order settled once. Same answers as `contains`.
#[derive(Debug, Clone)]
pub(crate) struct CompiledVers {
    pub(crate) vers: Vers,
    /// `(comparator, key)` of every constraint, in the range's order.
    all: Vec<(Comparator, VersionKey)>,
    /// The constraints other than `=`/`!=`, sorted by version.
    ranges: Vec<(Comparator, VersionKey)>,
}

impl CompiledVers {
    pub(crate) fn new(vers: Vers) -> Self {
        let key = |c: &Constraint| (c.comparator, VersionKey::new(&vers.scheme, &c.version));
        let all: Vec<_> = vers.constraints.iter().map(key).collect();
        let sorted = all.windows(2).all(|w| w[0].1.cmp(&w[1].1).is_le());
        let ranges = if sorted {
            all.iter()
                .filter(|(c, _)| !matches!(c, Comparator::Eq | Comparator::Ne))
                .cloned()
                .collect()
        } else {
            vers.normalized()
                .constraints
                .iter()
                .filter(|c| !matches!(c.comparator, Comparator::Eq | Comparator::Ne))
                .map(key)
                .collect()
        };
        Self { vers, all, ranges }
    }

    /// [`Vers::contains`] for a version already keyed under this scheme.
    pub(crate) fn contains_key(&self, version: &VersionKey) -> bool {
        if self.vers.any {
            return true;
        }
        for (comparator, k) in &self.all {
            if version.cmp(k) == Ordering::Equal {
                match comparator {
                    Comparator::Eq | Comparator::Le | Comparator::Ge => return true,
                    Comparator::Ne => return false,
                    _ => {}
                }
            }
        }
        let (Some(first), Some(last)) = (self.ranges.first(), self.ranges.last()) else {
            return false;
        };
        if matches!(first.0, Comparator::Lt | Comparator::Le) && version.cmp(&first.1).is_lt() {
            return true;
        }
        if matches!(last.0, Comparator::Gt | Comparator::Ge) && version.cmp(&last.1).is_gt() {
            return true;
        }
        for w in self.ranges.windows(2) {
            if matches!(w[0].0, Comparator::Gt | Comparator::Ge)
                && matches!(w[1].0, Comparator::Lt | Comparator::Le)
                && version.cmp(&w[0].1).is_gt()
                && version.cmp(&w[1].1).is_lt()
            {
                return true;
            }
        }
        false
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, version: &str) -> bool {
        self.contains_key(&VersionKey::new(&self.vers.scheme, version))
    }
}

mod maven {
    //! Maven's `ComparableVersion`.

    use std::cmp::Ordering;

    const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

    #[derive(Debug, Clone)]
    pub(crate) enum Item {
        Int(String),
        Str(String),
        List(Vec<Item>),
    }

    /// `(index, "")` for a known qualifier, `(QUALIFIERS.len(), q)` for an
    /// unknown one: orders as Maven's `"i"` / `"7-q"` rank strings do.
    fn qualifier_rank(q: &str) -> (usize, &str) {
        match QUALIFIERS.iter().position(|x| *x == q) {
            Some(i) => (i, ""),
            None => (QUALIFIERS.len(), q),
        }
    }

    const RELEASE: (usize, &str) = (5, "");

    fn string_item(s: &str, followed_by_digit: bool) -> Item {
        let mut s = s.to_string();
        if followed_by_digit && s.len() == 1 {
            s = match s.as_str() {
                "a" => "alpha".into(),
                "b" => "beta".into(),
                "m" => "milestone".into(),
                _ => s,
            };
        }
        let s = match s.as_str() {
            "ga" | "final" | "release" => String::new(),
            "cr" => "rc".into(),
            _ => s,
        };
        Item::Str(s)
    }

    fn int_item(s: &str) -> Item {
        let t = s.trim_start_matches('0');
        Item::Int(t.to_string())
    }

    fn is_null(i: &Item) -> bool {
        match i {
            Item::Int(s) => s.is_empty(),
            Item::Str(s) => qualifier_rank(s) == RELEASE,
            Item::List(l) => l.is_empty(),
        }
    }

    fn normalize(list: &mut Vec<Item>) {
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            if is_null(&list[i]) {
                list.remove(i);
            } else if !matches!(list[i], Item::List(_)) {
                break;
            }
        }
    }

    /// Parse into nested lists: `-` and digit/letter transitions open a sub-list.
    pub(super) fn parse(v: &str) -> Vec<Item> {
        let v = v.to_lowercase();
        let chars: Vec<char> = v.chars().collect();
        // The stack of open lists; each is closed into its parent at the end.
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut is_digit = false;
        let mut start = 0;
        let sub = |a: usize, b: usize| -> String { chars[a..b].iter().collect() };
        let item = |digit: bool, s: &str, next_digit: bool| {
            if digit {
                int_item(s)
            } else {
                string_item(s, next_digit)
            }
        };
        for (i, &c) in chars.iter().enumerate() {
            if c == '.' {
                let it = if i == start {
                    Item::Int(String::new())
                } else {
                    item(is_digit, &sub(start, i), false)
                };
                stack.last_mut().expect("list").push(it);
                start = i + 1;
            } else if c == '-' {
                let it = if i == start {
                    Item::Int(String::new())
                } else {
                    item(is_digit, &sub(start, i), false)
                };
                stack.last_mut().expect("list").push(it);
                start = i + 1;
                stack.push(Vec::new());
            } else if c.is_ascii_digit() {
                if !is_digit && i > start {
                    stack
                        .last_mut()
                        .expect("list")
                        .push(string_item(&sub(start, i), true));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = true;
            } else {
                if is_digit && i > start {
                    stack
                        .last_mut()
                        .expect("list")
                        .push(int_item(&sub(start, i)));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = false;
            }
        }
        if chars.len() > start {
            let it = item(is_digit, &sub(start, chars.len()), false);
            stack.last_mut().expect("list").push(it);
        }
        while stack.len() > 1 {
            let mut l = stack.pop().expect("list");
            normalize(&mut l);
            stack.last_mut().expect("list").push(Item::List(l));
        }
        let mut root = stack.pop().expect("root");
        normalize(&mut root);
        root
    }

    fn cmp_int(a: &str, b: &str) -> Ordering {
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }

    /// `a.compareTo(b)` with `None` as Java's `null`.
    fn cmp(a: &Item, b: Option<&Item>) -> Ordering {
        match (a, b) {
            (Item::Int(s), None) => {
                if s.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Item::Int(x), Some(Item::Int(y))) => cmp_int(x, y),
            (Item::Int(_), Some(_)) => Ordering::Greater,
            (Item::Str(s), None) => qualifier_rank(s).cmp(&RELEASE),
            (Item::Str(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::Str(x), Some(Item::Str(y))) => qualifier_rank(x).cmp(&qualifier_rank(y)),
            (Item::Str(_), Some(Item::List(_))) => Ordering::Less,
            (Item::List(l), None) => l.first().map_or(Ordering::Equal, |f| cmp(f, None)),
            (Item::List(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::List(_), Some(Item::Str(_))) => Ordering::Greater,
            (Item::List(l), Some(Item::List(r))) => cmp_lists(l, r),
        }
    }

    pub(super) fn cmp_lists(l: &[Item], r: &[Item]) -> Ordering {
        for i in 0..l.len().max(r.len()) {
            let o = match (l.get(i), r.get(i)) {
                (None, None) => Ordering::Equal,
                (None, Some(y)) => cmp(y, None).reverse(),
                (Some(x), y) => cmp(x, y),
            };
            if o.is_ne() {
                return o;
            }
        }
        Ordering::Equal
    }

    pub(super) fn compare(a: &str, b: &str) -> Ordering {
        cmp_lists(&parse(a), &parse(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_compare() {
        assert_eq!(compare("npm", "1.0.0-alpha", "1.0.0"), Some(Ordering::Less));
        assert_eq!(compare("pypi", "1.0rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare("pypi", "1.0.post1", "1.0"), Some(Ordering::Greater));
        assert_eq!(compare("pypi", "1.0.dev1", "1.0a1"), Some(Ordering::Less));
        assert_eq!(compare("deb", "1.0~rc1-1", "1.0-1"), Some(Ordering::Less));
        assert_eq!(compare("deb", "1:0.9", "2.0"), Some(Ordering::Greater));
        assert_eq!(
            compare("rpm", "1.0-1.el8", "1.0-2.el8"),
            Some(Ordering::Less)
        );
        assert_eq!(compare("rpm", "1.0~beta", "1.0"), Some(Ordering::Less));
        assert_eq!(compare("generic", "1.10", "1.9"), Some(Ordering::Greater));
        assert_eq!(
            compare("maven", "1.0-SNAPSHOT", "1.0"),
            Some(Ordering::Less)
        );
        assert_eq!(compare("maven", "1.0", "1.0.0"), Some(Ordering::Equal));
    }

    #[test]
    fn containment() {
        let v = Vers::parse("vers:npm/>=1.0.0|<2.0.0").unwrap();
        assert!(v.contains("1.5.0"));
        assert!(!v.contains("2.0.0"));
        assert_eq!(v.to_string(), "vers:npm/>=1.0.0|<2.0.0");
    }

    #[test]
    fn compiled_agrees_with_contains() {
        let ranges = [
            "vers:npm/>=1.0.0|<2.0.0",
            "vers:npm/1.2.3|>=2.0.0-beta|<3.0.0|!=2.5.0",
            "vers:npm/<1.0.0|>=1.5.0|<1.7.0|>=2.0.0",
            "vers:pypi/>=1.0rc1|<1.0.post2|1.5",
            "vers:pypi/<=2.0.dev1|>3.0",
            "vers:maven/>=1.0-SNAPSHOT|<1.0.1|2.0.0.Final",
            "vers:maven/<2.0-alpha-1|>=3.0|<=3.1-sp1",
            "vers:deb/>=1.0~rc1-1|<1:0.9",
            "vers:rpm/>=1.0~beta|<1.0-2.el8",
            "vers:generic/<V2.4|>=3.0.5|<=4.00",
            "vers:generic/>=1.10|<1.9",
            "vers:npm/>=x.y|<2.0.0",
            "vers:npm/*",
        ];
        let versions = [
            "0.9",
            "1.0",
            "1.0.0",
            "1.0.0-alpha",
            "1.2.3",
            "1.5",
            "1.6.0",
            "1.9",
            "1.10",
            "2.0",
            "2.0.0",
            "2.0.0-beta",
            "2.5.0",
            "2.9.9",
            "3.0",
            "3.0.5",
            "3.1-sp1",
            "4.00",
            "1.0rc1",
            "1.0.post1",
            "1.0.post2",
            "2.0.dev1",
            "1.0-SNAPSHOT",
            "1.0.1",
            "2.0.0.Final",
            "1.0~rc1-1",
            "1:0.9",
            "1.0~beta",
            "1.0-1.el8",
            "1.0-2.el8",
            "x.y",
            "garbage",
            "",
        ];
        for r in ranges {
            let v = Vers::parse_lenient(r).unwrap();
            for vers in [v.clone(), v.normalized()] {
                let compiled = CompiledVers::new(vers.clone());
                for ver in versions {
                    assert_eq!(
                        compiled.contains(ver),
                        vers.contains(ver),
                        "{vers} contains {ver:?}"
                    );
                }
            }
        }
    }
}
