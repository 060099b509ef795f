//! A focused JSON Schema validator for the CSAF 2.0 schema and the FIRST CVSS
//! schemas it references.
//!
//! It implements exactly the keywords these four schemas use (draft 2020-12 for
//! CSAF, draft-04/07 for CVSS): `type`, `$ref`, `properties`, `required`,
//! `additionalProperties`, `items`, `minItems`/`maxItems`, `uniqueItems`,
//! `minProperties`/`maxProperties`, `minLength`/`maxLength`, `pattern`, `format`
//! (`date-time`, `uri` asserted), `enum`, `const`, `minimum`/`maximum`, `oneOf`,
//! `anyOf`, `allOf`. An unknown keyword in an embedded schema is a bug caught by
//! a unit test, not silently ignored.
//!
//! Schemas are compiled once into an arena of nodes (refs resolved to indexes,
//! regexes compiled), so validating a document is a single walk.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::pointer::PathBuf;

/// One schema violation: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    pub path: String,
    pub message: String,
}

/// The embedded schema documents, by the URI they are referenced with.
pub(crate) const CSAF_URI: &str =
    "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json";
const DOCS: &[(&str, &str)] = &[
    (CSAF_URI, include_str!("../schemas/csaf_json_schema.json")),
    (
        "https://www.first.org/cvss/cvss-v2.0.json",
        include_str!("../schemas/cvss-v2.0.json"),
    ),
    (
        "https://www.first.org/cvss/cvss-v3.0.json",
        include_str!("../schemas/cvss-v3.0.json"),
    ),
    (
        "https://www.first.org/cvss/cvss-v3.1.json",
        include_str!("../schemas/cvss-v3.1.json"),
    ),
];

/// Keywords that carry no assertion.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "title",
    "description",
    "examples",
    "default",
    "license",
    "$defs",
    "definitions",
    "$comment",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "string" => Self::String,
            "array" => Self::Array,
            "object" => Self::Object,
            _ => return None,
        })
    }

    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (Self::Null, Value::Null)
            | (Self::Boolean, Value::Bool(_))
            | (Self::Number, Value::Number(_))
            | (Self::String, Value::String(_))
            | (Self::Array, Value::Array(_))
            | (Self::Object, Value::Object(_)) => true,
            (Self::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Uri,
}

#[derive(Debug, Default)]
struct Node {
    never: bool,
    types: Vec<JsonType>,
    reference: Option<usize>,
    properties: Vec<(String, usize)>,
    required: Vec<String>,
    additional_properties: Option<usize>,
    items: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Regex>,
    format: Option<Format>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    one_of: Vec<usize>,
    any_of: Vec<usize>,
    all_of: Vec<usize>,
}

/// A compiled set of schema documents.
pub(crate) struct Schema {
    nodes: Vec<Node>,
    root: usize,
}

struct Compiler {
    docs: Vec<(&'static str, Value)>,
    nodes: Vec<Node>,
    cache: HashMap<(usize, String), usize>,
}

fn resolve_pointer<'v>(v: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        Some(v)
    } else {
        v.pointer(pointer)
    }
}

impl Compiler {
    fn new() -> Result<Self, String> {
        let mut docs = Vec::new();
        for (uri, text) in DOCS {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("{uri}: {e}"))?;
            docs.push((*uri, v));
        }
        Ok(Self {
            docs,
            nodes: Vec::new(),
            cache: HashMap::new(),
        })
    }

    fn compile_ref(&mut self, doc: usize, reference: &str) -> Result<usize, String> {
        let (uri, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if uri.is_empty() {
            doc
        } else {
            let uri = uri.split_once('?').map_or(uri, |(u, _)| u);
            self.docs
                .iter()
                .position(|(u, _)| *u == uri)
                .ok_or_else(|| format!("unresolvable $ref {reference}"))?
        };
        self.compile(target, fragment.to_string())
    }

    fn compile(&mut self, doc: usize, pointer: String) -> Result<usize, String> {
        if let Some(&id) = self.cache.get(&(doc, pointer.clone())) {
            return Ok(id);
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.cache.insert((doc, pointer.clone()), id);
        let schema = resolve_pointer(&self.docs[doc].1, &pointer)
            .ok_or_else(|| format!("{}#{pointer}: no such schema", self.docs[doc].0))?
            .clone();
        let mut node = Node::default();
        let obj = match &schema {
            Value::Bool(b) => {
                node.never = !b;
                self.nodes[id] = node;
                return Ok(id);
            }
            Value::Object(o) => o,
            _ => return Err(format!("{pointer}: schema is not an object")),
        };
        let usize_of = |v: &Value| v.as_u64().map(|n| n as usize);
        for (key, value) in obj {
            let child = |suffix: &str| format!("{pointer}/{}", crate::pointer::escape(suffix));
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "type" => {
                    let names: Vec<&str> = match value {
                        Value::String(s) => vec![s.as_str()],
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        _ => vec![],
                    };
                    for n in names {
                        node.types
                            .push(JsonType::parse(n).ok_or_else(|| format!("unknown type {n}"))?);
                    }
                }
                "$ref" => {
                    let r = value.as_str().ok_or("$ref is not a string")?;
                    node.reference = Some(self.compile_ref(doc, r)?);
                }
                "properties" => {
                    let props = value.as_object().ok_or("properties is not an object")?;
                    for name in props.keys() {
                        let sub = self.compile(
                            doc,
                            format!("{}/{}", child("properties"), crate::pointer::escape(name)),
                        )?;
                        node.properties.push((name.clone(), sub));
                    }
                    // Sorted, for a binary search per member.
                    node.properties.sort_by(|a, b| a.0.cmp(&b.0));
                }
                "required" => {
                    node.required = value
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                }
                "additionalProperties" => {
                    node.additional_properties = Some(self.compile(doc, child(key))?);
                }
                "items" => node.items = Some(self.compile(doc, child(key))?),
                "minItems" => node.min_items = usize_of(value),
                "maxItems" => node.max_items = usize_of(value),
                "uniqueItems" => node.unique_items = value.as_bool().unwrap_or(false),
                "minProperties" => node.min_properties = usize_of(value),
                "maxProperties" => node.max_properties = usize_of(value),
                "minLength" => node.min_length = usize_of(value),
                "maxLength" => node.max_length = usize_of(value),
                "minimum" => node.minimum = value.as_f64(),
                "maximum" => node.maximum = value.as_f64(),
                "pattern" => {
                    let p = value.as_str().ok_or("pattern is not a string")?;
                    // ECMA-262 `\d` is ASCII only.
                    let p = p.replace("\\d", "[0-9]");
                    node.pattern = Some(Regex::new(&p).map_err(|e| format!("pattern {p}: {e}"))?);
                }
                "format" => {
                    node.format = match value.as_str() {
                        Some("date-time") => Some(Format::DateTime),
                        Some("uri") => Some(Format::Uri),
                        other => return Err(format!("unsupported format {other:?}")),
                    }
                }
                "enum" => node.enumeration = value.as_array().cloned(),
                "const" => node.constant = Some(value.clone()),
                "oneOf" | "anyOf" | "allOf" => {
                    let arr = value.as_array().ok_or("combinator is not an array")?;
                    let mut subs = Vec::new();
                    for i in 0..arr.len() {
                        subs.push(self.compile(doc, format!("{}/{i}", child(key)))?);
                    }
                    match key.as_str() {
                        "oneOf" => node.one_of = subs,
                        "anyOf" => node.any_of = subs,
                        _ => node.all_of = subs,
                    }
                }
                other => return Err(format!("{pointer}: unsupported keyword {other}")),
            }
        }
        self.nodes[id] = node;
        Ok(id)
    }
}

impl Schema {
    /// Compile the embedded schema set with `root_uri` as the entry point.
    pub(crate) fn compile(root_uri: &str) -> Result<Self, String> {
        let mut c = Compiler::new()?;
        let doc = c
            .docs
            .iter()
            .position(|(u, _)| *u == root_uri)
            .ok_or_else(|| format!("unknown schema {root_uri}"))?;
        let root = c.compile(doc, String::new())?;
        Ok(Self {
            nodes: c.nodes,
            root,
        })
    }

    /// The compiled CSAF 2.0 schema (with the CVSS schemas it references).
    pub(crate) fn csaf() -> &'static Self {
        static CSAF: OnceLock<Schema> = OnceLock::new();
        CSAF.get_or_init(|| Self::compile(CSAF_URI).expect("embedded CSAF schema compiles"))
    }

    pub(crate) fn validate(&self, value: &Value) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        let mut path = PathBuf::default();
        self.check(self.root, value, &mut path, &mut errors, false);
        errors
    }

    /// Check `v` against node `id`. With `quick`, stop at the first failure
    /// and record nothing (no message or pointer is built); otherwise push
    /// every error to `errs`. Either way, returns whether `v` is valid.
    fn check<'v>(
        &self,
        id: usize,
        v: &'v Value,
        path: &mut PathBuf<'v>,
        errs: &mut Vec<SchemaError>,
        quick: bool,
    ) -> bool {
        let node = &self.nodes[id];
        let start = errs.len();
        // Record an error (the message is built only when collecting).
        macro_rules! err {
            ($msg:expr) => {{
                if quick {
                    return false;
                }
                errs.push(SchemaError {
                    path: path.to_string(),
                    message: $msg,
                });
            }};
        }
        if node.never {
            err!("no value is allowed here".into());
            return false;
        }
        if !node.types.is_empty() && !node.types.iter().any(|t| t.matches(v)) {
            err!({
                let names: Vec<&str> = node.types.iter().map(|t| t.name()).collect();
                format!("expected {}, found {}", names.join(" or "), type_name(v))
            });
            return false;
        }
        if let Some(allowed) = &node.enumeration {
            if !allowed.contains(v) {
                err!(format!("{} is not one of the allowed values", short(v)));
            }
        }
        if let Some(c) = &node.constant {
            if c != v {
                err!(format!("expected {c}, found {}", short(v)));
            }
        }
        match v {
            Value::String(s) => {
                if node.min_length.is_some() || node.max_length.is_some() {
                    let len = s.chars().count();
                    if node.min_length.is_some_and(|m| len < m) {
                        err!(format!(
                            "string shorter than {} characters",
                            node.min_length.unwrap_or(0)
                        ));
                    }
                    if node.max_length.is_some_and(|m| len > m) {
                        err!(format!(
                            "string longer than {} characters",
                            node.max_length.unwrap_or(0)
                        ));
                    }
                }
                if let Some(re) = &node.pattern {
                    if !re.is_match(s) {
                        err!(format!(
                            "{} does not match pattern {}",
                            short(v),
                            re.as_str()
                        ));
                    }
                }
                match node.format {
                    Some(Format::DateTime) if crate::datetime::parse(s).is_none() => {
                        err!(format!("{} is not an RFC 3339 date-time", short(v)))
                    }
                    Some(Format::Uri) if !is_uri(s) => {
                        err!(format!("{} is not an absolute URI", short(v)))
                    }
                    _ => {}
                }
            }
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if node.minimum.is_some_and(|m| f < m) {
                    err!(format!(
                        "{n} is below the minimum {}",
                        node.minimum.unwrap_or(0.0)
                    ));
                }
                if node.maximum.is_some_and(|m| f > m) {
                    err!(format!(
                        "{n} is above the maximum {}",
                        node.maximum.unwrap_or(0.0)
                    ));
                }
            }
            Value::Array(items) => {
                if node.min_items.is_some_and(|m| items.len() < m) {
                    err!(format!("fewer than {} items", node.min_items.unwrap_or(0)));
                }
                if node.max_items.is_some_and(|m| items.len() > m) {
                    err!(format!("more than {} items", node.max_items.unwrap_or(0)));
                }
                if node.unique_items {
                    if let Some((i, j)) = first_duplicate(items) {
                        err!(format!("items {i} and {j} are equal"));
                    }
                }
                if let Some(item) = node.items {
                    for (i, x) in items.iter().enumerate() {
                        path.push_index(i);
                        let ok = self.check(item, x, path, errs, quick);
                        path.pop();
                        if quick && !ok {
                            return false;
                        }
                    }
                }
            }
            Value::Object(map) => {
                if node.min_properties.is_some_and(|m| map.len() < m) {
                    err!(format!(
                        "fewer than {} properties",
                        node.min_properties.unwrap_or(0)
                    ));
                }
                if node.max_properties.is_some_and(|m| map.len() > m) {
                    err!(format!(
                        "more than {} properties",
                        node.max_properties.unwrap_or(0)
                    ));
                }
                for r in &node.required {
                    if !map.contains_key(r) {
                        err!(format!("missing required property {r}"));
                    }
                }
                for (k, x) in map {
                    let sub = node
                        .properties
                        .binary_search_by(|(name, _)| name.as_str().cmp(k))
                        .ok()
                        .map(|i| node.properties[i].1)
                        .or(node.additional_properties);
                    if let Some(sub) = sub {
                        path.push_key(k);
                        let ok = self.check(sub, x, path, errs, quick);
                        path.pop();
                        if quick && !ok {
                            return false;
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = node.reference {
            if !self.check(r, v, path, errs, quick) && quick {
                return false;
            }
        }
        for &s in &node.all_of {
            if !self.check(s, v, path, errs, quick) && quick {
                return false;
            }
        }
        if !node.any_of.is_empty() || !node.one_of.is_empty() {
            // First only count the alternatives that match (nothing built);
            // the errors of the alternatives are collected only when none
            // matches, to report the closest one.
            let alternatives = || node.any_of.iter().chain(&node.one_of);
            let mut matched = 0;
            for &s in alternatives() {
                if self.check(s, v, path, errs, true) {
                    matched += 1;
                    if quick && node.one_of.is_empty() {
                        break;
                    }
                }
            }
            if matched == 0 {
                if quick {
                    return false;
                }
                // Report the alternative that came closest: its errors say
                // more than "matched none of the alternatives".
                let mut best: Option<Vec<SchemaError>> = None;
                for &s in alternatives() {
                    let mut sub = Vec::new();
                    self.check(s, v, path, &mut sub, false);
                    if best.as_ref().is_none_or(|b| sub.len() < b.len()) {
                        best = Some(sub);
                    }
                }
                errs.extend(best.unwrap_or_default());
            } else if !node.one_of.is_empty() && matched > 1 {
                err!(format!(
                    "matches {matched} alternatives of oneOf, expected exactly one"
                ));
            }
        }
        errs.len() == start
    }
}

/// The first pair `(i, j)`, `i < j`, of equal items (smallest `i`, then
/// smallest `j`), as a pairwise scan finds it; strings are hashed.
fn first_duplicate(items: &[Value]) -> Option<(usize, usize)> {
    if items.len() < 2 {
        return None;
    }
    if items.iter().all(Value::is_string) {
        let mut first: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(items.len());
        let mut best: Option<(usize, usize)> = None;
        for (j, x) in items.iter().enumerate() {
            let s = x.as_str().unwrap_or_default();
            match first.get(s) {
                // The first repeat of a value is its smallest j.
                Some(&i) => {
                    if best.is_none_or(|(bi, _)| i < bi) {
                        best = Some((i, j));
                    }
                }
                None => {
                    first.insert(s, j);
                }
            }
        }
        return best;
    }
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate().skip(i + 1) {
            if a == b {
                return Some((i, j));
            }
        }
    }
    None
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value for a message, cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// An absolute URI per RFC 3986: scheme ":" followed by characters URIs allow.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    // All allowed characters are ASCII, so bytes can be checked one by one.
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && rest.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b':'
                        | b'/'
                        | b'?'
                        | b'#'
                        | b'['
                        | b']'
                        | b'@'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles_with_known_keywords() {
        for (uri, _) in DOCS {
            Schema::compile(uri).unwrap();
        }
    }

    #[test]
    fn uri_format() {
        assert!(is_uri("https://example.com/a?b=c#d"));
        assert!(is_uri("urn:ietf:rfc:3986"));
        assert!(!is_uri("example.com"));
        assert!(!is_uri("https://exa mple.com"));
    }
}
