//! The CISA Known Exploited Vulnerabilities catalog (JSON feed, schema
//! `known_exploited_vulnerabilities_schema.json`).

use serde_json::Value;

/// The catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevCatalog {
    /// `catalogVersion`, e.g. `2025.08.25`.
    pub catalog_version: String,
    /// `dateReleased` (RFC 3339), when present.
    pub date_released: Option<String>,
    pub entries: Vec<KevEntry>,
}

/// One known exploited vulnerability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve_id: String,
    pub vendor_project: String,
    pub product: String,
    pub vulnerability_name: String,
    /// `YYYY-MM-DD`.
    pub date_added: String,
    pub short_description: String,
    pub required_action: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// `Known` → true, `Unknown` → false.
    pub known_ransomware_campaign_use: bool,
    pub notes: String,
    pub cwes: Vec<String>,
}

/// What was wrong with a catalog; `path` names the value
/// (`vulnerabilities[12].dueDate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KevError {
    pub path: String,
    pub message: String,
}

fn e(path: impl Into<String>, message: impl Into<String>) -> KevError {
    KevError {
        path: path.into(),
        message: message.into(),
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl KevCatalog {
    /// Parse the catalog JSON.
    pub fn from_json(doc: &Value) -> Result<Self, KevError> {
        let root = doc
            .as_object()
            .ok_or_else(|| e("(root)", "the catalog is a JSON object"))?;
        let text = |v: &Value, key: &str, path: &str, required: bool| -> Result<String, KevError> {
            match v.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) if !required => Ok(String::new()),
                None => Err(e(format!("{path}{key}"), "missing")),
                Some(_) => Err(e(format!("{path}{key}"), "not a string")),
            }
        };
        let catalog_version = text(doc, "catalogVersion", "", true)?;
        let date_released = root
            .get("dateReleased")
            .and_then(Value::as_str)
            .map(String::from);
        let list = root
            .get("vulnerabilities")
            .ok_or_else(|| e("vulnerabilities", "missing"))?
            .as_array()
            .ok_or_else(|| e("vulnerabilities", "not an array"))?;
        let mut entries = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let p = format!("vulnerabilities[{i}].");
            if !v.is_object() {
                return Err(e(format!("vulnerabilities[{i}]"), "not an object"));
            }
            let cve_id = text(v, "cveID", &p, true)?;
            if !cve_id.starts_with("CVE-") {
                return Err(e(format!("{p}cveID"), format!("{cve_id} is not a CVE id")));
            }
            let date = |key: &str| -> Result<String, KevError> {
                let d = text(v, key, &p, true)?;
                if is_date(&d) {
                    Ok(d)
                } else {
                    Err(e(
                        format!("{p}{key}"),
                        format!("{d} is not a YYYY-MM-DD date"),
                    ))
                }
            };
            let ransomware = match text(v, "knownRansomwareCampaignUse", &p, false)?.as_str() {
                "Known" => true,
                "Unknown" | "" => false,
                other => {
                    return Err(e(
                        format!("{p}knownRansomwareCampaignUse"),
                        format!("{other} is neither Known nor Unknown"),
                    ))
                }
            };
            let cwes = match v.get("cwes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        c.as_str()
                            .map(String::from)
                            .ok_or_else(|| e(format!("{p}cwes[{j}]"), "not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(e(format!("{p}cwes"), "not an array")),
            };
            entries.push(KevEntry {
                vendor_project: text(v, "vendorProject", &p, true)?,
                product: text(v, "product", &p, true)?,
                vulnerability_name: text(v, "vulnerabilityName", &p, true)?,
                date_added: date("dateAdded")?,
                short_description: text(v, "shortDescription", &p, false)?,
                required_action: text(v, "requiredAction", &p, true)?,
                due_date: date("dueDate")?,
                known_ransomware_campaign_use: ransomware,
                notes: text(v, "notes", &p, false)?,
                cwes,
                cve_id,
            });
        }
        Ok(Self {
            catalog_version,
            date_released,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::KevCatalog;

    #[test]
    fn errors_name_the_path() {
        let entry = json!({"cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2",
            "vulnerabilityName": "Log4Shell", "dateAdded": "2021-12-10", "shortDescription": "",
            "requiredAction": "Apply updates", "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known", "notes": ""});
        let ok = KevCatalog::from_json(
            &json!({"catalogVersion": "1", "vulnerabilities": [entry.clone()]}),
        )
        .unwrap();
        assert!(ok.entries[0].known_ransomware_campaign_use);
        let mut bad = entry.clone();
        bad["dueDate"] = json!("24.12.2021");
        let err =
            KevCatalog::from_json(&json!({"catalogVersion": "1", "vulnerabilities": [entry, bad]}))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "vulnerabilities[1].dueDate: 24.12.2021 is not a YYYY-MM-DD date"
        );
        let err = KevCatalog::from_json(&json!({"vulnerabilities": []})).unwrap_err();
        assert_eq!(err.to_string(), "catalogVersion: missing");
    }
}
