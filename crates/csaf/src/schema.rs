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
        self.check(self.root, value, &mut path, &mut errors);
        errors
    }

    fn check(&self, id: usize, v: &Value, path: &mut PathBuf, errs: &mut Vec<SchemaError>) {
        let node = &self.nodes[id];
        let mut err = |path: &PathBuf, message: String| {
            errs.push(SchemaError {
                path: path.to_string(),
                message,
            })
        };
        if node.never {
            err(path, "no value is allowed here".into());
            return;
        }
        if !node.types.is_empty() && !node.types.iter().any(|t| t.matches(v)) {
            let names: Vec<&str> = node.types.iter().map(|t| t.name()).collect();
            err(
                path,
                format!("expected {}, found {}", names.join(" or "), type_name(v)),
            );
            return;
        }
        if let Some(allowed) = &node.enumeration {
            if !allowed.contains(v) {
                err(
                    path,
                    format!("{} is not one of the allowed values", short(v)),
                );
            }
        }
        if let Some(c) = &node.constant {
            if c != v {
                err(path, format!("expected {c}, found {}", short(v)));
            }
        }
        match v {
            Value::String(s) => {
                let len = s.chars().count();
                if node.min_length.is_some_and(|m| len < m) {
                    err(
                        path,
                        format!(
                            "string shorter than {} characters",
                            node.min_length.unwrap_or(0)
                        ),
                    );
                }
                if node.max_length.is_some_and(|m| len > m) {
                    err(
                        path,
                        format!(
                            "string longer than {} characters",
                            node.max_length.unwrap_or(0)
                        ),
                    );
                }
                if let Some(re) = &node.pattern {
                    if !re.is_match(s) {
                        err(
                            path,
                            format!("{} does not match pattern {}", short(v), re.as_str()),
                        );
                    }
                }
                match node.format {
                    Some(Format::DateTime) if crate::datetime::parse(s).is_none() => {
                        err(path, format!("{} is not an RFC 3339 date-time", short(v)))
                    }
                    Some(Format::Uri) if !is_uri(s) => {
                        err(path, format!("{} is not an absolute URI", short(v)))
                    }
                    _ => {}
                }
            }
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if node.minimum.is_some_and(|m| f < m) {
                    err(
                        path,
                        format!("{n} is below the minimum {}", node.minimum.unwrap_or(0.0)),
                    );
                }
                if node.maximum.is_some_and(|m| f > m) {
                    err(
                        path,
                        format!("{n} is above the maximum {}", node.maximum.unwrap_or(0.0)),
                    );
                }
            }
            Value::Array(items) => {
                if node.min_items.is_some_and(|m| items.len() < m) {
                    err(
                        path,
                        format!("fewer than {} items", node.min_items.unwrap_or(0)),
                    );
                }
                if node.max_items.is_some_and(|m| items.len() > m) {
                    err(
                        path,
                        format!("more than {} items", node.max_items.unwrap_or(0)),
                    );
                }
                if node.unique_items {
                    'outer: for (i, a) in items.iter().enumerate() {
                        for (j, b) in items.iter().enumerate().skip(i + 1) {
                            if a == b {
                                err(path, format!("items {i} and {j} are equal"));
                                break 'outer;
                            }
                        }
                    }
                }
                if let Some(item) = node.items {
                    for (i, x) in items.iter().enumerate() {
                        path.push_index(i);
                        self.check(item, x, path, errs);
                        path.pop();
                    }
                }
            }
            Value::Object(map) => {
                if node.min_properties.is_some_and(|m| map.len() < m) {
                    err(
                        path,
                        format!("fewer than {} properties", node.min_properties.unwrap_or(0)),
                    );
                }
                if node.max_properties.is_some_and(|m| map.len() > m) {
                    err(
                        path,
                        format!("more than {} properties", node.max_properties.unwrap_or(0)),
                    );
                }
                for r in &node.required {
                    if !map.contains_key(r) {
                        err(path, format!("missing required property {r}"));
                    }
                }
                for (k, x) in map {
                    let sub = node
                        .properties
                        .iter()
                        .find(|(name, _)| name == k)
                        .map(|(_, s)| *s)
                        .or(node.additional_properties);
                    if let Some(sub) = sub {
                        path.push_key(k);
                        self.check(sub, x, path, errs);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = node.reference {
            self.check(r, v, path, errs);
        }
        for &s in &node.all_of {
            self.check(s, v, path, errs);
        }
        if !node.any_of.is_empty() || !node.one_of.is_empty() {
            let mut best: Option<Vec<SchemaError>> = None;
            let mut matched = 0;
            for &s in node.any_of.iter().chain(&node.one_of) {
                let mut sub = Vec::new();
                self.check(s, v, path, &mut sub);
                if sub.is_empty() {
                    matched += 1;
                } else if best.as_ref().is_none_or(|b| sub.len() < b.len()) {
                    best = Some(sub);
                }
            }
            if matched == 0 {
                // Report the alternative that came closest: its errors say
                // more than "matched none of the alternatives".
                errs.extend(best.unwrap_or_default());
            } else if !node.one_of.is_empty() && matched > 1 {
                errs.push(SchemaError {
                    path: path.to_string(),
                    message: format!(
                        "matches {matched} alternatives of oneOf, expected exactly one"
                    ),
                });
            }
        }
    }
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
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c))
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
