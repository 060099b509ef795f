//! Members' asset inventories (their own data: only the organization and the
//! coordinator read them) and the findings of matching advisories against them.

use serde_json::{json, Value};

use hinomi_stix::Timestamp;

use crate::db::Val;
use crate::{append_audit, Store, StoreError};

/// An inventory as stored.
#[derive(Debug, Clone)]
pub struct StoredInventory {
    pub org_id: String,
    pub asset: String,
    /// `cyclonedx` or `components`.
    pub format: String,
    pub components: i64,
    pub updated: Timestamp,
    pub json: String,
}

/// One finding: a component of an asset and a vulnerability of an advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub org_id: String,
    pub asset: String,
    pub component_index: i64,
    /// `name@version` for people.
    pub component: String,
    pub publisher: String,
    pub tracking_id: String,
    /// The CVE, or `vulnerabilities[i]` when it has none.
    pub vulnerability: String,
    pub product_id: String,
    /// affected, fixed, not_affected, under_investigation.
    pub status: String,
    pub max_score: Option<i64>,
    /// Remediations, CVSS, how it matched: JSON.
    pub detail: Value,
    pub first_seen: Timestamp,
    pub changed: Timestamp,
}

impl FindingRow {
    pub fn to_json(&self) -> Value {
        json!({
            "organization_id": self.org_id,
            "asset": self.asset,
            "component_index": self.component_index,
            "component": self.component,
            "publisher": self.publisher,
            "tracking_id": self.tracking_id,
            "vulnerability": self.vulnerability,
            "product_id": self.product_id,
            "status": self.status,
            "max_cvss": self.max_score.map(|s| s as f64 / 10.0),
            "detail": self.detail,
            "first_seen": self.first_seen.to_string(),
            "changed": self.changed.to_string(),
        })
    }

    fn key(&self) -> (String, String, i64, String, String, String, String) {
        (
            self.org_id.clone(),
            self.asset.clone(),
            self.component_index,
            self.publisher.clone(),
            self.tracking_id.clone(),
            self.vulnerability.clone(),
            self.product_id.clone(),
        )
    }
}

/// Which findings a re-match replaces: those of one asset, or those of one advisory.
#[derive(Debug, Clone)]
pub enum FindingScope {
    Asset {
        org_id: String,
        asset: String,
    },
    Advisory {
        publisher: String,
        tracking_id: String,
    },
}

/// Where a finding stands in the order of [`Store::findings_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct FindingKey {
    /// Minus the score (-1 when there is none), so that ascending is most severe first.
    pub score: i64,
    pub tracking_id: String,
    pub org_id: String,
    pub asset: String,
    pub component_index: i64,
    pub publisher: String,
    pub vulnerability: String,
    pub product_id: String,
}

impl FindingRow {
    /// This finding's place in the order of [`Store::findings_page`].
    pub fn page_key(&self) -> FindingKey {
        FindingKey {
            score: -self.max_score.unwrap_or(-1),
            tracking_id: self.tracking_id.clone(),
            org_id: self.org_id.clone(),
            asset: self.asset.clone(),
            component_index: self.component_index,
            publisher: self.publisher.clone(),
            vulnerability: self.vulnerability.clone(),
            product_id: self.product_id.clone(),
        }
    }
}

const FINDING_COLUMNS: &str = "org_id, asset, component_index, component, publisher, tracking_id, vulnerability, product_id, status, max_score, detail, first_seen, changed";

fn finding_from_row(r: &[Val]) -> FindingRow {
    FindingRow {
        org_id: r[0].text(),
        asset: r[1].text(),
        component_index: r[2].int(),
        component: r[3].text(),
        publisher: r[4].text(),
        tracking_id: r[5].text(),
        vulnerability: r[6].text(),
        product_id: r[7].text(),
        status: r[8].text(),
        max_score: r[9].opt_int(),
        detail: serde_json::from_str(&r[10].text()).unwrap_or(Value::Null),
        first_seen: Timestamp(r[11].int()),
        changed: Timestamp(r[12].int()),
    }
}

impl Store {
    /// Stores (or replaces) the inventory of one asset of an organization.
    pub fn put_inventory(
        &self,
        org_id: &str,
        asset: &str,
        format: &str,
        components: i64,
        json: &str,
    ) -> Result<(), StoreError> {
        if asset.trim().is_empty() || asset.len() > 200 {
            return Err(StoreError::Invalid(
                "asset: must be 1 to 200 characters".into(),
            ));
        }
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO inventories (org_id, asset, format, components, updated, json) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (org_id, asset) DO UPDATE SET format = excluded.format, components = excluded.components, updated = excluded.updated, json = excluded.json",
                    &[org_id.into(), asset.into(), format.into(), components.into(), Timestamp::now().micros().into(), json.into()],
                )?;
                append_audit(c, Some(org_id), "inventory.put", Some(asset), &json!({"format": format, "components": components}))
            })
        })
    }

    /// The inventories of an organization (`None`: of every organization).
    pub fn inventories(&self, org_id: Option<&str>) -> Result<Vec<StoredInventory>, StoreError> {
        self.pool.with(|c| {
            let (sql, params): (&str, Vec<Val>) = match org_id {
                Some(o) => ("SELECT org_id, asset, format, components, updated, json FROM inventories WHERE org_id = ? ORDER BY asset", vec![o.into()]),
                None => ("SELECT org_id, asset, format, components, updated, json FROM inventories ORDER BY org_id, asset", vec![]),
            };
            Ok(c.query(sql, &params)?
                .into_iter()
                .map(|mut r| StoredInventory {
                    org_id: r[0].text(),
                    asset: r[1].text(),
                    format: r[2].text(),
                    components: r[3].int(),
                    updated: Timestamp(r[4].int()),
                    json: r[5].take_text(),
                })
                .collect())
        })
    }

    /// A page of inventories without their documents (organization, then asset), after
    /// the keyset cursor `after` (organization id and asset of the last one of the
    /// previous page).
    pub fn inventory_page(
        &self,
        org_id: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StoredInventory>, StoreError> {
        let mut cond = vec!["1 = 1"];
        let mut params: Vec<Val> = Vec::new();
        if let Some(o) = org_id {
            cond.push("org_id = ?");
            params.push(o.into());
        }
        if let Some((o, a)) = after {
            cond.push("(org_id > ? OR (org_id = ? AND asset > ?))");
            params.extend([o.into(), o.into(), a.into()]);
        }
        params.push((limit.clamp(1, 10_000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT org_id, asset, format, components, updated FROM inventories WHERE {} ORDER BY org_id, asset LIMIT ?",
                    cond.join(" AND ")
                ),
                &params,
            )?
            .into_iter()
            .map(|r| StoredInventory {
                org_id: r[0].text(),
                asset: r[1].text(),
                format: r[2].text(),
                components: r[3].int(),
                updated: Timestamp(r[4].int()),
                json: String::new(),
            })
            .collect())
        })
    }

    /// A page of findings, most severe first (then advisory, organization, asset,
    /// component, publisher, vulnerability, product: a total order), after the keyset
    /// cursor `after`, the [`FindingRow::page_key`] of the last one of the previous page.
    pub fn findings_page(
        &self,
        org_id: Option<&str>,
        after: Option<&FindingKey>,
        limit: usize,
    ) -> Result<Vec<FindingRow>, StoreError> {
        let mut cond = vec!["1 = 1"];
        let mut params: Vec<Val> = Vec::new();
        if let Some(o) = org_id {
            cond.push("org_id = ?");
            params.push(o.into());
        }
        const ORDER: &str = "-COALESCE(max_score, -1), tracking_id, org_id, asset, component_index, publisher, vulnerability, product_id";
        let keyset = format!("({ORDER}) > (?, ?, ?, ?, ?, ?, ?, ?)");
        if let Some(k) = after {
            cond.push(&keyset);
            params.extend([
                k.score.into(),
                (&k.tracking_id).into(),
                (&k.org_id).into(),
                (&k.asset).into(),
                k.component_index.into(),
                (&k.publisher).into(),
                (&k.vulnerability).into(),
                (&k.product_id).into(),
            ]);
        }
        params.push((limit.clamp(1, 10_000) as i64).into());
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {FINDING_COLUMNS} FROM findings WHERE {} ORDER BY {ORDER} LIMIT ?",
                    cond.join(" AND ")
                ),
                &params,
            )?
            .iter()
            .map(|r| finding_from_row(r))
            .collect())
        })
    }

    /// Deletes an asset's inventory and its findings.
    pub fn delete_inventory(&self, org_id: &str, asset: &str) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "DELETE FROM inventories WHERE org_id = ? AND asset = ?",
                    &[org_id.into(), asset.into()],
                )?;
                c.execute(
                    "DELETE FROM findings WHERE org_id = ? AND asset = ?",
                    &[org_id.into(), asset.into()],
                )?;
                if n > 0 {
                    append_audit(c, Some(org_id), "inventory.delete", Some(asset), &json!({}))?;
                }
                Ok(n > 0)
            })
        })
    }

    /// Replaces the findings within `scope` by `rows`. A finding whose key and status
    /// are unchanged keeps its `first_seen` and `changed` dates and is not reported
    /// again; returns the rows that are new or changed.
    pub fn replace_findings(
        &self,
        scope: &FindingScope,
        rows: Vec<FindingRow>,
    ) -> Result<Vec<FindingRow>, StoreError> {
        let now = Timestamp::now();
        self.pool.with(|c| {
            c.write_tx(|c| {
                let (cond, params): (&str, Vec<Val>) = match scope {
                    FindingScope::Asset { org_id, asset } => ("org_id = ? AND asset = ?", vec![org_id.into(), asset.into()]),
                    FindingScope::Advisory { publisher, tracking_id } => ("publisher = ? AND tracking_id = ?", vec![publisher.into(), tracking_id.into()]),
                };
                let old: std::collections::HashMap<_, FindingRow> = c
                    .query(&format!("SELECT {FINDING_COLUMNS} FROM findings WHERE {cond}"), &params)?
                    .iter()
                    .map(|r| {
                        let f = finding_from_row(r);
                        (f.key(), f)
                    })
                    .collect();
                c.execute(&format!("DELETE FROM findings WHERE {cond}"), &params)?;
                let mut fresh = Vec::new();
                for mut f in rows {
                    match old.get(&f.key()) {
                        Some(o) if o.status == f.status => {
                            f.first_seen = o.first_seen;
                            f.changed = o.changed;
                        }
                        Some(o) => {
                            f.first_seen = o.first_seen;
                            f.changed = now;
                            fresh.push(f.clone());
                        }
                        None => {
                            f.first_seen = now;
                            f.changed = now;
                            fresh.push(f.clone());
                        }
                    }
                    c.execute(
                        &format!("INSERT INTO findings ({FINDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                        &[
                            (&f.org_id).into(),
                            (&f.asset).into(),
                            f.component_index.into(),
                            (&f.component).into(),
                            (&f.publisher).into(),
                            (&f.tracking_id).into(),
                            (&f.vulnerability).into(),
                            (&f.product_id).into(),
                            (&f.status).into(),
                            f.max_score.into(),
                            f.detail.to_string().into(),
                            f.first_seen.micros().into(),
                            f.changed.micros().into(),
                        ],
                    )?;
                }
                Ok(fresh)
            })
        })
    }

    /// The findings of an organization (`None`: all), most severe first.
    pub fn findings(&self, org_id: Option<&str>) -> Result<Vec<FindingRow>, StoreError> {
        self.pool.with(|c| {
            let (sql, params): (String, Vec<Val>) = match org_id {
                Some(o) => (format!("SELECT {FINDING_COLUMNS} FROM findings WHERE org_id = ? ORDER BY COALESCE(max_score, -1) DESC, tracking_id, asset, component_index"), vec![o.into()]),
                None => (format!("SELECT {FINDING_COLUMNS} FROM findings ORDER BY COALESCE(max_score, -1) DESC, tracking_id, org_id, asset"), vec![]),
            };
            Ok(c.query(&sql, &params)?.iter().map(|r| finding_from_row(r)).collect())
        })
    }

    /// The national picture: per advisory, how many organizations and assets have an
    /// affected component.
    pub fn affected_by_advisory(&self) -> Result<Vec<Value>, StoreError> {
        self.affected_by_advisory_top(i64::MAX)
    }

    /// [`Store::affected_by_advisory`], the `n` widest only.
    pub fn affected_by_advisory_top(&self, n: i64) -> Result<Vec<Value>, StoreError> {
        self.pool.with(|c| {
            Ok(c
                .query(
                    "SELECT publisher, tracking_id, COUNT(DISTINCT org_id), COUNT(DISTINCT org_id || '/' || asset), MAX(max_score) \
                     FROM findings WHERE status = 'affected' GROUP BY publisher, tracking_id ORDER BY COUNT(DISTINCT org_id) DESC, tracking_id LIMIT ?",
                    &[n.into()],
                )?
                .iter()
                .map(|r| json!({"publisher": r[0].text(), "tracking_id": r[1].text(), "organizations_affected": r[2].int(), "assets_affected": r[3].int(), "max_cvss": r[4].opt_int().map(|s| s as f64 / 10.0)}))
                .collect())
        })
    }
}
