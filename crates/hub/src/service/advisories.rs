//! CSAF advisories in the hub: validation on the way in, every revision stored with its
//! search facts and TLP, search under the access rule; the known-exploited catalog.

use serde_json::{json, Value};

use hinomi_stix::{Timestamp, Tlp};
use hinomi_store::{
    AdvisoryOutcome, AdvisoryProduct, AdvisoryQuery, AdvisoryVulnerability, Cursor, KevEntry,
    NewAdvisory,
};

use super::{Error, Kind, Result, Viewer};
use crate::AppState;

/// Why a document cannot be stored as an advisory.
#[derive(Debug)]
pub enum AdvisoryError {
    /// It is not valid CSAF 2.0: the validator's findings.
    Invalid(Vec<hinomi_csaf::Finding>),
    /// Valid, but something the hub needs is unusable.
    Unusable(String),
}

fn text(doc: &Value, pointer: &str) -> Option<String> {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn instant(doc: &Value, pointer: &str) -> Result<Timestamp, AdvisoryError> {
    let s =
        text(doc, pointer).ok_or_else(|| AdvisoryError::Unusable(format!("{pointer}: missing")))?;
    let i = hinomi_csaf::datetime::parse(&s).ok_or_else(|| {
        AdvisoryError::Unusable(format!("{pointer}: '{s}' is not an RFC 3339 date-time"))
    })?;
    Ok(Timestamp(i.seconds * 1_000_000 + i64::from(i.nanos / 1000)))
}

/// Validates a CSAF document and extracts what the hub stores and searches. The TLP is
/// `/document/distribution/tlp/label` (CSAF 2.0 uses TLP 1.0 labels: WHITE is CLEAR);
/// without one the hub's default applies.
pub fn advisory_from_csaf(doc: &Value, default_tlp: Tlp) -> Result<NewAdvisory, AdvisoryError> {
    let findings = hinomi_csaf::validate(doc);
    if !findings.is_empty() {
        return Err(AdvisoryError::Invalid(findings));
    }
    let tlp = match text(doc, "/document/distribution/tlp/label") {
        Some(l) => l.parse::<Tlp>().map_err(|e| {
            AdvisoryError::Unusable(format!("/document/distribution/tlp/label: {e}"))
        })?,
        None => default_tlp,
    };
    let mut vulnerabilities = Vec::new();
    for v in doc
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut best: Option<(i64, Option<String>)> = None;
        for s in v
            .get("scores")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for key in ["cvss_v3", "cvss_v2"] {
                if let Some(score) = s
                    .pointer(&format!("/{key}/baseScore"))
                    .and_then(Value::as_f64)
                {
                    let score10 = (score * 10.0).round() as i64;
                    let sev = s
                        .pointer(&format!("/{key}/baseSeverity"))
                        .and_then(Value::as_str)
                        .map(str::to_lowercase);
                    if best.as_ref().is_none_or(|(b, _)| score10 > *b) {
                        best = Some((score10, sev));
                    }
                }
            }
        }
        vulnerabilities.push(AdvisoryVulnerability {
            cve: v.get("cve").and_then(Value::as_str).map(str::to_uppercase),
            cwe: v
                .pointer("/cwe/id")
                .and_then(Value::as_str)
                .map(str::to_string),
            max_score: best.as_ref().map(|b| b.0),
            severity: best
                .and_then(|b| b.1.or_else(|| Some(hinomi_store::severity_of(b.0).into()))),
        });
    }
    let products = hinomi_csaf::product_tree::flatten(doc)
        .into_values()
        .map(|p| AdvisoryProduct {
            product_id: p.product_id,
            vendor: p.vendor,
            product: p.product.or(Some(p.name)),
            version: p.version.or(p.product_version_range),
            purl: p.purl,
            cpe: p.cpe,
        })
        .collect();
    Ok(NewAdvisory {
        publisher: text(doc, "/document/publisher/name").unwrap_or_default(),
        tracking_id: text(doc, "/document/tracking/id").unwrap_or_default(),
        version: text(doc, "/document/tracking/version").unwrap_or_default(),
        title: text(doc, "/document/title").unwrap_or_default(),
        initial_release: instant(doc, "/document/tracking/initial_release_date")?,
        current_release: instant(doc, "/document/tracking/current_release_date")?,
        tlp,
        vulnerabilities,
        products,
        json: serde_json::to_string(doc).unwrap_or_default(),
    })
}

/// Reads the CISA Known Exploited Vulnerabilities catalog format into store entries.
pub fn kev_from_json(doc: &Value) -> Result<Vec<KevEntry>, String> {
    let catalog = hinomi_csaf::kev::KevCatalog::from_json(doc).map_err(|e| e.to_string())?;
    let raw = doc.get("vulnerabilities").and_then(Value::as_array);
    Ok(catalog
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| KevEntry {
            cve: e.cve_id,
            vendor_project: e.vendor_project,
            product: e.product,
            name: e.vulnerability_name,
            date_added: e.date_added,
            due_date: Some(e.due_date).filter(|d| !d.is_empty()),
            ransomware: Some(
                if e.known_ransomware_campaign_use {
                    "Known"
                } else {
                    "Unknown"
                }
                .to_string(),
            ),
            json: raw
                .and_then(|r| r.get(i))
                .map(Value::to_string)
                .unwrap_or_default(),
        })
        .collect())
}

/// The caller, if it may submit advisories (a member token that may write).
pub fn may_submit(who: &Viewer) -> Result<&hinomi_store::Principal> {
    let p = who.require()?;
    if !p.role.can_write() || !p.org.kind.is_member() {
        return Err(Error::new(
            Kind::Forbidden,
            "this token may not submit advisories",
        ));
    }
    Ok(p)
}

/// A publisher namespace in the one form bindings use: `https://` and the host in
/// lowercase ASCII (IDNA), without a trailing dot, default port or trailing slash; `http`
/// and `https` name the same publisher. 400 when it is not an http(s) URL, or carries
/// credentials, a query or a fragment.
pub fn normalize_namespace(ns: &str) -> Result<String> {
    let shown = ns.chars().take(200).collect::<String>();
    let bad = |why: &str| Error::new(Kind::BadRequest, format!("namespace: '{shown}' {why}"));
    if ns.len() > 2000 {
        return Err(bad("is longer than 2,000 characters"));
    }
    let u = url::Url::parse(ns.trim()).map_err(|_| bad("is not an http or https URL"))?;
    if u.scheme() != "https" && u.scheme() != "http" {
        return Err(bad("is not an http or https URL"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("carries credentials"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("carries a query or a fragment"));
    }
    let host = u
        .host_str()
        .map(|h| h.trim_end_matches('.'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("names no host"))?;
    let port = match u.port() {
        Some(p) if p != 80 && p != 443 => format!(":{p}"),
        _ => String::new(),
    };
    let path = u.path().trim_end_matches('/');
    Ok(format!("https://{host}{port}{path}"))
}

/// Whether `p` may submit advisories under the publisher namespace `ns`: the
/// coordinator always (it imports vendors' advisories); a member when the coordinator
/// bound the namespace to it, or when it is unbound and the hub accepts unbound ones
/// (`unbound_publishers = "accept"`).
fn may_publish_as(s: &AppState, p: &hinomi_store::Principal, ns: &str) -> Result<()> {
    if p.org.kind == hinomi_access::OrgKind::Coordinator {
        return Ok(());
    }
    let ns = normalize_namespace(ns).map_err(|e| {
        Error::new(
            Kind::Unprocessable,
            format!("/document/publisher/{}", e.message),
        )
    })?;
    match s.store.publisher_binding(&ns)? {
        Some(org) if org == p.org.id => Ok(()),
        Some(_) => Err(Error::new(
            Kind::Forbidden,
            format!("/document/publisher/namespace: {ns} is bound to another organization; only it submits advisories under it"),
        )),
        None if s.config.accept_unbound_publishers => Ok(()),
        None => Err(Error::new(
            Kind::Forbidden,
            format!("/document/publisher/namespace: {ns} is not bound to your organization; the coordinator binds publisher namespaces (PUT /api/v1/publishers)"),
        )),
    }
}

/// What `PUT /api/v1/publishers` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingInput {
    pub namespace: String,
    /// The organization's id or name.
    pub organization: String,
}

fn coordinator_only(who: &Viewer, write: bool) -> Result<&hinomi_store::Principal> {
    let p = who.require()?;
    if p.org.kind != hinomi_access::OrgKind::Coordinator || (write && !p.role.can_write()) {
        return Err(Error::new(
            Kind::Forbidden,
            "publisher namespaces are bound by the coordinator",
        ));
    }
    Ok(p)
}

/// The bindings of publisher namespaces (coordinator).
pub fn publishers(s: &AppState, who: &Viewer) -> Result<Value> {
    coordinator_only(who, false)?;
    let orgs = s.store.organizations()?;
    let list: Vec<Value> = s
        .store
        .publisher_bindings()?
        .into_iter()
        .map(|b| {
            let name = orgs
                .iter()
                .find(|o| o.id == b.org_id)
                .map(|o| o.name.clone());
            json!({"namespace": b.namespace, "organization": b.org_id,
                   "organization_name": name, "created": b.created.to_string()})
        })
        .collect();
    Ok(json!({"publishers": list}))
}

/// Binds a publisher namespace to a member organization (coordinator; audited).
pub fn bind_publisher(s: &AppState, who: &Viewer, inp: BindingInput) -> Result<Value> {
    let p = coordinator_only(who, true)?.clone();
    let ns = normalize_namespace(&inp.namespace)?;
    let org = s
        .store
        .organizations()?
        .into_iter()
        .find(|o| (o.id == inp.organization || o.name == inp.organization) && o.kind.is_member())
        .ok_or_else(|| {
            Error::new(
                Kind::BadRequest,
                format!(
                    "organization: no member organization '{}'",
                    inp.organization
                ),
            )
        })?;
    s.store.bind_publisher(&ns, &org.id, &p.org.id)?;
    Ok(json!({"namespace": ns, "organization": org.id, "organization_name": org.name}))
}

/// Removes a binding (coordinator; audited).
pub fn unbind_publisher(s: &AppState, who: &Viewer, namespace: &str) -> Result<()> {
    let p = coordinator_only(who, true)?.clone();
    let ns = normalize_namespace(namespace)?;
    if !s.store.unbind_publisher(&ns, &p.org.id)? {
        return Err(Error::new(
            Kind::NotFound,
            format!("no binding for publisher namespace {ns}"),
        ));
    }
    Ok(())
}

/// What a submitted CSAF document became.
#[derive(Debug)]
pub enum Submitted {
    /// Not valid CSAF 2.0: the validator's findings (nothing stored).
    Invalid(Vec<hinomi_csaf::Finding>),
    /// Stored (`added`), or already stored: a summary with known-exploited CVEs, new
    /// findings and targeted warnings.
    Stored { added: bool, summary: Value },
}

/// Stores a CSAF 2.0 advisory of the caller's organization; re-matches inventories
/// against a new one and acts on new findings (targeted warnings).
pub fn submit(s: &AppState, who: &Viewer, doc: Value) -> Result<Submitted> {
    let p = may_submit(who)?.clone();
    // Before the validation's cost: whether this organization may speak as the publisher.
    if let Some(ns) = doc
        .pointer("/document/publisher/namespace")
        .and_then(Value::as_str)
    {
        may_publish_as(s, &p, ns)?;
    }
    // Advisories are known by publisher name and tracking id: a member may not take a
    // name another organization publishes under (the coordinator imports any).
    if p.org.kind != hinomi_access::OrgKind::Coordinator {
        if let Some(name) = doc
            .pointer("/document/publisher/name")
            .and_then(Value::as_str)
        {
            if s.store.publisher_name_used_by_other(name, &p.org.id)? {
                return Err(Error::new(
                    Kind::Forbidden,
                    format!("/document/publisher/name: '{name}' is the publisher name of another organization's advisories; publish under your own name"),
                ));
            }
        }
    }
    let adv = match advisory_from_csaf(&doc, s.config.default_tlp) {
        Ok(a) => a,
        Err(AdvisoryError::Invalid(f)) => return Ok(Submitted::Invalid(f)),
        Err(AdvisoryError::Unusable(m)) => return Err(Error::new(Kind::Unprocessable, m)),
    };
    let cves: Vec<String> = adv
        .vulnerabilities
        .iter()
        .filter_map(|v| v.cve.clone())
        .collect();
    let mut body = json!({
        "publisher": adv.publisher, "tracking_id": adv.tracking_id, "version": adv.version,
        "title": adv.title, "tlp": adv.tlp.label(), "cves": cves,
        "max_cvss": adv.max_score().map(|s| s as f64 / 10.0),
    });
    let st = &s.store;
    let outcome = st.add_advisory(&p.org.id, &adv)?;
    let fresh = if outcome == AdvisoryOutcome::Added {
        super::inventory::rematch_advisory(st, &adv.publisher, &adv.tracking_id)?
    } else {
        vec![]
    };
    let kev = st.known_exploited(&cves)?;
    let n = fresh.len();
    let targeted = super::targeted::after_matching(s, fresh);
    body["known_exploited"] = json!(kev);
    body["new_findings"] = json!(n);
    body["targeted_warnings"] = json!(targeted);
    match outcome {
        AdvisoryOutcome::Added => Ok(Submitted::Stored {
            added: true,
            summary: body,
        }),
        AdvisoryOutcome::Duplicate => {
            body["message"] = json!("this revision was already stored; nothing changed");
            Ok(Submitted::Stored {
                added: false,
                summary: body,
            })
        }
        AdvisoryOutcome::Refused(m) => Err(Error::new(Kind::Conflict, m)),
    }
}

fn ts_param(k: &str, v: &str) -> Result<Timestamp> {
    hinomi_csaf::datetime::parse(v)
        .map(|i| Timestamp(i.seconds * 1_000_000 + i64::from(i.nanos / 1000)))
        .ok_or_else(|| {
            Error::new(
                Kind::InvalidFilter,
                format!("{k}: '{v}' is not an RFC 3339 date-time"),
            )
        })
}

/// Searches the advisories the caller may see; `terms` are the search parameters
/// (cve, vendor, product, severity, released_after, released_before, tracking_id,
/// all_revisions, limit, next).
pub fn search(s: &AppState, who: &Viewer, terms: Vec<(String, String)>) -> Result<Value> {
    let mut query = AdvisoryQuery {
        limit: 100,
        ..AdvisoryQuery::default()
    };
    for (k, v) in terms {
        match k.as_str() {
            "cve" => query.cve = Some(v),
            "vendor" => query.vendor = Some(v),
            "product" => query.product = Some(v),
            "severity" => query.min_severity = Some(v.to_lowercase()),
            "released_after" => query.released_after = Some(ts_param(&k, &v)?),
            "released_before" => query.released_before = Some(ts_param(&k, &v)?),
            "tracking_id" => query.tracking_id = Some(v),
            "all_revisions" => query.all_revisions = v == "true",
            "limit" => {
                query.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| Error::new(Kind::InvalidFilter, format!("limit: '{v}' is not from 1 to 1000")))?
            }
            "next" => {
                query.after = Some(Cursor::decode(&v).ok_or_else(|| Error::new(Kind::InvalidFilter, format!("next: '{v}' is not a token this server issued")))?)
            }
            other => return Err(Error::new(Kind::InvalidFilter, format!("unknown parameter '{other}' (cve, vendor, product, severity, released_after, released_before, tracking_id, all_revisions, limit, next)"))),
        }
    }
    let (items, next) = s.store.query_advisories(&who.advisory_scope(), &query)?;
    Ok(json!({
        "advisories": items.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        "next": next.map(Cursor::encode),
    }))
}

/// The CSAF document of advisory `id` (its latest revision, or `version`), if the
/// caller may see it.
pub fn document(s: &AppState, who: &Viewer, id: &str, version: Option<&str>) -> Result<String> {
    s.store
        .advisory_document(&who.advisory_scope(), id, version)?
        .ok_or_else(|| {
            Error::new(
                Kind::NotFound,
                format!("no advisory '{id}' for this organization"),
            )
        })
}

/// Imports a known-exploited catalog (coordinator admins); idempotent.
pub fn import_kev(s: &AppState, who: &Viewer, doc: &Value) -> Result<Value> {
    let admin = who.require_admin()?.org.id.clone();
    let entries = kev_from_json(doc).map_err(|m| Error::new(Kind::Unprocessable, m))?;
    let n = entries.len();
    let r = s.store.import_kev(&entries, &admin)?;
    Ok(json!({"entries": n, "added": r.added, "updated": r.updated, "unchanged": r.unchanged}))
}
