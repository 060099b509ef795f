//! Pages anyone may read without signing in: the TLP:CLEAR warnings (list with search
//! and keyset paging, detail), their Atom feed (RFC 4287) and the link to the CSAF
//! provider metadata. What is shown is what `warnings::list`/`get` answer the public.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{caller, error_page, page, short_time, tlp_class, Caller, Chrome, Lang};
use crate::http::escape_html;

/// Text safe in XML 1.0: escaped, and without the control characters XML forbids
/// (one such character in one warning would break the feed for every reader).
fn xml(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')
                || c == '\u{FFFE}'
                || c == '\u{FFFF}'
            {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    escape_html(&clean)
}
use crate::service::warnings::{self, ListQuery};
use crate::service::Viewer;
use crate::Shared;

/// One warning as a list row or a detail page shows it, in the page's language (the
/// English text when there is none in Japanese).
pub struct WarningCard {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub action: String,
    pub severity: String,
    pub severity_label: &'static str,
    pub tlp: String,
    pub tlp_class: &'static str,
    pub exercise: bool,
    pub state: String,
    pub updated: String,
    pub action_due: String,
    pub ack_due: String,
    pub ack_required: bool,
    /// The text is shown in English because there is none in the page's language.
    pub fallback: bool,
    pub addressed: bool,
    pub your_status: String,
    pub versions: Vec<(i64, String, String)>,
}

fn text_in(v: &Value, lang: Lang) -> (String, bool) {
    match v[lang.code()].as_str().filter(|s| !s.trim().is_empty()) {
        Some(t) => (t.to_string(), false),
        None => (
            v["en"].as_str().unwrap_or_default().to_string(),
            lang != Lang::En,
        ),
    }
}

impl WarningCard {
    pub fn of(v: &Value, lang: Lang) -> WarningCard {
        let (title, f1) = text_in(&v["title"], lang);
        let (summary, f2) = text_in(&v["summary"], lang);
        let (action, _) = text_in(&v["required_action"], lang);
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let severity = s("severity");
        let tlp = s("tlp");
        WarningCard {
            id: s("id"),
            severity_label: lang.t(&format!("severity.{severity}")),
            tlp_class: tlp_class(&tlp),
            title,
            summary,
            action,
            severity,
            tlp,
            exercise: v["exercise"].as_bool().unwrap_or(false),
            state: s("state"),
            updated: short_time(&s("updated")),
            action_due: v["action_due"].as_str().map(short_time).unwrap_or_default(),
            ack_due: v["ack_due"].as_str().map(short_time).unwrap_or_default(),
            ack_required: v["ack_required"].as_bool().unwrap_or(false),
            fallback: f1 || f2,
            addressed: v["addressed"].as_bool().unwrap_or(false),
            your_status: s("your_status"),
            versions: v["versions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            (
                                x["version"].as_i64().unwrap_or(0),
                                short_time(x["at"].as_str().unwrap_or_default()),
                                x["changes"]
                                    .as_str()
                                    .or(x["event"].as_str())
                                    .unwrap_or_default()
                                    .to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The list query of a page: `q` and `before` from the URL.
pub fn list_query(query: Option<&str>, limit: usize) -> ListQuery {
    let pairs: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    ListQuery {
        q: get("q"),
        before: get("before"),
        limit: Some(limit),
        ..ListQuery::default()
    }
}

/// The link to the next page of a list, keeping the search.
pub fn next_href(path: &str, q: &ListQuery, next: Option<String>) -> String {
    let Some(n) = next else {
        return String::new();
    };
    let mut pairs = vec![("before", n)];
    if let Some(text) = &q.q {
        pairs.push(("q", text.clone()));
    }
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

#[derive(askama::Template)]
#[template(path = "public_list.html")]
struct ListPage {
    c: Chrome,
    items: Vec<WarningCard>,
    q: String,
    next: String,
}

const PAGE: usize = 25;

pub async fn list(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/public", q.as_deref()).await;
    let lq = list_query(q.as_deref(), PAGE);
    let query = lq.clone();
    match s
        .call(move |s| warnings::list(s, &Viewer::anonymous(), &query))
        .await
    {
        Ok((items, next)) => {
            let mut chrome = Chrome::new(&c, c.lang.t("public.title"));
            chrome.feed = true;
            page(&ListPage {
                c: chrome,
                items: items.iter().map(|v| WarningCard::of(v, c.lang)).collect(),
                q: lq.q.clone().unwrap_or_default(),
                next: next_href("/public", &lq, next),
            })
        }
        Err(e) => error_page(&c, &e),
    }
}

#[derive(askama::Template)]
#[template(path = "warning.html")]
pub struct DetailPage {
    pub c: Chrome,
    pub w: WarningCard,
    /// For a recipient: the statuses it may report, and its history.
    pub statuses: Vec<(&'static str, &'static str)>,
    pub history: Vec<(String, String, String)>,
    pub notice: String,
    /// Its issuer's draft: a publish button.
    pub can_publish: bool,
}

pub async fn detail(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let path = format!("/public/warnings/{id}");
    let c = caller(&s, &headers, &path, q.as_deref()).await;
    public_detail(&s, c, id).await
}

async fn public_detail(s: &Shared, c: Caller, id: String) -> Response {
    match s
        .call(move |s| warnings::get(s, &Viewer::anonymous(), &id))
        .await
    {
        Ok(v) => {
            let w = WarningCard::of(&v, c.lang);
            let mut chrome = Chrome::new(&c, &w.title);
            chrome.feed = true;
            page(&DetailPage {
                c: chrome,
                w,
                statuses: Vec::new(),
                history: Vec::new(),
                notice: String::new(),
                can_publish: false,
            })
        }
        Err(e) => error_page(&c, &e),
    }
}

/// The Atom feed of TLP:CLEAR warnings, newest change first (the last 50), in the
/// language of `?lang=` (English by default: feed readers send no preference).
pub async fn feed(State(s): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let c = caller(&s, &headers, "/public/feed.atom", q.as_deref()).await;
    let lang = if q.as_deref().is_some_and(|q| q.contains("lang=")) {
        c.lang
    } else {
        Lang::En
    };
    let query = ListQuery {
        limit: Some(50),
        ..ListQuery::default()
    };
    let items = match s
        .call(move |s| warnings::list(s, &Viewer::anonymous(), &query))
        .await
    {
        Ok((items, _)) => items,
        Err(e) => return error_page(&c, &e),
    };
    let base = base_url(&s, &headers);
    let updated = items
        .first()
        .and_then(|v| v["updated"].as_str())
        .map_or_else(|| "1970-01-01T00:00:00Z".to_string(), str::to_string);
    let mut x = String::with_capacity(2048 + items.len() * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(&format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n",
        lang.code()
    ));
    x.push_str(&format!(
        "<id>{}</id>\n<title>{}</title>\n<updated>{}</updated>\n",
        xml(&format!("{base}/public/feed.atom")),
        xml(&format!("{} — {}", s.config.title, lang.t("public.title"))),
        xml(&updated)
    ));
    x.push_str(&format!(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{0}/public/feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{0}/public\"/>\n<author><name>{1}</name></author>\n<generator>hinomi</generator>\n",
        xml(&base),
        xml(&s.config.title)
    ));
    for v in &items {
        let w = WarningCard::of(v, lang);
        let link = format!("{base}/public/warnings/{}", w.id);
        let published = v["published"]
            .as_str()
            .or(v["created"].as_str())
            .unwrap_or(&updated);
        let mut title = format!("[{}] {}", w.severity_label, w.title);
        if w.exercise {
            title = format!("[{}] {title}", lang.t("exercise.badge"));
        }
        x.push_str(&format!(
            "<entry>\n<id>urn:uuid:{}</id>\n<title>{}</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<updated>{}</updated>\n<published>{}</published>\n<category term=\"{}\" label=\"{}\"/>\n<category term=\"{}\"/>\n<summary>{}</summary>\n</entry>\n",
            xml(w.id.trim_start_matches("warning--")),
            xml(&title),
            xml(&link),
            xml(v["updated"].as_str().unwrap_or(&updated)),
            xml(published),
            xml(&w.severity),
            xml(w.severity_label),
            xml(&w.tlp),
            xml(&w.summary),
        ));
    }
    x.push_str("</feed>\n");
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            // Links built from the Host header must not be cached for other hosts.
            (
                header::CACHE_CONTROL,
                if s.config.accounts.public_url.is_some() {
                    "public, max-age=60"
                } else {
                    "no-cache"
                },
            ),
        ],
        x,
    )
        .into_response()
}

/// The hub's base URL: the configured public URL, else from the Host header.
pub(super) fn base_url(s: &Shared, headers: &HeaderMap) -> String {
    if let Some(u) = &s.config.accounts.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if s.config.accounts.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// An advisory as a list row shows it.
pub struct AdvisoryLine {
    pub tracking_id: String,
    pub title: String,
    pub publisher: String,
    pub released: String,
    pub cvss: String,
    pub cves: Vec<String>,
    pub known_exploited: bool,
    pub tlp: String,
    pub tlp_class: &'static str,
}

fn advisory_line(v: &Value) -> AdvisoryLine {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let tlp = s("tlp");
    AdvisoryLine {
        tracking_id: s("tracking_id"),
        title: s("title"),
        publisher: s("publisher"),
        released: short_time(&s("current_release_date")),
        cvss: v["max_cvss"]
            .as_f64()
            .map(|x| x.to_string())
            .unwrap_or_default(),
        cves: v["cves"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .take(20)
                    .collect()
            })
            .unwrap_or_default(),
        known_exploited: v["known_exploited"].as_bool().unwrap_or(false),
        tlp_class: tlp_class(&tlp),
        tlp,
    }
}

#[derive(askama::Template)]
#[template(path = "advisories.html")]
struct AdvisoriesPage {
    c: Chrome,
    items: Vec<AdvisoryLine>,
    cve: String,
    vendor: String,
    product: String,
    next: String,
}

/// The search terms a page passes on to the advisory search.
fn advisory_terms(query: Option<&str>) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    pairs
        .into_iter()
        .filter(|(k, v)| {
            ["cve", "vendor", "product", "next"].contains(&k.as_str()) && !v.is_empty()
        })
        .map(|(k, v)| (k, v.chars().take(200).collect()))
        .collect()
}

pub async fn advisories(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let c = caller(&s, &headers, "/public/advisories", q.as_deref()).await;
    let mut terms = advisory_terms(q.as_deref());
    let given = terms.clone();
    terms.push(("limit".into(), "25".into()));
    match s
        .call(move |s| crate::service::advisories::search(s, &Viewer::anonymous(), terms))
        .await
    {
        Ok(v) => {
            let get = |k: &str| {
                given
                    .iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let next = v["next"]
                .as_str()
                .map(|n| {
                    let mut p: Vec<(String, String)> =
                        given.iter().filter(|(k, _)| k != "next").cloned().collect();
                    p.push(("next".into(), n.to_string()));
                    format!(
                        "/public/advisories?{}",
                        serde_urlencoded::to_string(p).unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            page(&AdvisoriesPage {
                c: Chrome::new(&c, c.lang.t("advisories.title")),
                items: v["advisories"]
                    .as_array()
                    .map(|a| a.iter().map(advisory_line).collect())
                    .unwrap_or_default(),
                cve: get("cve"),
                vendor: get("vendor"),
                product: get("product"),
                next,
            })
        }
        Err(e) => error_page(&c, &e),
    }
}
