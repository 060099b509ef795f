//! TAXII 2.1 (OASIS Standard, 10 June 2021): discovery, the API root, collections,
//! objects, manifest, versions and status.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use serde_json::{json, Value};

use hinomi_access::{check_write, OrgKind};
use hinomi_stix::{check_object, Timestamp, Tlp};
use hinomi_store::{
    Collection, Cursor, IndicatorRow, NewObject, ObjectQuery, Order, Outcome, Page, VersionFilter,
    PUBLIC_COLLECTION,
};

use crate::auth::{caller, Caller};
use crate::error::{ApiError, ApiResult, Code};
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

/// 406 unless the client accepts TAXII 2.1 JSON.
fn check_accept(headers: &HeaderMap) -> ApiResult<()> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("");
    let ok = accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut version_ok = true;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("version") {
                    version_ok = v.trim().trim_matches('"') == "2.1";
                }
            }
        }
        match media.as_str() {
            "application/taxii+json" => version_ok,
            "*/*" | "application/*" => true,
            _ => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(taxii_err(
            Code::NotAcceptable,
            format!("this server speaks {TAXII_MEDIA_TYPE}; the Accept header '{accept}' does not allow it"),
        ))
    }
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

/// Authenticates and checks the Accept header of a TAXII GET.
async fn begin(state: &Shared, headers: &HeaderMap) -> ApiResult<Caller> {
    check_accept(headers)?;
    caller(state, headers).await.map_err(ApiError::taxii)
}

async fn discovery(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    begin(&s, &headers).await?;
    let body = json!({
        "title": s.config.title,
        "description": "hinomi watch-and-warning exchange: TAXII 2.1 discovery",
        "default": API_ROOT,
        "api_roots": [API_ROOT],
    });
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn api_root(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    begin(&s, &headers).await?;
    let body = json!({
        "title": s.config.title,
        "description": "Incident warnings, vulnerability information, event analysis and remediation guidance under TLP 2.0",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": s.config.max_content_length,
    });
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

fn collection_json(c: &Collection, caller: &Caller) -> Value {
    let org = caller.0.as_ref().map(|p| &p.org);
    let can_write = c.can_write(org) && caller.0.as_ref().is_some_and(|p| p.role.can_write());
    let mut v = json!({
        "id": c.id,
        "title": c.title,
        "can_read": c.can_read(org),
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

/// The collection `cid` if the caller may read or write it; 404 otherwise, so that a
/// collection's existence is not revealed.
async fn visible_collection(s: &Shared, caller: &Caller, cid: &str) -> ApiResult<Collection> {
    let id = cid.to_string();
    let col = s
        .db(move |st| st.collection(&id))
        .await
        .map_err(ApiError::taxii)?;
    let org = caller.0.as_ref().map(|p| &p.org);
    match col {
        Some(c) if c.can_read(org) || c.can_write(org) => Ok(c),
        _ => {
            let e = if caller.0.is_none() {
                taxii_err(
                    Code::Unauthorized,
                    format!("collection '{cid}' needs credentials, or does not exist"),
                )
            } else {
                taxii_err(
                    Code::NotFound,
                    format!("no collection '{cid}' for this organization"),
                )
            };
            Err(e)
        }
    }
}

async fn collections(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    let caller = begin(&s, &headers).await?;
    let all = s.db(|st| st.collections()).await.map_err(ApiError::taxii)?;
    let org = caller.0.as_ref().map(|p| &p.org);
    let list: Vec<Value> = all
        .iter()
        .filter(|c| c.can_read(org) || c.can_write(org))
        .map(|c| collection_json(c, &caller))
        .collect();
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
    let caller = begin(&s, &headers).await?;
    let c = visible_collection(&s, &caller, &cid).await?;
    Ok(taxii_json(
        StatusCode::OK,
        collection_json(&c, &caller).to_string(),
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

fn page_limit(s: &Shared, f: &Filters) -> usize {
    f.limit
        .unwrap_or(s.config.default_page_size)
        .min(s.config.max_page_size)
}

/// Runs a query for a readable collection under the caller's scope.
async fn run_query(
    s: &Shared,
    caller: &Caller,
    col: &Collection,
    f: &Filters,
    ids: Vec<String>,
    order: Order,
    default_versions: VersionFilter,
) -> ApiResult<Page> {
    if !col.can_read(caller.0.as_ref().map(|p| &p.org)) {
        return Err(taxii_err(
            Code::Forbidden,
            "this organization may write to the collection but not read it",
        ));
    }
    if f.no_spec_version {
        return Ok(Page {
            items: vec![],
            more: false,
            next: None,
            added_range: None,
        });
    }
    let scope = caller.scope();
    let cid = col.id.clone();
    let types = f.types.clone();
    let versions = f.versions.clone().unwrap_or(default_versions);
    let (added_after, after, limit) = (f.added_after, f.next, page_limit(s, f));
    let page = s
        .db(move |st| {
            let mut q = ObjectQuery::new(&cid, &scope);
            q.ids = ids;
            q.types = types;
            q.versions = versions;
            q.added_after = added_after;
            q.after = after;
            q.limit = limit;
            q.order = order;
            st.query_objects(&q)
        })
        .await
        .map_err(ApiError::taxii)?;
    let mut page = page;
    if let Some(p) = caller.0.as_ref().filter(|p| p.org.kind == OrgKind::PeerHub) {
        // A peer hub reads under its sharing agreement too (loops, forwarding,
        // exercises, anonymization).
        let org = p.org.id.clone();
        let view = s
            .db(move |st| crate::federation::ExportView::load(st, &org))
            .await
            .map_err(ApiError::taxii)?;
        match view {
            Some(v) => v.apply(&mut page),
            None => page.items.clear(),
        }
    }
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
fn envelope(page: &Page, field: &str, items: impl Iterator<Item = String>) -> String {
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
            body.push_str(&item);
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
    let caller = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let col = visible_collection(&s, &caller, &cid).await?;
    let ids = f.ids.clone();
    let page = run_query(
        &s,
        &caller,
        &col,
        &f,
        ids,
        Order::Added,
        VersionFilter::default(),
    )
    .await?;
    let body = envelope(&page, "objects", page.items.iter().map(|i| i.json.clone()));
    let mut resp = taxii_json(StatusCode::OK, body);
    date_headers(&page, &mut resp);
    Ok(resp)
}

async fn get_object(
    State(s): State<Shared>,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let col = visible_collection(&s, &caller, &cid).await?;
    let page = run_query(
        &s,
        &caller,
        &col,
        &f,
        vec![oid.clone()],
        Order::Added,
        VersionFilter::default(),
    )
    .await?;
    if page.items.is_empty() && f.next.is_none() {
        return Err(taxii_err(
            Code::NotFound,
            format!("no object '{oid}' in this collection for this organization"),
        ));
    }
    let body = envelope(&page, "objects", page.items.iter().map(|i| i.json.clone()));
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
    let caller = begin(&s, &headers).await?;
    let mut f = parse_filters(q.as_deref())?;
    f.versions = None;
    let col = visible_collection(&s, &caller, &cid).await?;
    let all = VersionFilter {
        all: true,
        ..VersionFilter::default()
    };
    let page = run_query(
        &s,
        &caller,
        &col,
        &f,
        vec![oid.clone()],
        Order::Version,
        all,
    )
    .await?;
    if page.items.is_empty() && f.next.is_none() {
        return Err(taxii_err(
            Code::NotFound,
            format!("no object '{oid}' in this collection for this organization"),
        ));
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
    let caller = begin(&s, &headers).await?;
    let f = parse_filters(q.as_deref())?;
    let col = visible_collection(&s, &caller, &cid).await?;
    let ids = f.ids.clone();
    let page = run_query(
        &s,
        &caller,
        &col,
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
    let caller = begin(&s, &headers).await?;
    let p = caller.require().map_err(ApiError::taxii)?.clone();
    let f = parse_filters(q.as_deref())?;
    let col = visible_collection(&s, &caller, &cid).await?;
    if !p.role.can_write() || !col.can_write(Some(&p.org)) {
        return Err(taxii_err(
            Code::Forbidden,
            "this token may not delete objects in this collection",
        ));
    }
    let versions = f.versions.unwrap_or(VersionFilter {
        all: true,
        ..VersionFilter::default()
    });
    let owner = (p.role != hinomi_store::Role::Admin).then(|| p.org.id.clone());
    let (cid2, oid2, actor) = (col.id.clone(), oid.clone(), p.org.id.clone());
    let n = if f.no_spec_version {
        0
    } else {
        s.db(move |st| st.delete_object(&cid2, &oid2, owner.as_deref(), &versions, &actor))
            .await
            .map_err(ApiError::taxii)?
    };
    if n == 0 {
        return Err(taxii_err(
            Code::NotFound,
            format!("no version of '{oid}' owned by this organization matches in this collection"),
        ));
    }
    s.wake_federation();
    if oid.starts_with("indicator--") {
        let (state, id) = (s.clone(), oid.clone());
        s.db(move |_| crate::matching::refresh(&state, &id))
            .await
            .map_err(ApiError::taxii)?;
    }
    Ok(taxii_json(StatusCode::OK, String::new()))
}

async fn status(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = begin(&s, &headers).await?;
    let p = caller.require().map_err(ApiError::taxii)?.clone();
    let sid = id.clone();
    let found = s
        .db(move |st| st.status(&sid))
        .await
        .map_err(ApiError::taxii)?;
    match found {
        Some((org, body)) if org == p.org.id || p.role == hinomi_store::Role::Admin => {
            Ok(taxii_json(StatusCode::OK, body.to_string()))
        }
        _ => Err(taxii_err(
            Code::NotFound,
            format!("no status '{id}' for this organization"),
        )),
    }
}

/// Reads a request body up to `limit` bytes; 413 beyond.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> ApiResult<axum::body::Bytes> {
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("the request body is larger than max_content_length ({limit} bytes)"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            // Read (and drop) a moderately oversized body before answering, so the
            // client is not cut off mid-send and sees the 413; a body far beyond the
            // limit is refused at once.
            if len <= limit.saturating_add(1 << 20) {
                let _ = axum::body::to_bytes(body, len).await;
            }
            return Err(too_large());
        }
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    let version_ok = parts
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .all(|(_, v)| v.trim().trim_matches('"') == "2.1");
    if media == "application/taxii+json" && version_ok {
        Ok(())
    } else {
        Err(taxii_err(
            Code::UnsupportedMediaType,
            format!("send the envelope as {TAXII_MEDIA_TYPE}, not '{ct}'"),
        ))
    }
}

fn failure(v: &Value, message: String) -> Value {
    json!({
        "id": v.get("id").and_then(Value::as_str).unwrap_or(""),
        "version": v.get("modified").or_else(|| v.get("created")).and_then(Value::as_str).unwrap_or(""),
        "message": message,
    })
}

async fn add_objects(
    State(s): State<Shared>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let caller = begin(&s, &headers).await?;
    let p = caller.require().map_err(ApiError::taxii)?.clone();
    let col = visible_collection(&s, &caller, &cid).await?;
    if !p.role.can_write() || !col.can_write(Some(&p.org)) {
        return Err(taxii_err(
            Code::Forbidden,
            "this token may not add objects to this collection",
        ));
    }
    check_content_type(&headers)?;
    let bytes = read_body(body, &headers, s.config.max_content_length)
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
    let total = objects_owned.len();

    if p.org.kind == OrgKind::PeerHub {
        // A peer hub pushing to us: the federation ingest with this hub's handling.
        let (state, org) = (s.clone(), p.org.id.clone());
        let status = s
            .db(move |st| crate::federation::ingest_status(st, &state, &org, objects_owned))
            .await
            .map_err(ApiError::taxii)?;
        let (sid, org, body) = (
            status["id"].as_str().unwrap_or("").to_string(),
            p.org.id.clone(),
            status.clone(),
        );
        s.db(move |st| st.save_status(&sid, &org, &body))
            .await
            .map_err(ApiError::taxii)?;
        return Ok(taxii_json(StatusCode::ACCEPTED, status.to_string()));
    }

    let default_tlp = s.config.default_tlp;
    let public = col.id == PUBLIC_COLLECTION;
    let mut failures: Vec<Value> = Vec::new();
    let mut accepted: Vec<(usize, NewObject)> = Vec::new();
    for (i, raw) in objects_owned.into_iter().enumerate() {
        let shown = raw.clone();
        let checked = match check_object(raw) {
            Ok(c) => c,
            Err(e) => {
                let path = if e.path.is_empty() {
                    format!("objects[{i}]")
                } else {
                    format!("objects[{i}].{}", e.path)
                };
                failures.push(failure(&shown, format!("{path}: {}", e.message)));
                continue;
            }
        };
        let tlp = checked.tlp.unwrap_or(default_tlp);
        if let Err(e) = check_write(
            &p.org.identity_id,
            checked.created_by_ref.as_deref(),
            tlp,
            &checked.audience,
        ) {
            failures.push(failure(&checked.value, format!("objects[{i}]: {e}")));
            continue;
        }
        if public && tlp != Tlp::Clear {
            failures.push(failure(&checked.value, format!("objects[{i}]: only TLP:CLEAR objects may be added to the public collection (this one is {tlp})")));
            continue;
        }
        accepted.push((i, NewObject::new(checked, tlp)));
    }

    let mut successes: Vec<Value> = Vec::new();
    let mut indicator_rows: Vec<IndicatorRow> = Vec::new();
    if !accepted.is_empty() {
        let meta: Vec<(usize, String, String, Tlp)> = accepted
            .iter()
            .map(|(i, o)| {
                let version = o.checked.version.map(|t| t.to_string()).unwrap_or_default();
                (*i, o.checked.id.clone(), version, o.tlp)
            })
            .collect();
        // What the indicator index needs of each indicator, taken before the objects move.
        let rows: Vec<Option<IndicatorRow>> = accepted
            .iter()
            .map(|(_, o)| {
                (o.checked.object_type == "indicator").then(|| IndicatorRow {
                    stix_id: o.checked.id.clone(),
                    owner_org: p.org.id.clone(),
                    tlp: o.tlp,
                    audience: o.checked.audience.clone(),
                    version: o.checked.version.map_or(0, Timestamp::micros),
                    json: o.json.clone(),
                })
            })
            .collect();
        let objs: Vec<NewObject> = accepted.into_iter().map(|(_, o)| o).collect();
        let (cid2, org) = (col.id.clone(), p.org.id.clone());
        // Mark our own indicators before the write: their change notifications can
        // arrive before this handler resumes.
        let own: Vec<String> = rows.iter().flatten().map(|r| r.stix_id.clone()).collect();
        s.indicators.expect_local(&own);
        let outcomes = match s.db(move |st| st.add_objects(&cid2, &org, objs)).await {
            Ok(o) => o,
            Err(e) => {
                s.indicators.forget_local(&own);
                return Err(e.taxii());
            }
        };
        for (((i, id, version, tlp), outcome), row) in meta.into_iter().zip(outcomes).zip(rows) {
            match outcome {
                Outcome::Added => {
                    indicator_rows.extend(row);
                    s.metrics.objects_added(tlp);
                    successes.push(json!({"id": id, "version": version}));
                }
                Outcome::Duplicate => {
                    s.metrics.objects_duplicate(1);
                    successes.push(json!({"id": id, "version": version, "message": "this version was already stored; nothing changed"}));
                }
                Outcome::Refused(m) => failures.push(
                    json!({"id": id, "version": version, "message": format!("objects[{i}]: {m}")}),
                ),
            }
        }
    }
    if !indicator_rows.is_empty() {
        s.indicators.queue(indicator_rows);
    }
    if !successes.is_empty() {
        s.wake_federation();
    }
    s.metrics.objects_refused(failures.len() as u64);
    let status_id = uuid::Uuid::new_v4().to_string();
    let mut status = json!({
        "id": status_id,
        "status": "complete",
        "request_timestamp": Timestamp::now().to_string(),
        "total_count": total,
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": 0,
    });
    if !successes.is_empty() {
        status["successes"] = Value::Array(successes);
    }
    if !failures.is_empty() {
        status["failures"] = Value::Array(failures);
    }
    let (sid, org, body) = (status_id.clone(), p.org.id.clone(), status.clone());
    s.db(move |st| st.save_status(&sid, &org, &body))
        .await
        .map_err(ApiError::taxii)?;
    Ok(taxii_json(StatusCode::ACCEPTED, status.to_string()))
}

fn not_an_envelope() -> ApiError {
    taxii_err(
        Code::Unprocessable,
        "the body must be a TAXII envelope: a JSON object with an 'objects' list",
    )
}
