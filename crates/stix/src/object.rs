//! Checking raw JSON into a [`CheckedObject`]: the only way a STIX object reaches the store.

use serde_json::{Map, Value};

use crate::{Timestamp, Tlp};

/// The id of the hub's own property extension ("hinomi handling": audience, exercise).
/// The most entries an object's audience may name (a community names many at once).
pub const MAX_AUDIENCE: usize = 1000;

pub const HUB_EXTENSION_ID: &str = "extension-definition--d345ed58-77c0-40d2-8814-c85154c426bd";

/// STIX Cyber-observable Object types of STIX 2.1.
pub const SCO_TYPES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Required properties of STIX 2.1 types beyond the common ones (from the OASIS schemas).
const REQUIRED: &[(&str, &[&str])] = &[
    ("attack-pattern", &["name"]),
    ("campaign", &["name"]),
    ("course-of-action", &["name"]),
    ("grouping", &["context", "object_refs"]),
    ("identity", &["name"]),
    ("incident", &["name"]),
    ("indicator", &["pattern", "pattern_type", "valid_from"]),
    ("infrastructure", &["name"]),
    ("intrusion-set", &["name"]),
    ("location", &[]),
    ("malware-analysis", &["product"]),
    ("malware", &["is_family"]),
    ("note", &["content", "object_refs"]),
    (
        "observed-data",
        &["first_observed", "last_observed", "number_observed"],
    ),
    ("opinion", &["object_refs", "opinion"]),
    ("report", &["name", "object_refs", "published"]),
    ("threat-actor", &["name"]),
    ("tool", &["name"]),
    ("vulnerability", &["name"]),
    (
        "relationship",
        &["relationship_type", "source_ref", "target_ref"],
    ),
    ("sighting", &["sighting_of_ref"]),
    ("language-content", &["contents", "object_ref"]),
    (
        "extension-definition",
        &[
            "created_by_ref",
            "extension_types",
            "name",
            "schema",
            "version",
        ],
    ),
    ("marking-definition", &[]),
    ("autonomous-system", &["number"]),
    ("directory", &["path"]),
    ("domain-name", &["value"]),
    ("email-addr", &["value"]),
    ("email-message", &["is_multipart"]),
    ("ipv4-addr", &["value"]),
    ("ipv6-addr", &["value"]),
    ("mac-addr", &["value"]),
    ("mutex", &["name"]),
    ("network-traffic", &["protocols"]),
    ("software", &["name"]),
    ("url", &["value"]),
];

/// Properties whose values are STIX timestamps wherever they appear at the top level.
const TIMESTAMP_PROPS: &[&str] = &[
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "first_observed",
    "last_observed",
    "published",
    "analysis_started",
    "analysis_ended",
    "submitted",
];

/// What kind of STIX object a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// SDOs, SROs, language-content, extension-definition and custom objects with
    /// `created`/`modified`.
    Versioned,
    /// marking-definition: created but never modified.
    Marking,
    /// Cyber-observable objects: no created/modified.
    Observable,
}

/// A property that is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// The JSON property path inside the object, e.g. `object_marking_refs[1]`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

fn err<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, ValidationError> {
    Err(ValidationError {
        path: path.into(),
        message: message.into(),
    })
}

/// A STIX object that passed validation, with its handling fields extracted.
#[derive(Debug, Clone)]
pub struct CheckedObject {
    /// `type--uuid`.
    pub id: String,
    /// The `type` property.
    pub object_type: String,
    /// The kind of the type.
    pub kind: ObjectKind,
    /// `modified`, else `created`; `None` for unversioned objects (SCOs).
    pub version: Option<Timestamp>,
    /// `created_by_ref`, when present.
    pub created_by_ref: Option<String>,
    /// The most restrictive TLP marking among `object_marking_refs`, when any.
    pub tlp: Option<Tlp>,
    /// The audience named in the hub extension (identity ids), possibly empty.
    pub audience: Vec<String>,
    /// The exercise flag of the hub extension.
    pub exercise: bool,
    /// `revoked: true`.
    pub revoked: bool,
    /// The object itself.
    pub value: Value,
}

/// Checks that `s` is `type--<UUID>` for a valid STIX type name.
pub fn check_identifier(s: &str) -> Result<(&str, &str), &'static str> {
    let Some((t, uuid)) = s.split_once("--") else {
        return Err("not an identifier of the form type--UUID");
    };
    check_type_name(t)?;
    if !is_uuid(uuid) {
        return Err("identifier does not end in a valid UUID");
    }
    Ok((t, uuid))
}

fn check_type_name(t: &str) -> Result<(), &'static str> {
    if t.len() < 3 || t.len() > 250 {
        return Err("type must be 3 to 250 characters");
    }
    if !t
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err("type may contain only a-z, 0-9 and '-'");
    }
    if t.starts_with('-') || t.ends_with('-') || t.contains("--") {
        return Err("type may not start or end with '-' or contain '--'");
    }
    Ok(())
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_ref(path: &str, v: &Value, expect_type: Option<&str>) -> Result<(), ValidationError> {
    let Some(s) = v.as_str() else {
        return err(path, "expected an identifier string");
    };
    match check_identifier(s) {
        Err(m) => err(path, m),
        Ok((t, _)) => match expect_type {
            Some(e) if e != t => err(path, format!("must reference a '{e}' object, not '{t}'")),
            _ => Ok(()),
        },
    }
}

fn check_timestamp(path: &str, v: &Value) -> Result<Timestamp, ValidationError> {
    let Some(s) = v.as_str() else {
        return err(path, "expected a timestamp string");
    };
    Timestamp::parse(s).map_err(|e| ValidationError {
        path: path.to_string(),
        message: format!("{e}: '{s}'"),
    })
}

/// Validates one STIX 2.1 object.
pub fn check_object(value: Value) -> Result<CheckedObject, ValidationError> {
    let Value::Object(map) = &value else {
        return err("", "a STIX object must be a JSON object");
    };
    let object_type = match map.get("type") {
        None => return err("type", "required property is missing"),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return err("type", "must be a string"),
    };
    check_type_name(&object_type).map_err(|m| ValidationError {
        path: "type".into(),
        message: m.into(),
    })?;
    if object_type == "bundle" {
        return err(
            "type",
            "a bundle cannot be stored as an object; send its objects",
        );
    }
    let id = match map.get("id") {
        None => return err("id", "required property is missing"),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return err("id", "must be a string"),
    };
    let (id_type, _) = check_identifier(&id).map_err(|m| ValidationError {
        path: "id".into(),
        message: m.into(),
    })?;
    if id_type != object_type {
        return err(
            "id",
            format!("prefix '{id_type}' does not match type '{object_type}'"),
        );
    }

    let kind = if object_type == "marking-definition" {
        ObjectKind::Marking
    } else if SCO_TYPES.contains(&object_type.as_str())
        || (!REQUIRED.iter().any(|(t, _)| *t == object_type)
            && !map.contains_key("created")
            && !map.contains_key("modified"))
    {
        ObjectKind::Observable
    } else {
        ObjectKind::Versioned
    };

    match map.get("spec_version") {
        Some(Value::String(s)) if s == "2.1" => {}
        Some(Value::String(s)) => {
            return err(
                "spec_version",
                format!("'{s}' is not supported (this hub stores STIX 2.1)"),
            )
        }
        Some(_) => return err("spec_version", "must be the string \"2.1\""),
        None if kind != ObjectKind::Observable => {
            return err("spec_version", "required property is missing")
        }
        None => {}
    }

    for (k, v) in map {
        check_property(k, v)?;
    }

    let required = REQUIRED
        .iter()
        .find(|(t, _)| *t == object_type)
        .map(|(_, r)| *r)
        .unwrap_or(&[]);
    let common: &[&str] = match kind {
        ObjectKind::Versioned => &["created", "modified"],
        ObjectKind::Marking => &["created"],
        ObjectKind::Observable => &[],
    };
    for p in common.iter().chain(required) {
        if !map.contains_key(*p) {
            return err(*p, "required property is missing");
        }
    }
    type_rules(&object_type, map)?;

    let created = map
        .get("created")
        .map(|v| check_timestamp("created", v))
        .transpose()?;
    let modified = map
        .get("modified")
        .map(|v| check_timestamp("modified", v))
        .transpose()?;
    if let (Some(c), Some(m)) = (created, modified) {
        if m < c {
            return err("modified", "must not be earlier than created");
        }
    }
    if kind == ObjectKind::Marking && modified.is_some() {
        return err("modified", "marking definitions are not versioned");
    }
    let version = modified.or(created);

    let created_by_ref = map
        .get("created_by_ref")
        .and_then(Value::as_str)
        .map(str::to_string);

    let mut tlp: Option<Tlp> = None;
    if let Some(Value::Array(refs)) = map.get("object_marking_refs") {
        for r in refs.iter().filter_map(Value::as_str) {
            if let Some(t) = Tlp::from_marking_id(r) {
                tlp = Some(tlp.map_or(t, |cur| cur.max(t)));
            }
        }
    }

    let mut audience = Vec::new();
    let mut exercise = false;
    if let Some(ext) = map.get("extensions").and_then(|e| e.get(HUB_EXTENSION_ID)) {
        let base = format!("extensions.{HUB_EXTENSION_ID}");
        match ext.get("extension_type").and_then(Value::as_str) {
            Some("property-extension") => {}
            _ => {
                return err(
                    format!("{base}.extension_type"),
                    "must be \"property-extension\"",
                )
            }
        }
        match ext.get("audience") {
            None => {}
            Some(Value::Array(items)) => {
                if items.len() > MAX_AUDIENCE {
                    return err(
                        format!("{base}.audience"),
                        format!(
                            "{} entries; at most {MAX_AUDIENCE} (name communities instead of every organization)",
                            items.len()
                        ),
                    );
                }
                let mut seen = std::collections::HashSet::with_capacity(items.len());
                for (i, a) in items.iter().enumerate() {
                    let p = format!("{base}.audience[{i}]");
                    check_ref(&p, a, Some("identity"))?;
                    let s = a.as_str().unwrap_or_default();
                    if seen.insert(s) {
                        audience.push(s.to_string());
                    }
                }
            }
            Some(_) => return err(format!("{base}.audience"), "must be a list of identity ids"),
        }
        match ext.get("exercise") {
            None => {}
            Some(Value::Bool(b)) => exercise = *b,
            Some(_) => return err(format!("{base}.exercise"), "must be true or false"),
        }
    }
    let revoked = map.get("revoked").and_then(Value::as_bool).unwrap_or(false);

    Ok(CheckedObject {
        id,
        object_type,
        kind,
        version,
        created_by_ref,
        tlp,
        audience,
        exercise,
        revoked,
        value,
    })
}

fn check_property(k: &str, v: &Value) -> Result<(), ValidationError> {
    if !matches!(k, "id" | "type") {
        if k.len() < 3 || k.len() > 250 {
            return err(k, "property names must be 3 to 250 characters");
        }
        if !k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return err(k, "property names may contain only a-z, A-Z, 0-9 and '_'");
        }
    }
    match v {
        Value::Null => return err(k, "null is not allowed; omit the property instead"),
        Value::Array(a) if a.is_empty() => {
            return err(k, "empty lists are not allowed; omit the property instead")
        }
        _ => {}
    }
    if TIMESTAMP_PROPS.contains(&k) {
        check_timestamp(k, v)?;
    } else if k.ends_with("_ref") {
        let expect = match k {
            "created_by_ref" => Some("identity"),
            _ => None,
        };
        check_ref(k, v, expect)?;
    } else if k.ends_with("_refs") {
        let Value::Array(items) = v else {
            return err(k, "expected a list of identifiers");
        };
        let expect = (k == "object_marking_refs").then_some("marking-definition");
        for (i, item) in items.iter().enumerate() {
            check_ref(&format!("{k}[{i}]"), item, expect)?;
        }
    }
    match k {
        "revoked" | "is_family" | "is_multipart" if !v.is_boolean() => {
            err(k, "must be true or false")
        }
        "confidence" => match v.as_i64() {
            Some(0..=100) => Ok(()),
            _ => err(k, "must be an integer from 0 to 100"),
        },
        "labels" => string_list(k, v),
        "external_references" => {
            let Value::Array(items) = v else {
                return err(k, "expected a list of external references");
            };
            for (i, item) in items.iter().enumerate() {
                if !item.get("source_name").is_some_and(Value::is_string) {
                    return err(
                        format!("{k}[{i}].source_name"),
                        "required property is missing",
                    );
                }
            }
            Ok(())
        }
        "granular_markings" => {
            let Value::Array(items) = v else {
                return err(k, "expected a list of granular markings");
            };
            for (i, item) in items.iter().enumerate() {
                let p = format!("{k}[{i}]");
                match (item.get("marking_ref"), item.get("lang")) {
                    (Some(r), None) => {
                        check_ref(&format!("{p}.marking_ref"), r, Some("marking-definition"))?
                    }
                    (None, Some(Value::String(_))) => {}
                    _ => return err(p, "needs exactly one of marking_ref and lang"),
                }
                match item.get("selectors") {
                    Some(Value::Array(s)) if !s.is_empty() && s.iter().all(Value::is_string) => {}
                    _ => {
                        return err(
                            format!("{p}.selectors"),
                            "must be a non-empty list of strings",
                        )
                    }
                }
            }
            Ok(())
        }
        "extensions" => {
            let Value::Object(exts) = v else {
                return err(k, "must be a dictionary");
            };
            for (name, ext) in exts {
                let p = format!("extensions.{name}");
                if !ext.is_object() {
                    return err(p, "an extension must be a JSON object");
                }
                if name.starts_with("extension-definition--") {
                    check_ref(
                        &p,
                        &Value::String(name.clone()),
                        Some("extension-definition"),
                    )?;
                    match ext.get("extension_type").and_then(Value::as_str) {
                        Some(
                            "new-sdo" | "new-sco" | "new-sro" | "property-extension"
                            | "toplevel-property-extension",
                        ) => {}
                        _ => {
                            return err(
                                format!("{p}.extension_type"),
                                "required: new-sdo, new-sco, new-sro, property-extension or toplevel-property-extension",
                            )
                        }
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn string_list(k: &str, v: &Value) -> Result<(), ValidationError> {
    match v {
        Value::Array(a) if a.iter().all(Value::is_string) => Ok(()),
        _ => err(k, "must be a list of strings"),
    }
}

fn type_rules(t: &str, m: &Map<String, Value>) -> Result<(), ValidationError> {
    let has = |k: &str| m.contains_key(k);
    match t {
        "indicator" => {
            if let (Some(f), Some(u)) = (m.get("valid_from"), m.get("valid_until")) {
                if check_timestamp("valid_until", u)? <= check_timestamp("valid_from", f)? {
                    return err("valid_until", "must be later than valid_from");
                }
            }
            if !m["pattern"].is_string() {
                return err("pattern", "must be a string");
            }
        }
        "observed-data" => {
            if !has("object_refs") && !has("objects") {
                return err("object_refs", "required property is missing");
            }
            match m["number_observed"].as_i64() {
                Some(1..=999_999_999) => {}
                _ => {
                    return err(
                        "number_observed",
                        "must be an integer from 1 to 999,999,999",
                    )
                }
            }
            if check_timestamp("last_observed", &m["last_observed"])?
                < check_timestamp("first_observed", &m["first_observed"])?
            {
                return err("last_observed", "must not be earlier than first_observed");
            }
        }
        "sighting" => {
            if let Some(c) = m.get("count") {
                if !matches!(c.as_i64(), Some(0..=999_999_999)) {
                    return err("count", "must be an integer from 0 to 999,999,999");
                }
            }
        }
        "location"
            if !(has("region") || has("country") || (has("latitude") && has("longitude"))) =>
        {
            return err(
                "region",
                "a location needs region, country, or latitude and longitude",
            );
        }
        "malware-analysis" if !has("result") && !has("analysis_sco_refs") => {
            return err(
                "result",
                "a malware-analysis needs result or analysis_sco_refs",
            );
        }
        "artifact" if has("payload_bin") == has("url") => {
            return err(
                "payload_bin",
                "an artifact needs exactly one of payload_bin and url",
            );
        }
        "network-traffic" if !has("src_ref") && !has("dst_ref") => {
            return err("src_ref", "network-traffic needs src_ref or dst_ref");
        }
        "identity" | "report" | "tool" | "malware" | "campaign" => {
            if let Some(n) = m.get("name") {
                if !n.is_string() {
                    return err("name", "must be a string");
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn indicator() -> Value {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z"
        })
    }

    fn check_err(mut v: Value, edit: impl FnOnce(&mut Map<String, Value>), expect: &str) {
        edit(v.as_object_mut().unwrap());
        let e = check_object(v).unwrap_err().to_string();
        assert!(
            e.contains(expect),
            "error '{e}' does not contain '{expect}'"
        );
    }

    #[test]
    fn valid_indicator() {
        let o = check_object(indicator()).unwrap();
        assert_eq!(o.kind, ObjectKind::Versioned);
        assert_eq!(o.tlp, None);
        assert!(o.version.is_some());
    }

    #[test]
    fn errors_name_the_property() {
        check_err(
            indicator(),
            |m| {
                m.remove("pattern");
            },
            "pattern: required property is missing",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("modified".into(), json!("yesterday"));
            },
            "modified: not an RFC 3339",
        );
        check_err(
            indicator(),
            |m| {
                m.insert(
                    "id".into(),
                    json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
                );
            },
            "id: prefix 'malware'",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("id".into(), json!("indicator--1234"));
            },
            "id: identifier does not end in a valid UUID",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("spec_version".into(), json!("2.0"));
            },
            "spec_version",
        );
        check_err(
            indicator(),
            |m| {
                m.insert(
                    "created_by_ref".into(),
                    json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
                );
            },
            "created_by_ref: must reference a 'identity'",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("object_marking_refs".into(), json!(["x"]));
            },
            "object_marking_refs[0]",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("labels".into(), json!([]));
            },
            "labels: empty lists",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("modified".into(), json!("2015-01-01T00:00:00Z"));
            },
            "modified: must not be earlier",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("confidence".into(), json!(101));
            },
            "confidence",
        );
        check_err(
            indicator(),
            |m| {
                m.insert("x-bad".into(), json!(1));
            },
            "x-bad: property names",
        );
    }

    #[test]
    fn tlp_and_audience_extracted() {
        let mut v = indicator();
        let m = v.as_object_mut().unwrap();
        m.insert(
            "object_marking_refs".into(),
            json!([
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
            ]),
        );
        m.insert(
            "extensions".into(),
            json!({HUB_EXTENSION_ID: {
                "extension_type": "property-extension",
                "audience": ["identity--11111111-1111-4111-8111-111111111111"],
                "exercise": true
            }}),
        );
        let o = check_object(v).unwrap();
        assert_eq!(o.tlp, Some(Tlp::Red));
        assert_eq!(
            o.audience,
            vec!["identity--11111111-1111-4111-8111-111111111111"]
        );
        assert!(o.exercise);
    }

    #[test]
    fn observable_without_timestamps() {
        let o = check_object(json!({
            "type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
            "value": "198.51.100.3"
        }))
        .unwrap();
        assert_eq!(o.kind, ObjectKind::Observable);
        assert_eq!(o.version, None);
    }
}
