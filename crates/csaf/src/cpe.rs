//! CPE 2.3 names: the formatted-string binding (NISTIR 7695 §6.2, also the
//! 2.2 URI binding §6.1 for reading) into well-formed names, and name
//! matching per NISTIR 7696 (attribute relations and name comparison).
//!
//! Values are kept in the WFN form of NISTIR 7695: lowercase (matching is
//! case-insensitive), every non-alphanumeric character other than `_`
//! quoted with `\`, and unquoted `*` / `?` only as wildcards at either end.

use std::fmt;

/// Why a CPE name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CpeError(pub String);

fn err(s: impl Into<String>) -> CpeError {
    CpeError(s.into())
}

/// One attribute value of a well-formed name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// `*`: any value.
    Any,
    /// `-`: not applicable.
    Na,
    /// A value in WFN form (lowercase, quoted; may start or end with
    /// unquoted `*` or `?` wildcards).
    Str(String),
}

impl Value {
    /// The value as a plain string (quoting removed) if it is a string
    /// without wildcards.
    pub fn literal(&self) -> Option<String> {
        let Self::Str(s) = self else { return None };
        if has_wildcards(s) {
            return None;
        }
        Some(unquote(s))
    }

    /// A WFN value for a plain string (quotes what needs quoting; wildcards
    /// in `s` become literal characters).
    pub fn from_literal(s: &str) -> Self {
        let mut out = String::with_capacity(s.len());
        for c in s.chars().flat_map(char::to_lowercase) {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                out.push('\\');
            }
            out.push(c);
        }
        Self::Str(out)
    }
}

/// The eleven attributes, in formatted-string order.
pub const ATTRIBUTES: [&str; 11] = [
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
];

/// A CPE 2.3 well-formed name (WFN).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    /// Attribute values in the order of [`ATTRIBUTES`].
    pub attrs: [Value; 11],
}

/// The relation of a source attribute value to a target one (NISTIR 7696
/// Table 6-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Superset,
    Subset,
    Equal,
    Disjoint,
    /// The target carries wildcards: the spec leaves the relation undefined.
    Undefined,
}

/// The relation of two whole names (NISTIR 7696 §7.2 name comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRelation {
    Equal,
    /// Source is a superset of target: the source matches the target.
    Superset,
    Subset,
    Disjoint,
    /// Neither of the above (mixed relations, or an undefined one).
    Undefined,
}

fn has_wildcards(s: &str) -> bool {
    let mut quoted = false;
    for c in s.chars() {
        if quoted {
            quoted = false;
        } else if c == '\\' {
            quoted = true;
        } else if c == '*' || c == '?' {
            return true;
        }
    }
    false
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quoted = false;
    for c in s.chars() {
        if !quoted && c == '\\' {
            quoted = true;
        } else {
            quoted = false;
            out.push(c);
        }
    }
    out
}

/// NISTIR 7695 `add_quoting`: a formatted-string value into WFN form.
fn add_quoting(s: &str) -> Result<String, CpeError> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(n + 4);
    let mut embedded = false;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if c.is_ascii_alphanumeric() || c == '_' {
            out.extend(c.to_lowercase());
            embedded = true;
            i += 1;
            continue;
        }
        if c == '\\' {
            let q = *chars
                .get(i + 1)
                .ok_or_else(|| err("value ends with a lone backslash"))?;
            out.push('\\');
            out.extend(q.to_lowercase());
            embedded = true;
            i += 2;
            continue;
        }
        if c == '*' {
            if i == 0 || i == n - 1 {
                out.push('*');
                embedded = true;
                i += 1;
                continue;
            }
            return Err(err(format!("{s}: unquoted * inside a value")));
        }
        if c == '?' {
            let standalone = i == 0
                || i == n - 1
                || (!embedded && chars[i - 1] == '?')
                || (embedded && chars.get(i + 1) == Some(&'?'));
            if standalone {
                out.push('?');
                embedded = false;
                i += 1;
                continue;
            }
            return Err(err(format!("{s}: unquoted ? inside a value")));
        }
        if c.is_whitespace() || c.is_control() {
            return Err(err(format!("{s}: whitespace in a value")));
        }
        out.push('\\');
        out.push(c);
        embedded = true;
        i += 1;
    }
    Ok(out)
}

/// NISTIR 7695 `decode` for the URI binding.
fn decode_uri(s: &str) -> Result<String, CpeError> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| err("truncated percent-encoding"))?;
            match hex.to_ascii_lowercase().as_str() {
                "01" => out.push('?'),
                "02" => out.push('*'),
                _ => {
                    let v = u8::from_str_radix(hex, 16)
                        .map_err(|_| err(format!("bad percent-encoding %{hex}")))?;
                    out.push('\\');
                    out.push(char::from(v).to_ascii_lowercase());
                }
            }
            i += 3;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            out.push(char::from(c).to_ascii_lowercase());
            i += 1;
        } else {
            out.push('\\');
            out.push(char::from(c));
            i += 1;
        }
    }
    Ok(out)
}

/// Split on colons that are not quoted.
fn split_fs(s: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(13);
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        if quoted {
            quoted = false;
        } else if c == '\\' {
            quoted = true;
        } else if c == ':' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

impl Cpe {
    /// A name with every attribute ANY.
    pub fn any() -> Self {
        Self {
            attrs: std::array::from_fn(|_| Value::Any),
        }
    }

    /// Parse a CPE name: the 2.3 formatted string
    /// (`cpe:2.3:part:vendor:product:version:update:edition:language:sw_edition:target_sw:target_hw:other`)
    /// or, for reading older data, a 2.2 URI (`cpe:/a:vendor:product:…`).
    pub fn parse(s: &str) -> Result<Self, CpeError> {
        if let Some(rest) = s.strip_prefix("cpe:2.3:") {
            Self::parse_fs(rest)
        } else if let Some(rest) = s.strip_prefix("cpe:/") {
            Self::parse_uri(rest)
        } else {
            Err(err(format!(
                "{s}: a CPE name starts with cpe:2.3: or cpe:/"
            )))
        }
    }

    fn parse_fs(rest: &str) -> Result<Self, CpeError> {
        let parts = split_fs(rest);
        if parts.len() != 11 {
            return Err(err(format!(
                "a formatted string has 11 attributes after cpe:2.3:, found {}",
                parts.len()
            )));
        }
        let mut cpe = Self::any();
        for (i, p) in parts.iter().enumerate() {
            cpe.attrs[i] = match *p {
                "*" => Value::Any,
                "-" => Value::Na,
                "" => return Err(err(format!("{} is empty", ATTRIBUTES[i]))),
                v => Value::Str(
                    add_quoting(v).map_err(|e| err(format!("{}: {}", ATTRIBUTES[i], e.0)))?,
                ),
            };
        }
        cpe.check_part()?;
        Ok(cpe)
    }

    fn parse_uri(rest: &str) -> Result<Self, CpeError> {
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() > 7 {
            return Err(err("a CPE 2.2 URI has at most 7 components"));
        }
        let mut cpe = Self::any();
        let uri_value = |p: &str| -> Result<Value, CpeError> {
            Ok(match p {
                "" => Value::Any,
                "-" => Value::Na,
                v => Value::Str(decode_uri(v)?),
            })
        };
        for (i, p) in parts.iter().enumerate() {
            if i == 5 && p.starts_with('~') {
                // Packed edition: ~edition~sw_edition~target_sw~target_hw~other.
                let packed: Vec<&str> = p[1..].split('~').collect();
                if packed.len() != 5 {
                    return Err(err("a packed edition has five fields"));
                }
                for (j, idx) in [5, 7, 8, 9, 10].into_iter().enumerate() {
                    cpe.attrs[idx] = uri_value(packed[j])?;
                }
            } else {
                cpe.attrs[i] = uri_value(p)?;
            }
        }
        cpe.check_part()?;
        Ok(cpe)
    }

    fn check_part(&self) -> Result<(), CpeError> {
        match &self.attrs[0] {
            Value::Any => Ok(()),
            Value::Str(p) if matches!(p.as_str(), "a" | "o" | "h") => Ok(()),
            _ => Err(err("part is one of a, o, h or *")),
        }
    }

    pub fn part(&self) -> &Value {
        &self.attrs[0]
    }
    pub fn vendor(&self) -> &Value {
        &self.attrs[1]
    }
    pub fn product(&self) -> &Value {
        &self.attrs[2]
    }
    pub fn version(&self) -> &Value {
        &self.attrs[3]
    }

    /// The same name with the version attribute replaced.
    pub fn with_version(&self, version: Value) -> Self {
        let mut c = self.clone();
        c.attrs[3] = version;
        c
    }

    /// The relation of each attribute of `self` (source) to `target`.
    pub fn compare(&self, target: &Self) -> [Relation; 11] {
        std::array::from_fn(|i| compare_values(&self.attrs[i], &target.attrs[i]))
    }

    /// NISTIR 7696 name comparison of `self` (source) with `target`.
    pub fn relation(&self, target: &Self) -> NameRelation {
        let r = self.compare(target);
        if r.contains(&Relation::Disjoint) {
            NameRelation::Disjoint
        } else if r.iter().all(|x| *x == Relation::Equal) {
            NameRelation::Equal
        } else if r
            .iter()
            .all(|x| matches!(x, Relation::Equal | Relation::Superset))
        {
            NameRelation::Superset
        } else if r
            .iter()
            .all(|x| matches!(x, Relation::Equal | Relation::Subset))
        {
            NameRelation::Subset
        } else {
            NameRelation::Undefined
        }
    }

    /// Whether `self`, used as a pattern, matches `target`: CPE_SUPERSET or
    /// CPE_EQUAL in NISTIR 7696 terms.
    pub fn matches(&self, target: &Self) -> bool {
        (0..11).all(|i| {
            matches!(
                compare_values(&self.attrs[i], &target.attrs[i]),
                Relation::Equal | Relation::Superset
            )
        })
    }
}

/// NISTIR 7696 `compare` of one attribute.
pub fn compare_values(source: &Value, target: &Value) -> Relation {
    if let Value::Str(t) = target {
        if has_wildcards(t) {
            return Relation::Undefined;
        }
    }
    if source == target {
        return Relation::Equal;
    }
    match (source, target) {
        (Value::Any, _) => Relation::Superset,
        (_, Value::Any) => Relation::Subset,
        (Value::Na, _) | (_, Value::Na) => Relation::Disjoint,
        (Value::Str(s), Value::Str(t)) => compare_strings(s, t),
    }
}

/// NISTIR 7696 `compareStrings`: both in WFN form, target free of wildcards.
///
/// Leading and trailing `?` match exactly one character each, as NISTIR
/// 7695 §5.3.2 defines the wildcard (the pseudo-code of NISTIR 7696 §6.1.2
/// would also let `?bar` match `bar`; we follow the definition).
fn compare_strings(source: &str, target: &str) -> Relation {
    let src = source.as_bytes();
    let mut start = 0;
    let mut end = src.len();
    let mut begins: isize = 0;
    let mut ends: isize = 0;
    if src.first() == Some(&b'*') {
        start = 1;
        begins = -1;
    } else {
        while start < src.len() && src[start] == b'?' {
            start += 1;
            begins += 1;
        }
    }
    if end > start && src[end - 1] == b'*' && is_even_wildcards(src, end - 1) {
        end -= 1;
        ends = -1;
    } else {
        while end > start && src[end - 1] == b'?' && is_even_wildcards(src, end - 1) {
            end -= 1;
            ends += 1;
        }
    }
    let core = &src[start..end];
    let t = target.as_bytes();
    let mut from = 0;
    while let Some(index) = find_bytes(t, core, from) {
        from = index + 1;
        // A match starts on a character of the target, not inside a quoted
        // pair.
        if !is_boundary(t, index) {
            continue;
        }
        if begins != -1 {
            let before = (index - escapes(t, 0, index)) as isize;
            if before > begins {
                break;
            }
            if before < begins {
                continue;
            }
        }
        let after = escapes(t, index + core.len(), t.len());
        let leftover = (t.len() - index - core.len() - after) as isize;
        if ends != -1 && leftover != ends {
            continue;
        }
        return Relation::Superset;
    }
    Relation::Disjoint
}

fn find_bytes(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    if needle.is_empty() {
        return Some(from);
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

fn is_boundary(s: &[u8], idx: usize) -> bool {
    let mut i = 0;
    while i < idx {
        i += if s[i] == b'\\' { 2 } else { 1 };
    }
    i == idx
}

/// Whether the character at `idx` is preceded by an even number of
/// backslashes (so it is not quoted).
fn is_even_wildcards(s: &[u8], idx: usize) -> bool {
    let mut n = 0;
    let mut i = idx;
    while i > 0 && s[i - 1] == b'\\' {
        n += 1;
        i -= 1;
    }
    n % 2 == 0
}

/// The number of quoting backslashes in `s[from..to]`.
fn escapes(s: &[u8], from: usize, to: usize) -> usize {
    let mut n = 0;
    let mut i = from;
    while i < to {
        if s[i] == b'\\' {
            n += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    n
}

impl fmt::Display for Cpe {
    /// The formatted-string binding (NISTIR 7695 §6.2.2).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cpe:2.3")?;
        for v in &self.attrs {
            f.write_str(":")?;
            match v {
                Value::Any => f.write_str("*")?,
                Value::Na => f.write_str("-")?,
                Value::Str(s) => {
                    let mut chars = s.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            let q = chars.next().unwrap_or('\\');
                            if matches!(q, '.' | '-' | '_') {
                                write!(f, "{q}")?;
                            } else {
                                write!(f, "\\{q}")?;
                            }
                        } else {
                            write!(f, "{c}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Cpe {
    type Err = CpeError;
    fn from_str(s: &str) -> Result<Self, CpeError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::{compare_values as cmp, Cpe, NameRelation, Relation::*, Value};

    fn v(s: &str) -> Value {
        match s {
            "ANY" => Value::Any,
            "NA" => Value::Na,
            s => Value::Str(s.to_string()),
        }
    }

    #[test]
    fn attribute_relations_of_nistir_7696_table_6_2() {
        // Table 6-2, rows 1–17 (source, target, relation).
        let rows = [
            ("ANY", "ANY", Equal),
            ("ANY", "NA", Superset),
            ("ANY", "i", Superset),
            ("ANY", "m + wild cards", Undefined),
            ("NA", "ANY", Subset),
            ("NA", "NA", Equal),
            ("NA", "i", Disjoint),
            ("NA", "m + wild cards", Undefined),
            ("i", "NA", Disjoint),
            ("i", "i", Equal),
            ("i", "k", Disjoint),
            ("i", "m + wild cards", Undefined),
            ("i", "ANY", Subset),
            ("m + wild cards", "ANY", Subset),
            ("m + wild cards", "NA", Disjoint),
            ("m + wild cards", "m + wild cards", Undefined),
        ];
        for (s, t, r) in rows {
            let conv = |x: &str| match x {
                "i" => v("foo"),
                "k" => v("bar"),
                "m + wild cards" => v("foo*"),
                x => v(x),
            };
            assert_eq!(cmp(&conv(s), &conv(t)), r, "{s} vs {t}");
        }
        // m + wild cards vs i: superset when it matches, disjoint otherwise.
        assert_eq!(cmp(&v("foo*"), &v("foobar")), Superset);
        assert_eq!(cmp(&v("foo*"), &v("barfoo")), Disjoint);
    }

    #[test]
    fn wildcards_in_source_values() {
        let cases = [
            ("*bar", "foobar", Superset),
            ("*bar", "bar", Superset),
            ("*bar", "barx", Disjoint),
            ("?bar", "xbar", Superset),
            ("?bar", "bar", Disjoint),
            ("?bar", "xxbar", Disjoint),
            ("??bar", "xbar", Disjoint),
            ("bar?", "bar1", Superset),
            ("bar??", "bar12", Superset),
            ("bar??", "bar1", Disjoint), // ? matches exactly one character
            ("1\\.2\\.*", "1\\.2\\.3", Superset),
            ("1\\.2\\.*", "1\\.3\\.0", Disjoint),
            ("*", "anything", Superset),
            ("foo\\*", "foo\\*", Equal), // a quoted asterisk is literal
            ("foo\\*", "foox", Disjoint),
            ("?", "x", Superset),
            ("?", "\\.", Superset), // one quoted character is one character
            ("?", "xy", Disjoint),
        ];
        for (s, t, r) in cases {
            assert_eq!(cmp(&v(s), &v(t)), r, "{s} vs {t}");
        }
    }

    #[test]
    fn formatted_strings_parse_with_escaping() {
        let c =
            Cpe::parse("cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*").unwrap();
        assert_eq!(c.vendor(), &v("microsoft"));
        assert_eq!(c.version(), &v("8\\.0\\.6001"));
        assert_eq!(c.attrs[4], v("beta"));
        assert_eq!(c.attrs[5], Value::Any);
        assert_eq!(c.version().literal().as_deref(), Some("8.0.6001"));
        // NISTIR 7695 §6.2.3 examples.
        let c =
            Cpe::parse("cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:-:*:*:online:win2003:x64:*")
                .unwrap();
        assert_eq!(c.attrs[4], Value::Na);
        assert_eq!(c.attrs[8], v("win2003"));
        let c =
            Cpe::parse("cpe:2.3:a:foo\\\\bar:big\\$money_2010:*:*:*:*:special:ipod_touch:80gb:*")
                .unwrap();
        assert_eq!(c.vendor(), &v("foo\\\\bar"));
        assert_eq!(c.product(), &v("big\\$money_2010"));
        let c = Cpe::parse("cpe:2.3:a:foo\\:bar:p:1.*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(c.vendor(), &v("foo\\:bar"));
        assert_eq!(c.version(), &v("1\\.*"));
        // Case-insensitive: stored lowercase.
        let c = Cpe::parse("cpe:2.3:A:Microsoft:IE:*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(c.vendor(), &v("microsoft"));
        // Round trip through the formatted string.
        for s in [
            "cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:-:*:*:online:win2003:x64:*",
            "cpe:2.3:a:foo\\\\bar:big\\$money_2010:*:*:*:*:special:ipod_touch:80gb:*",
            "cpe:2.3:a:vendor:product:1.?:*:*:*:*:*:*:*",
        ] {
            assert_eq!(Cpe::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        for (s, why) in [
            ("cpe:2.3:a:v:p:*:*:*:*:*:*:*", "11 attributes"),
            ("cpe:2.3:a:v:p:*:*:*:*:*:*:*:*:*", "11 attributes"),
            ("cpe:2.3:x:v:p:*:*:*:*:*:*:*:*", "part"),
            ("cpe:2.3:a:v:p:1*2:*:*:*:*:*:*:*", "unquoted *"),
            ("cpe:2.3:a:v:p:1?2:*:*:*:*:*:*:*", "unquoted ?"),
            ("cpe:2.3:a:v::*:*:*:*:*:*:*:*", "empty"),
            ("cpe:2.3:a:v:p q:*:*:*:*:*:*:*:*", "whitespace"),
            ("cpe:2.4:a:v:p:*:*:*:*:*:*:*:*", "starts with"),
        ] {
            let e = Cpe::parse(s).unwrap_err().0;
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn uri_binding_is_read() {
        let c = Cpe::parse("cpe:/a:microsoft:internet_explorer:8.%02:sp%01").unwrap();
        assert_eq!(
            c.to_string(),
            "cpe:2.3:a:microsoft:internet_explorer:8.*:sp?:*:*:*:*:*:*"
        );
        let c =
            Cpe::parse("cpe:/a:hp:insight_diagnostics:7.4.0.1570::~~online~win2003~x64~").unwrap();
        assert_eq!(
            c.to_string(),
            "cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:*:*:*:online:win2003:x64:*"
        );
    }

    #[test]
    fn name_comparison_of_nistir_7696_section_7() {
        let rel = |s: &str, t: &str| Cpe::parse(s).unwrap().relation(&Cpe::parse(t).unwrap());
        // A target with wildcards: version and update are undefined.
        let s =
            Cpe::parse("cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*").unwrap();
        let t = Cpe::parse("cpe:2.3:a:microsoft:internet_explorer:8.*:sp?:*:*:*:*:*:*").unwrap();
        let r = s.compare(&t);
        assert_eq!(&r[..5], &[Equal, Equal, Equal, Undefined, Undefined]);
        assert_eq!(&r[5..], &[Equal; 6]);
        assert_eq!(s.relation(&t), NameRelation::Undefined);
        // The other way round: version superset, update disjoint.
        assert_eq!(t.relation(&s), NameRelation::Disjoint);
        // Example 2: source with wildcards matches a concrete target.
        assert_eq!(
            rel(
                "cpe:2.3:a:microsoft:internet_explorer:8.*:*:*:*:*:*:*:*",
                "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*"
            ),
            NameRelation::Superset
        );
        assert_eq!(
            rel(
                "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*",
                "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*"
            ),
            NameRelation::Equal
        );
        assert_eq!(
            rel(
                "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*",
                "cpe:2.3:a:microsoft:internet_explorer:*:*:*:*:*:*:*:*"
            ),
            NameRelation::Subset
        );
        // Target with wildcards: undefined, never a match.
        let s = Cpe::parse("cpe:2.3:a:microsoft:internet_explorer:*:*:*:*:*:*:*:*").unwrap();
        let t = Cpe::parse("cpe:2.3:a:microsoft:internet_explorer:8.*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(s.relation(&t), NameRelation::Undefined);
        assert!(!s.matches(&t));
        // NA vs a value is disjoint.
        assert_eq!(
            rel(
                "cpe:2.3:a:v:p:1.0:-:*:*:*:*:*:*",
                "cpe:2.3:a:v:p:1.0:sp1:*:*:*:*:*:*"
            ),
            NameRelation::Disjoint
        );
        assert_eq!(Cpe::any().to_string(), "cpe:2.3:*:*:*:*:*:*:*:*:*:*:*");
    }
}
