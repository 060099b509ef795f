//! CSAF advisories: every revision stored, with the facts search needs (CVEs, CWEs,
//! scores, products), read under the access rule; and the known-exploited catalog.

use serde_json::{json, Value};

use hinomi_access::Scope;
use hinomi_stix::{Timestamp, Tlp};

use crate::db::Val;
use crate::objects::{scope_sql_on, Cursor};
use crate::{append_audit, Store, StoreError};

/// One vulnerability of an advisory, as searched.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryVulnerability {
    pub cve: Option<String>,
    pub cwe: Option<String>,
    /// Highest CVSS base score of the vulnerability, times ten.
    pub max_score: Option<i64>,
    pub severity: Option<String>,
}

/// One product of an advisory's product tree, as searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryProduct {
    pub product_id: String,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub purl: Option<String>,
    pub cpe: Option<String>,
}

/// A validated advisory revision ready to be stored.
#[derive(Debug, Clone)]
pub struct NewAdvisory {
    pub publisher: String,
    pub tracking_id: String,
    pub version: String,
    pub title: String,
    pub initial_release: Timestamp,
    pub current_release: Timestamp,
    pub tlp: Tlp,
    pub vulnerabilities: Vec<AdvisoryVulnerability>,
    pub products: Vec<AdvisoryProduct>,
    /// The document, canonical JSON text.
    pub json: String,
}

impl NewAdvisory {
    /// Highest score over the vulnerabilities, times ten.
    pub fn max_score(&self) -> Option<i64> {
        self.vulnerabilities
            .iter()
            .filter_map(|v| v.max_score)
            .max()
    }
}

/// The severity name of a CVSS base score (times ten), per the CVSS v3 rating scale.
pub fn severity_of(score10: i64) -> &'static str {
    match score10 {
        90.. => "critical",
        70..=89 => "high",
        40..=69 => "medium",
        1..=39 => "low",
        _ => "none",
    }
}

/// What storing a revision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvisoryOutcome {
    Added,
    /// This exact revision was already stored.
    Duplicate,
    Refused(String),
}

/// A stored revision as listed.
#[derive(Debug, Clone)]
pub struct AdvisorySummary {
    pub pk: i64,
    pub publisher: String,
    pub tracking_id: String,
    pub version: String,
    pub title: String,
    pub initial_release: Timestamp,
    pub current_release: Timestamp,
    pub max_score: Option<i64>,
    pub severity: Option<String>,
    pub tlp: Tlp,
    pub cves: Vec<String>,
    /// CVEs of the advisory that are in the known-exploited catalog.
    pub known_exploited: Vec<String>,
}

impl AdvisorySummary {
    pub fn to_json(&self) -> Value {
        json!({
            "publisher": self.publisher,
            "tracking_id": self.tracking_id,
            "version": self.version,
            "title": self.title,
            "initial_release_date": self.initial_release.to_string(),
            "current_release_date": self.current_release.to_string(),
            "max_cvss": self.max_score.map(|s| s as f64 / 10.0),
            "severity": self.severity,
            "tlp": self.tlp.label(),
            "cves": self.cves,
            "known_exploited": self.known_exploited,
        })
    }
}

/// Search filters; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryQuery {
    pub cve: Option<String>,
    /// Case-insensitive substring of a product tree vendor.
    pub vendor: Option<String>,
    /// Case-insensitive substring of a product tree product name.
    pub product: Option<String>,
    /// Minimum severity: low, medium, high, critical.
    pub min_severity: Option<String>,
    pub released_after: Option<Timestamp>,
    pub released_before: Option<Timestamp>,
    pub tracking_id: Option<String>,
    /// Every revision, not only the current one of each advisory.
    pub all_revisions: bool,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A known-exploited vulnerability entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve: String,
    pub vendor_project: String,
    pub product: String,
    pub name: String,
    pub date_added: String,
    pub due_date: Option<String>,
    pub ransomware: Option<String>,
    pub json: String,
}

/// Counts of a catalog import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KevImport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn min_score_for(sev: &str) -> Option<i64> {
    Some(match sev {
        "none" => 0,
        "low" => 1,
        "medium" => 40,
        "high" => 70,
        "critical" => 90,
        _ => return None,
    })
}

impl Store {
    /// Stores an advisory revision owned by `owner_org`. The same revision again is a
    /// duplicate; the same revision with other content, or a revision of another
    /// organization's advisory, is refused.
    pub fn add_advisory(
        &self,
        owner_org: &str,
        a: &NewAdvisory,
    ) -> Result<AdvisoryOutcome, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let added = c.claim_added(1)?;
                let existing = c.query(
                    "SELECT version, owner_org, json, current_release FROM advisories WHERE publisher = ? AND tracking_id = ?",
                    &[(&a.publisher).into(), (&a.tracking_id).into()],
                )?;
                if let Some(r) = existing.first() {
                    if r[1].text() != owner_org {
                        return Ok(AdvisoryOutcome::Refused(format!(
                            "advisory {} of {} belongs to another organization; only it adds revisions",
                            a.tracking_id, a.publisher
                        )));
                    }
                }
                if let Some(r) = existing.iter().find(|r| r[0].text() == a.version) {
                    return Ok(if r[2].text() == a.json {
                        AdvisoryOutcome::Duplicate
                    } else {
                        AdvisoryOutcome::Refused(format!(
                            "revision {} of {} is already stored with different content; a change needs a new /document/tracking/version",
                            a.version, a.tracking_id
                        ))
                    });
                }
                let latest = existing.iter().all(|r| r[3].int() <= a.current_release.micros());
                if latest {
                    c.execute(
                        "UPDATE advisories SET is_latest = 0 WHERE publisher = ? AND tracking_id = ?",
                        &[(&a.publisher).into(), (&a.tracking_id).into()],
                    )?;
                }
                let max = a.max_score();
                let pk = c
                    .query(
                        "INSERT INTO advisories (publisher, tracking_id, version, title, initial_release, current_release, max_score, severity, owner_org, tlp, has_audience, date_added, is_latest, json) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING pk",
                        &[
                            (&a.publisher).into(),
                            (&a.tracking_id).into(),
                            (&a.version).into(),
                            (&a.title).into(),
                            a.initial_release.micros().into(),
                            a.current_release.micros().into(),
                            max.into(),
                            max.map(severity_of).into(),
                            owner_org.into(),
                            a.tlp.as_i64().into(),
                            added.into(),
                            latest.into(),
                            (&a.json).into(),
                        ],
                    )?
                    .first()
                    .map_or(0, |r| r[0].int());
                for v in &a.vulnerabilities {
                    c.execute(
                        "INSERT INTO advisory_vulnerabilities (advisory_pk, cve, cwe, max_score, severity) VALUES (?, ?, ?, ?, ?)",
                        &[pk.into(), v.cve.clone().into(), v.cwe.clone().into(), v.max_score.into(), v.severity.clone().into()],
                    )?;
                }
                for p in &a.products {
                    c.execute(
                        "INSERT INTO advisory_products (advisory_pk, product_id, vendor, product, version, purl, cpe) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        &[
                            pk.into(),
                            (&p.product_id).into(),
                            p.vendor.as_ref().map(|v| v.to_lowercase()).into(),
                            p.product.as_ref().map(|v| v.to_lowercase()).into(),
                            p.version.clone().into(),
                            p.purl.clone().into(),
                            p.cpe.clone().into(),
                        ],
                    )?;
                }
                append_audit(
                    c,
                    Some(owner_org),
                    "advisory.add",
                    Some(&a.tracking_id),
                    &json!({"publisher": a.publisher, "version": a.version, "tlp": a.tlp.label()}),
                )?;
                Ok(AdvisoryOutcome::Added)
            })
        })
    }

    /// A page of advisory revisions the scope may see, newest release first.
    pub fn query_advisories(
        &self,
        scope: &Scope,
        q: &AdvisoryQuery,
    ) -> Result<(Vec<AdvisorySummary>, Option<Cursor>), StoreError> {
        let mut params: Vec<Val> = Vec::new();
        let mut sql = String::from(
            "SELECT v.pk, v.publisher, v.tracking_id, v.version, v.title, v.initial_release, v.current_release, v.max_score, v.severity, v.tlp \
             FROM advisories v WHERE ",
        );
        sql.push_str(&scope_sql_on("v", "advisory_audience", scope, &mut params));
        if !q.all_revisions {
            sql.push_str(" AND v.is_latest = 1");
        }
        if let Some(cve) = &q.cve {
            sql.push_str(" AND EXISTS (SELECT 1 FROM advisory_vulnerabilities x WHERE x.advisory_pk = v.pk AND x.cve = ?)");
            params.push(cve.to_uppercase().into());
        }
        if let Some(vendor) = &q.vendor {
            sql.push_str(" AND EXISTS (SELECT 1 FROM advisory_products p WHERE p.advisory_pk = v.pk AND p.vendor LIKE ?)");
            params.push(format!("%{}%", vendor.to_lowercase()).into());
        }
        if let Some(product) = &q.product {
            sql.push_str(" AND EXISTS (SELECT 1 FROM advisory_products p WHERE p.advisory_pk = v.pk AND p.product LIKE ?)");
            params.push(format!("%{}%", product.to_lowercase()).into());
        }
        if let Some(sev) = &q.min_severity {
            let min = min_score_for(sev).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "severity: '{sev}' is not one of none, low, medium, high, critical"
                ))
            })?;
            sql.push_str(" AND v.max_score >= ?");
            params.push(min.into());
        }
        if let Some(t) = q.released_after {
            sql.push_str(" AND v.current_release > ?");
            params.push(t.micros().into());
        }
        if let Some(t) = q.released_before {
            sql.push_str(" AND v.current_release < ?");
            params.push(t.micros().into());
        }
        if let Some(t) = &q.tracking_id {
            sql.push_str(" AND v.tracking_id = ?");
            params.push(t.into());
        }
        if let Some(c) = q.after {
            sql.push_str(" AND v.current_release <= ? AND (v.current_release < ? OR v.pk < ?)");
            params.extend([c.key.into(), c.key.into(), c.pk.into()]);
        }
        let limit = q.limit.clamp(1, 1000);
        sql.push_str(&format!(
            " ORDER BY v.current_release DESC, v.pk DESC LIMIT {}",
            limit + 1
        ));
        self.pool.with(|c| {
            let rows = c.query(&sql, &params)?;
            let more = rows.len() > limit;
            let mut out = Vec::new();
            for r in rows.into_iter().take(limit) {
                let cves: Vec<String> = c
                    .query(
                        "SELECT DISTINCT cve FROM advisory_vulnerabilities WHERE advisory_pk = ? AND cve IS NOT NULL ORDER BY cve",
                        &[r[0].clone()],
                    )?
                    .iter()
                    .map(|x| x[0].text())
                    .collect();
                let kev: Vec<String> = c
                    .query(
                        "SELECT DISTINCT k.cve FROM advisory_vulnerabilities x JOIN kev k ON k.cve = x.cve WHERE x.advisory_pk = ? ORDER BY k.cve",
                        &[r[0].clone()],
                    )?
                    .iter()
                    .map(|x| x[0].text())
                    .collect();
                out.push(AdvisorySummary {
                    pk: r[0].int(),
                    publisher: r[1].text(),
                    tracking_id: r[2].text(),
                    version: r[3].text(),
                    title: r[4].text(),
                    initial_release: Timestamp(r[5].int()),
                    current_release: Timestamp(r[6].int()),
                    max_score: r[7].opt_int(),
                    severity: r[8].opt_text(),
                    tlp: Tlp::from_i64(r[9].int()).unwrap_or(Tlp::Red),
                    cves,
                    known_exploited: kev,
                });
            }
            let next = if more {
                out.last().map(|l| Cursor { key: l.current_release.micros(), pk: l.pk })
            } else {
                None
            };
            Ok((out, next))
        })
    }

    /// The JSON of one revision the scope may see (`version` None: the current one).
    pub fn advisory_document(
        &self,
        scope: &Scope,
        tracking_id: &str,
        version: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let mut params: Vec<Val> = vec![tracking_id.into()];
        let mut sql = String::from("SELECT v.json FROM advisories v WHERE v.tracking_id = ?");
        match version {
            Some(ver) => {
                sql.push_str(" AND v.version = ?");
                params.push(ver.into());
            }
            None => sql.push_str(" AND v.is_latest = 1"),
        }
        sql.push_str(" AND ");
        sql.push_str(&scope_sql_on("v", "advisory_audience", scope, &mut params));
        sql.push_str(" ORDER BY v.current_release DESC LIMIT 1");
        self.pool
            .with(|c| Ok(c.query_one(&sql, &params)?.map(|r| r[0].text())))
    }

    /// Imports a known-exploited catalog: new CVEs are added, changed entries updated,
    /// the rest left alone, so importing the same catalog twice changes nothing.
    pub fn import_kev(&self, entries: &[KevEntry], actor: &str) -> Result<KevImport, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let mut r = KevImport::default();
                for e in entries {
                    match c.query_one("SELECT json FROM kev WHERE cve = ?", &[(&e.cve).into()])? {
                        Some(row) if row[0].text() == e.json => r.unchanged += 1,
                        Some(_) => {
                            c.execute(
                                "UPDATE kev SET vendor_project = ?, product = ?, name = ?, date_added = ?, due_date = ?, ransomware = ?, json = ? WHERE cve = ?",
                                &[(&e.vendor_project).into(), (&e.product).into(), (&e.name).into(), (&e.date_added).into(), e.due_date.clone().into(), e.ransomware.clone().into(), (&e.json).into(), (&e.cve).into()],
                            )?;
                            r.updated += 1;
                        }
                        None => {
                            c.execute(
                                "INSERT INTO kev (cve, vendor_project, product, name, date_added, due_date, ransomware, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                &[(&e.cve).into(), (&e.vendor_project).into(), (&e.product).into(), (&e.name).into(), (&e.date_added).into(), e.due_date.clone().into(), e.ransomware.clone().into(), (&e.json).into()],
                            )?;
                            r.added += 1;
                        }
                    }
                }
                if r.added + r.updated > 0 {
                    append_audit(c, Some(actor), "kev.import", None, &json!({"added": r.added, "updated": r.updated, "unchanged": r.unchanged}))?;
                }
                Ok(r)
            })
        })
    }

    /// Which of `cves` are known exploited.
    pub fn known_exploited(&self, cves: &[String]) -> Result<Vec<String>, StoreError> {
        // De-duplicated, and asked in chunks: one IN list per CVE of every finding would
        // pass SQLite's 32,766 and PostgreSQL's 65,535 parameters.
        let mut unique: Vec<&String> = cves.iter().collect();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(vec![]);
        }
        self.pool.with(|c| {
            let mut out = Vec::new();
            for chunk in unique.chunks(KEV_CHUNK) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let params: Vec<Val> = chunk.iter().map(|s| Val::from(*s)).collect();
                out.extend(
                    c.query(
                        &format!("SELECT cve FROM kev WHERE cve IN ({marks})"),
                        &params,
                    )?
                    .iter()
                    .map(|r| r[0].text()),
                );
            }
            out.sort();
            Ok(out)
        })
    }
}

/// CVEs asked per query by [`Store::known_exploited`].
const KEV_CHUNK: usize = 500;

/// A current TLP:CLEAR advisory revision of an organization, for publication.
#[derive(Debug, Clone)]
pub struct PublishedAdvisory {
    pub tracking_id: String,
    pub version: String,
    pub title: String,
    pub initial_release: Timestamp,
    pub current_release: Timestamp,
    pub json: String,
}

impl Store {
    /// The current revisions of `owner_org`'s TLP:CLEAR advisories, newest first.
    pub fn clear_advisories_of(
        &self,
        owner_org: &str,
    ) -> Result<Vec<PublishedAdvisory>, StoreError> {
        self.pool.with(|c| {
            Ok(c
                .query(
                    "SELECT tracking_id, version, title, initial_release, current_release, json FROM advisories \
                     WHERE owner_org = ? AND tlp = 0 AND is_latest = 1 ORDER BY current_release DESC, tracking_id",
                    &[owner_org.into()],
                )?
                .into_iter()
                .map(|mut r| PublishedAdvisory {
                    tracking_id: r[0].text(),
                    version: r[1].text(),
                    title: r[2].text(),
                    initial_release: Timestamp(r[3].int()),
                    current_release: Timestamp(r[4].int()),
                    json: r[5].take_text(),
                })
                .collect())
        })
    }
}

/// A CSAF publisher namespace bound to an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherBinding {
    pub namespace: String,
    pub org_id: String,
    pub created: Timestamp,
}

impl Store {
    /// Binds (or moves) a publisher namespace to an organization; audited.
    pub fn bind_publisher(
        &self,
        namespace: &str,
        org_id: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().micros();
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO publisher_namespaces (namespace, org_id, created) VALUES (?, ?, ?) \
                     ON CONFLICT (namespace) DO UPDATE SET org_id = excluded.org_id",
                    &[namespace.into(), org_id.into(), now.into()],
                )?;
                append_audit(c, Some(actor), "publisher.bind", Some(namespace), &json!({"organization": org_id}))
            })
        })
    }

    /// Removes a binding; false when there was none. Audited.
    pub fn unbind_publisher(&self, namespace: &str, actor: &str) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "DELETE FROM publisher_namespaces WHERE namespace = ?",
                    &[namespace.into()],
                )?;
                if n > 0 {
                    append_audit(
                        c,
                        Some(actor),
                        "publisher.unbind",
                        Some(namespace),
                        &json!({}),
                    )?;
                }
                Ok(n > 0)
            })
        })
    }

    /// Whether advisories of an organization other than `org_id` use the publisher
    /// name `name`.
    pub fn publisher_name_used_by_other(
        &self,
        name: &str,
        org_id: &str,
    ) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT 1 FROM advisories WHERE publisher = ? AND owner_org <> ? LIMIT 1",
                &[name.into(), org_id.into()],
            )?
            .is_some())
        })
    }

    /// The organization a namespace is bound to.
    pub fn publisher_binding(&self, namespace: &str) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT org_id FROM publisher_namespaces WHERE namespace = ?",
                &[namespace.into()],
            )?
            .map(|r| r[0].text()))
        })
    }

    /// Every binding, by namespace.
    pub fn publisher_bindings(&self) -> Result<Vec<PublisherBinding>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                "SELECT namespace, org_id, created FROM publisher_namespaces ORDER BY namespace",
                &[],
            )?
            .iter()
            .map(|r| PublisherBinding {
                namespace: r[0].text(),
                org_id: r[1].text(),
                created: Timestamp(r[2].int()),
            })
            .collect())
        })
    }
}
