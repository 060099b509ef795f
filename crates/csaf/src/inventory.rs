//! Asset inventories: CycloneDX JSON SBOMs (spec 1.4–1.6) and hinomi's plain
//! component list, normalized into one [`Inventory`].
//!
//! The plain list is `{"components": [{"name", "version"?, "vendor"?,
//! "purl"?, "cpe"?}]}`. A CycloneDX BOM is recognized by
//! `"bomFormat": "CycloneDX"`; its `metadata.component` and every
//! `components[]` entry, nested ones included, become components (in
//! document order, depth first).

use serde_json::Value;

use crate::cpe::Cpe;
use crate::purl::Purl;

/// A normalized inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub components: Vec<Component>,
}

/// One asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    /// The version; taken from the purl or the CPE when the entry has no
    /// `version` of its own.
    pub version: Option<String>,
    /// Vendor or supplier, when the source names one (CycloneDX `supplier`,
    /// `publisher`, `group`; plain list `vendor`).
    pub vendor: Option<String>,
    pub purl: Option<Purl>,
    pub cpe: Option<Cpe>,
}

/// What was wrong with an inventory document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// A value is missing or has the wrong type or format; `path` names it
    /// (`components[3].purl`).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A CycloneDX `specVersion` other than 1.4, 1.5, 1.6.
    #[error("specVersion: CycloneDX {0} is not supported (1.4, 1.5, 1.6 are)")]
    UnsupportedSpecVersion(String),
}

fn invalid(path: &str, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid {
        path: if path.is_empty() {
            "(root)".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

fn opt_str(v: &Value, key: &str, path: &str) -> Result<Option<String>, InventoryError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(&format!("{path}.{key}"), "not a string")),
    }
}

fn component(v: &Value, path: &str) -> Result<Component, InventoryError> {
    if !v.is_object() {
        return Err(invalid(path, "not an object"));
    }
    let name =
        opt_str(v, "name", path)?.ok_or_else(|| invalid(&format!("{path}.name"), "missing"))?;
    let purl = opt_str(v, "purl", path)?
        .map(|s| {
            Purl::parse(&s)
                .map_err(|e| invalid(&format!("{path}.purl"), format!("not a package URL: {e}")))
        })
        .transpose()?;
    let cpe = opt_str(v, "cpe", path)?
        .map(|s| {
            Cpe::parse(&s)
                .map_err(|e| invalid(&format!("{path}.cpe"), format!("not a CPE name: {e}")))
        })
        .transpose()?;
    let version = opt_str(v, "version", path)?
        .or_else(|| purl.as_ref().and_then(|p| p.version.clone()))
        .or_else(|| cpe.as_ref().and_then(|c| c.version().literal()));
    Ok(Component {
        name,
        version,
        vendor: None,
        purl,
        cpe,
    })
}

fn cyclonedx_component(
    v: &Value,
    path: &str,
    out: &mut Vec<Component>,
) -> Result<(), InventoryError> {
    let mut c = component(v, path)?;
    let org_name = |key: &str| {
        v.get(key)
            .and_then(|o| o.get("name"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    c.vendor = org_name("supplier")
        .or_else(|| org_name("manufacturer"))
        .or(opt_str(v, "publisher", path)?)
        .or(opt_str(v, "group", path)?);
    out.push(c);
    if let Some(children) = v.get("components") {
        let children = children
            .as_array()
            .ok_or_else(|| invalid(&format!("{path}.components"), "not an array"))?;
        for (i, child) in children.iter().enumerate() {
            cyclonedx_component(child, &format!("{path}.components[{i}]"), out)?;
        }
    }
    Ok(())
}

impl Inventory {
    /// Parse either format (CycloneDX when `bomFormat` is present).
    pub fn from_json(doc: &Value) -> Result<Self, InventoryError> {
        if doc.get("bomFormat").is_some() {
            Self::from_cyclonedx(doc)
        } else {
            Self::from_component_list(doc)
        }
    }

    /// Parse a CycloneDX 1.4–1.6 JSON BOM.
    pub fn from_cyclonedx(doc: &Value) -> Result<Self, InventoryError> {
        if !doc.is_object() {
            return Err(invalid("", "a CycloneDX BOM is a JSON object"));
        }
        match doc.get("bomFormat").and_then(Value::as_str) {
            Some("CycloneDX") => {}
            _ => return Err(invalid("bomFormat", "is not \"CycloneDX\"")),
        }
        match doc.get("specVersion").and_then(Value::as_str) {
            Some("1.4" | "1.5" | "1.6") => {}
            Some(v) => return Err(InventoryError::UnsupportedSpecVersion(v.into())),
            None => return Err(invalid("specVersion", "missing or not a string")),
        }
        let mut out = Vec::new();
        if let Some(m) = doc.get("metadata").and_then(|m| m.get("component")) {
            cyclonedx_component(m, "metadata.component", &mut out)?;
        }
        match doc.get("components") {
            None => {}
            Some(Value::Array(cs)) => {
                for (i, c) in cs.iter().enumerate() {
                    cyclonedx_component(c, &format!("components[{i}]"), &mut out)?;
                }
            }
            Some(_) => return Err(invalid("components", "not an array")),
        }
        Ok(Self { components: out })
    }

    /// Parse the plain list `{"components": [{"name", "version", "vendor"?,
    /// "purl"?, "cpe"?}]}`.
    pub fn from_component_list(doc: &Value) -> Result<Self, InventoryError> {
        if !doc.is_object() {
            return Err(invalid("", "a component list is a JSON object"));
        }
        let list = doc
            .get("components")
            .ok_or_else(|| invalid("components", "missing"))?
            .as_array()
            .ok_or_else(|| invalid("components", "not an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for (i, c) in list.iter().enumerate() {
            let path = format!("components[{i}]");
            let mut comp = component(c, &path)?;
            comp.vendor = opt_str(c, "vendor", &path)?;
            out.push(comp);
        }
        Ok(Self { components: out })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Inventory, InventoryError};

    #[test]
    fn cyclonedx_components_nested_and_metadata() {
        for spec in ["1.4", "1.5", "1.6"] {
            let bom = json!({
                "bomFormat": "CycloneDX", "specVersion": spec, "version": 1,
                "metadata": {"component": {"type": "application", "name": "portal", "version": "3.1"}},
                "components": [
                    {"type": "library", "group": "org.apache.logging.log4j", "name": "log4j-core",
                     "version": "2.14.1",
                     "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                     "components": [{"type": "library", "name": "inner",
                        "purl": "pkg:npm/inner@1.0.0"}]},
                    {"type": "firmware", "name": "plc", "supplier": {"name": "Siemens"},
                     "cpe": "cpe:2.3:o:siemens:plc_firmware:2.4:*:*:*:*:*:*:*"}
                ]
            });
            let inv = Inventory::from_json(&bom).unwrap();
            let names: Vec<_> = inv.components.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["portal", "log4j-core", "inner", "plc"]);
            assert_eq!(inv.components[1].purl.as_ref().unwrap().ty, "maven");
            assert_eq!(
                inv.components[1].vendor.as_deref(),
                Some("org.apache.logging.log4j")
            );
            // Version from the purl, then from the CPE.
            assert_eq!(inv.components[2].version.as_deref(), Some("1.0.0"));
            assert_eq!(inv.components[3].version.as_deref(), Some("2.4"));
            assert_eq!(inv.components[3].vendor.as_deref(), Some("Siemens"));
        }
    }

    #[test]
    fn errors_name_the_json_path() {
        let err = |doc: serde_json::Value| Inventory::from_json(&doc).unwrap_err().to_string();
        assert_eq!(
            err(json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
                {"name": "a"}, {"name": "b", "components": [{"name": "c", "purl": "npm/x"}]}]})),
            "components[1].components[0].purl: not a package URL: a purl starts with the scheme pkg:"
        );
        assert_eq!(
            err(json!({"components": [{"name": "a", "cpe": "cpe:2.3:a:v:p"}]})),
            "components[0].cpe: not a CPE name: a formatted string has 11 attributes after cpe:2.3:, found 3"
        );
        assert_eq!(
            err(json!({"components": [{"version": "1"}]})),
            "components[0].name: missing"
        );
        assert_eq!(
            err(json!({"components": [{"name": "a", "version": 1}]})),
            "components[0].version: not a string"
        );
        assert_eq!(err(json!({"components": {}})), "components: not an array");
        assert_eq!(err(json!([])), "(root): a component list is a JSON object");
        assert_eq!(
            Inventory::from_json(&json!({"bomFormat": "CycloneDX", "specVersion": "1.2"})),
            Err(InventoryError::UnsupportedSpecVersion("1.2".into()))
        );
    }

    #[test]
    fn plain_component_list() {
        let inv = Inventory::from_json(&json!({"components": [
            {"name": "ISPSoft", "vendor": "Delta Electronics", "version": "3.0.5"},
            {"name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20"}
        ]}))
        .unwrap();
        assert_eq!(inv.components.len(), 2);
        assert_eq!(
            inv.components[0].vendor.as_deref(),
            Some("Delta Electronics")
        );
        assert_eq!(inv.components[1].purl.as_ref().unwrap().name, "lodash");
    }
}
