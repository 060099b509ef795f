//! TAXII 2.1 (OASIS Standard, 10 June 2021): discovery, the API root, collections,
//! objects, manifest, versions and status, over [`crate::service::objects`].

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use serde_json::{json, Value};

use hinomi_stix::Timestamp;
use hinomi_store::{Collection, Cursor, Order, Page, VersionFilter};

use crate::http::{
    check_taxii_accept, check_taxii_content_type, read_body, taxii_error, viewer, ApiError,
    ApiResult, Code,
};
use crate::service::intake;
use crate::service::objects::{self, Query};
use crate::service::{self, Viewer};
use crate::{Shared, API_ROOT, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE};

pub fn routes() -> Router<Shared> {
    let mut r = Router::new();
    let table: Vec<(&str, MethodRouter<Shared>)> = vec![
        ("/taxii2/", get(discovery)),
        ("/taxii2/hub/", get(api_root)),
        ("/taxii2/hub/status/{id}/", get(status)),
        ("/taxii2/hub/collections/", get(collections)),
        ("/taxii2/hub/collections/{cid}/", get(collection)),
        (
            "/taxii2/hub/collections/{cid}/objects/",
            get(get_objects).post(add_objects),
        ),
        (
            "/taxii2/hub/collections/{cid}/objects/{oid}/",
            get(get_object).delete(delete_object),
        ),
        (
            "/taxii2/hub/collections/{cid}/objects/{oid}/versions/",
            get(versions),
        ),
        ("/taxii2/hub/collections/{cid}/manifest/", get(manifest)),
    ];
    for (path, handler) in table {
        let handler = handler.fallback(method_not_allowed);
        r = r.route(path, handler.clone());
        r = r.route(path.trim_end_matches('/'), handler);
    }
    r
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this method is not supported on this TAXII resource",
    )
    .taxii()
}

fn taxii_err(code: Code, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message).taxii()
}

fn taxii_json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        )],
        body,
    )
        .into_response()
}

/// Authenticates and checks the Accept header of a TAXII request.
async fn begin(state: &Shared, headers: &HeaderMap) -> ApiResult<Viewer> {
    check_taxii_accept(headers)?;
    viewer(state, headers).await.map_err(ApiError::taxii)
}

async fn discovery(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let about = service::about(&s, &who);
    let body = json!({
        "title": about.title,
        "description": "hinomi watch-and-warning exchange: TAXII 2.1 discovery",
        "default": API_ROOT,
        "api_roots": [API_ROOT],
    });
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn api_root(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let about = service::about(&s, &who);
    let body = json!({
        "title": about.title,
        "description": "Incident warnings, vulnerability information, event analysis and remediation guidance under TLP 2.0",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": about.max_content_length,
    });
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

fn collection_json(c: &Collection, who: &Viewer) -> Value {
    let can_write = objects::can_write(who, c);
    let mut v = json!({
        "id": c.id,
        "title": c.title,
        "can_read": who.can_read(c),
        "can_write": can_write,
        "media_types": [STIX_MEDIA_TYPE],
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    if let Some(a) = &c.alias {
        v["alias"] = json!(a);
    }
    v
}

/// The collection `cid` as the caller may use it.
async fn visible_collection(s: &Shared, who: &Viewer, cid: &str) -> ApiResult<Collection> {
    let (who, cid) = (who.clone(), cid.to_string());
    s.call(move |s| objects::collection(&s.store, &who, &cid))
        .await
        .map_err(taxii_error)
}

async fn collections(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let w = who.clone();
    let all = s
        .call(move |s| objects::collections(&s.store, &w))
        .await
        .map_err(taxii_error)?;
    let list: Vec<Value> = all.iter().map(|c| collection_json(c, &who)).collect();
    let body = if list.is_empty() {
        json!({})
    } else {
        json!({ "collections": list })
    };
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn collection(
    State(s): State<Shared>,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let c = visible_collection(&s, &who, &cid).await?;
    Ok(taxii_json(
        StatusCode::OK,
        collection_json(&c, &who).to_string(),
    ))
}

/// The URL filters of TAXII 2.1 §3.5, parsed.
#[derive(Debug, Default)]
struct Filters {
    added_after: Option<Timestamp>,
    limit: Option<usize>,
    next: Option<Cursor>,
    ids: Vec<String>,
    types: Vec<String>,
    versions: Option<VersionFilter>,
    /// `match[spec_version]` asked only for versions this hub does not store.
    no_spec_version: bool,
}

fn parse_filters(query: Option<&str>) -> ApiResult<Filters> {
    let mut f = Filters::default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| taxii_err(Code::InvalidFilter, format!("query string: {e}")))?;
    let bad = |m: String| taxii_err(Code::InvalidFilter, m);
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "added_after" => {
                f.added_after = Some(
                    Timestamp::parse(&v).map_err(|e| bad(format!("added_after: {e}: '{v}'")))?,
                )
            }
            "limit" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| bad(format!("limit: '{v}' is not a positive integer")))?;
                if n == 0 {
                    return Err(bad("limit: must be at least 1".into()));
                }
                f.limit = Some(n);
            }
            "next" => {
                f.next =
                    Some(Cursor::decode(&v).ok_or_else(|| {
                        bad(format!("next: '{v}' is not a token this server issued"))
                    })?)
            }
            "match[id]" => f.ids.extend(list(&v)),
            "match[type]" => f.types.extend(list(&v)),
            "match[version]" => {
                let mut vf = VersionFilter {
                    last: false,
                    ..VersionFilter::default()
                };
                for item in list(&v) {
                    match item.as_str() {
                        "all" => vf.all = true,
                        "first" => vf.first = true,
                        "last" => vf.last = true,
                        ts => vf.at.push(Timestamp::parse(ts).map_err(|e| {
                            bad(format!(
                                "match[version]: '{ts}' is neither first, last, all nor a timestamp ({e})"
                            ))
                        })?),
                    }
                }
                if !(vf.all || vf.first || vf.last || !vf.at.is_empty()) {
                    return Err(bad("match[version]: empty".into()));
                }
                f.versions = Some(vf);
            }
            "match[spec_version]" => {
                let l = list(&v);
                if !l.iter().any(|s| s == "2.1") {
                    f.no_spec_version = true;
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Reads a page of `cid` for the caller through [`objects::read`].
async fn read_page(
    s: &Shared,
    who: Viewer,
    cid: String,
    f: &Filters,
    ids: Vec<String>,
    order: Order,
    default_versions: VersionFilter,
) -> ApiResult<Page> {
    let q = Query {
        ids,
        types: f.types.clone(),
        versions: f.versions.clone().unwrap_or(default_versions),
        added_after: f.added_after,
        after: f.next,
        limit: f
            .limit
            .unwrap_or(s.config.default_page_size)
            .min(s.config.max_page_size),
        order,
    };
    let none = f.no_spec_version;
    let page = s
        .call(move |s| {
            let col = objects::collection(&s.store, &who, &cid)?;
            if none {
                // `match[spec_version]` asked only for versions this hub does not store.
                objects::check_readable(&who, &col)?;
                return Ok(Page {
                    items: vec![],
                    more: false,
                    next: None,
                    last: None,
                    added_range: None,
                });
            }
            objects::read(&s.store, &who, &col, &q)
        })
        .await
        .map_err(taxii_error)?;
    s.metrics.objects_served(page.items.len() as u64);
    Ok(page)
}

fn date_headers(page: &Page, resp: &mut Response) {
    let first = page.added_range.map(|r| r.0);
    let last = page.added_range.map(|r| r.1);
    for (name, v) in [
        ("x-taxii-date-added-first", first),
        ("x-taxii-date-added-last", last),
    ] {
        if let Some(Ok(h)) = v.map(|t| HeaderValue::from_str(&t.to_string())) {
            resp.headers_mut().insert(name, h);
        }
    }
}

/// `{"more": …, "next": …, "<field>": [...]}` with the items written as given.
fn envelope<S: AsRef<str>>(page: &Page, field: &str, items: impl Iterator<Item = S>) -> String {
    let mut body =
        String::with_capacity(page.items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"more\":");
    body.push_str(if page.more { "true" } else { "false" });
    if let Some(n) = page.next {
        body.push_str(",\"next\":\"");
        body.push_str(&n.encode());
        body.push('"');
    }
    if !page.items.is_empty() {
        body.push_str(",\"");
        body.push_str(field);
        body.push_str("\":[");
        for (i, item) in items.enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(item.as_ref());
        }
        body.push(']');
    }
    body.push('}');
    body
}

async fn get_objects(
    State(s): State<Shared>,
    Path(cid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let ids = f.ids.clone();
    let page = read_page(
        &s,
        who,
        cid,
        &f,
        ids,
        Order::Added,
        VersionFilter::default(),
    )
    .await?;
    let body = envelope(&page, "objects", page.items.iter().map(|i| i.json.as_str()));
    let mut resp = taxii_json(StatusCode::OK, body);
    date_headers(&page, &mut resp);
    Ok(resp)
}

fn no_object(oid: &str) -> ApiError {
    taxii_err(
        Code::NotFound,
        format!("no object '{oid}' in this collection for this organization"),
    )
}

async fn get_object(
    State(s): State<Shared>,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let ids = vec![oid.clone()];
    let page = read_page(
        &s,
        who,
        cid,
        &f,
        ids,
        Order::Added,
        VersionFilter::default(),
    )
    .await?;
    if page.items.is_empty() && f.next.is_none() {
        return Err(no_object(&oid));
    }
    let body = envelope(&page, "objects", page.items.iter().map(|i| i.json.as_str()));
    let mut resp = taxii_json(StatusCode::OK, body);
    date_headers(&page, &mut resp);
    Ok(resp)
}

async fn versions(
    State(s): State<Shared>,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let mut f = parse_filters(q.as_deref())?;
    f.versions = None;
    let all = VersionFilter {
        all: true,
        ..VersionFilter::default()
    };
    let ids = vec![oid.clone()];
    let page = read_page(&s, who, cid, &f, ids, Order::Version, all).await?;
    if page.items.is_empty() && f.next.is_none() {
        return Err(no_object(&oid));
    }
    let body = envelope(
        &page,
        "versions",
        page.items.iter().map(|i| format!("\"{}\"", i.version)),
    );
    let mut resp = taxii_json(StatusCode::OK, body);
    date_headers(&page, &mut resp);
    Ok(resp)
}

async fn manifest(
    State(s): State<Shared>,
    Path(cid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let ids = f.ids.clone();
    let page = read_page(
        &s,
        who,
        cid,
        &f,
        ids,
        Order::Added,
        VersionFilter::default(),
    )
    .await?;
    let body = envelope(
        &page,
        "objects",
        page.items.iter().map(|i| {
            json!({
                "id": i.stix_id,
                "date_added": i.date_added.to_string(),
                "version": i.version.to_string(),
                "media_type": STIX_MEDIA_TYPE,
            })
            .to_string()
        }),
    );
    let mut resp = taxii_json(StatusCode::OK, body);
    date_headers(&page, &mut resp);
    Ok(resp)
}

async fn delete_object(
    State(s): State<Shared>,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    who.require().map_err(taxii_error)?;
    let f = parse_filters(q.as_deref())?;
    let versions = f.versions.unwrap_or(VersionFilter {
        all: true,
        ..VersionFilter::default()
    });
    let none = f.no_spec_version;
    s.call(move |s| {
        let col = objects::collection(&s.store, &who, &cid)?;
        if none {
            // Nothing of the asked spec versions is stored: nothing matches.
            // Nothing of the asked spec versions is stored: nothing matches.
            objects::check_writable(&who, &col)?;
            return Err(objects::nothing_to_delete(&oid));
        }
        objects::delete(s, &who, &col, &oid, &versions)
    })
    .await
    .map_err(taxii_error)?;
    Ok(taxii_json(StatusCode::OK, String::new()))
}

async fn status(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    let body = s
        .call(move |s| objects::status(&s.store, &who, &id))
        .await
        .map_err(taxii_error)?;
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn add_objects(
    State(s): State<Shared>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = begin(&s, &headers).await?;
    who.require().map_err(taxii_error)?;
    let col = visible_collection(&s, &who, &cid).await?;
    objects::check_addable(&who, &col).map_err(taxii_error)?;
    check_taxii_content_type(&headers)?;
    let bytes = read_body(&s, body, &headers)
        .await
        .map_err(ApiError::taxii)?;
    let envelope: Value = serde_json::from_slice(&bytes)
        .map_err(|e| taxii_err(Code::InvalidJson, format!("request body: {e}")))?;
    let objects_owned = match envelope {
        Value::Object(mut m) => match m.remove("objects") {
            Some(Value::Array(a)) => a,
            _ => return Err(not_an_envelope()),
        },
        _ => return Err(not_an_envelope()),
    };
    let status = s
        .call(move |s| intake::add(s, &who, &col, objects_owned))
        .await
        .map_err(taxii_error)?;
    Ok(taxii_json(StatusCode::ACCEPTED, status.to_string()))
}

fn not_an_envelope() -> ApiError {
    taxii_err(
        Code::Unprocessable,
        "the body must be a TAXII envelope: a JSON object with an 'objects' list",
    )
}
