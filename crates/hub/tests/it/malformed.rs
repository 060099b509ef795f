//! Hostile and malformed input: each a clear 4xx with the TAXII error resource, never a
//! 500, and the server keeps serving.

use hinomi_hub::HubConfig;
use serde_json::json;

use crate::{envelope, indicator, objects_path, Hub, SHARED, TAXII};

fn assert_taxii_error(r: &crate::Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.content_type, TAXII);
    let e = r.json();
    assert_eq!(e["http_status"], status.to_string());
    assert!(e["title"].is_string());
    let d = e["description"].as_str().unwrap();
    assert!(d.contains(needle), "description '{d}' lacks '{needle}'");
}

#[test]
fn bad_requests_get_clear_errors() {
    let hub = Hub::start_with(HubConfig {
        max_content_length: 64 * 1024,
        ..crate::lab_config()
    });
    let (_, member) = hub.member("Member", "government");
    let objects = objects_path(SHARED);

    // Content negotiation.
    let r = hub.call(
        "GET",
        &objects,
        Some(&member),
        &[("Accept", "application/json")],
        None,
    );
    assert_taxii_error(&r, 406, "Accept");
    let r = hub.call(
        "GET",
        &objects,
        Some(&member),
        &[("Accept", "application/taxii+json;version=2.0")],
        None,
    );
    assert_eq!(r.status, 406);
    let r = hub.call(
        "GET",
        &objects,
        Some(&member),
        &[("Accept", "application/taxii+json")],
        None,
    );
    assert_eq!(r.status, 200);
    let body = envelope(vec![indicator(1, "2026-01-01T00:00:00.000Z")]).to_string();
    let r = hub.call(
        "POST",
        &objects,
        Some(&member),
        &[("Accept", TAXII), ("Content-Type", "application/json")],
        Some(&body),
    );
    assert_taxii_error(&r, 415, "application/taxii+json");

    // Bodies.
    let post = |b: &str| {
        hub.call(
            "POST",
            &objects,
            Some(&member),
            &[("Accept", TAXII), ("Content-Type", TAXII)],
            Some(b),
        )
    };
    assert_taxii_error(&post("{\"objects\": [ {"), 400, "request body");
    assert_taxii_error(&post("[1, 2, 3]"), 422, "envelope");
    assert_taxii_error(&post("{\"objects\": 5}"), 422, "envelope");
    let huge = format!(
        "{{\"objects\": [], \"pad\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    assert_taxii_error(&post(&huge), 413, "max_content_length");
    let r = post(
        &json!({"objects": [42, {"type": "indicator"}, indicator(2, "2026-01-01T00:00:00.000Z")]})
            .to_string(),
    );
    assert_eq!(r.status, 202);
    let st = r.json();
    assert_eq!(st["failure_count"], 2);
    assert_eq!(st["success_count"], 1);

    // Filters.
    for (q, needle) in [
        ("added_after=yesterday", "added_after"),
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("limit=abc", "limit"),
        ("next=bogus", "next"),
        ("match[version]=newest", "match[version]"),
    ] {
        let r = hub.taxii_get(&format!("{objects}?{q}"), Some(&member));
        assert_taxii_error(&r, 400, needle);
    }

    // Authentication.
    assert_taxii_error(
        &hub.taxii_get(&objects, Some("hnm_not_a_token")),
        401,
        "not valid",
    );
    let r = hub.call(
        "GET",
        &objects,
        None,
        &[("Accept", TAXII), ("Authorization", "Digest abc")],
        None,
    );
    assert_eq!(r.status, 401);
    // HTTP Basic with the token as password works.
    let basic = format!("Basic {}", base64_encode(&format!("anyone:{member}")));
    let r = hub.call(
        "GET",
        &objects,
        None,
        &[("Accept", TAXII), ("Authorization", &basic)],
        None,
    );
    assert_eq!(r.status, 200);

    // Unknown paths and methods.
    assert_taxii_error(
        &hub.taxii_get("/taxii2/hub/nothing/", Some(&member)),
        404,
        "no resource",
    );
    let r = hub.call(
        "PUT",
        &objects,
        Some(&member),
        &[("Accept", TAXII)],
        Some("{}"),
    );
    assert_eq!(r.status, 405);

    // REST errors have a stable code.
    let r = hub.rest(
        "POST",
        "/api/v1/organizations",
        &hub.admin,
        Some(json!({"name": "X", "kind": "alien"})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("kind"));
    let r = hub.call(
        "POST",
        "/api/v1/organizations",
        Some(&hub.admin),
        &[("Content-Type", "application/json")],
        Some("{nope"),
    );
    assert_eq!(r.json()["error"]["code"], "invalid_json");
    let r = hub.rest(
        "POST",
        "/api/v1/organizations",
        &hub.admin,
        Some(json!({"name": "X", "kind": "private", "colour": "red"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("colour"), "{}", r.body);

    // Still serving.
    assert_eq!(hub.call("GET", "/healthz", None, &[], None).status, 200);
}

fn base64_encode(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (u32::from(*c) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn writes_are_rate_limited_per_credential() {
    // The admin spends 4 writes creating the two members.
    let hub = Hub::start_with(HubConfig {
        write_rate_per_minute: 5,
        ..crate::lab_config()
    });
    let (_, a) = hub.member("A", "private");
    let (_, b) = hub.member("B", "private");
    let objects = objects_path(SHARED);
    let env = envelope(vec![]);
    for _ in 0..5 {
        assert_eq!(hub.taxii_post(&objects, &a, &env).status, 202);
    }
    let r = hub.taxii_post(&objects, &a, &env);
    assert_taxii_error(&r, 429, "writes per minute");
    assert!(r.header("Retry-After").is_some());
    // The same token sent another way (Basic with any user name, extra spaces) is the
    // same credential: no fresh budget.
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("anyone:{a}"),
    );
    for auth in [format!("Basic {basic}"), format!("Bearer   {a}")] {
        let r = hub.call(
            "POST",
            &objects,
            None,
            &[
                ("Authorization", &auth),
                ("Accept", TAXII),
                ("Content-Type", TAXII),
            ],
            Some(&env.to_string()),
        );
        assert_eq!(r.status, 429, "{auth}: {}", r.body);
    }
    // Another credential has its own budget; reads are not limited.
    assert_eq!(hub.taxii_post(&objects, &b, &env).status, 202);
    assert_eq!(hub.taxii_get(&objects, Some(&a)).status, 200);
}

/// A hostile audience (100,000 entries, ~5 MB) is refused by its size, naming the limit
/// and the place, at once (the audience used to be de-duplicated with a linear search
/// per entry: ~20 s of CPU); an audience at the limit, duplicates and all, is accepted.
#[test]
fn huge_audiences_are_refused_by_their_limit() {
    let hub = Hub::start();
    let (_, member) = hub.member("Member", "government");
    let ext = hinomi_stix::HUB_EXTENSION_ID;
    let audience: Vec<String> = (0..100_000)
        .map(|i| format!("identity--00000000-0000-4000-8000-{i:012}"))
        .collect();
    let mut o = indicator(1, "2026-01-01T00:00:00.000Z");
    o["extensions"] = json!({ext: {"extension_type": "property-extension", "audience": audience}});
    let r = hub.taxii_post(&objects_path(SHARED), &member, &envelope(vec![o.clone()]));
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(v["failure_count"], 1, "{v}");
    let m = v["failures"][0]["message"].as_str().unwrap();
    assert!(m.contains("audience") && m.contains("at most 1000"), "{m}");
    // At the limit, with every entry twice: accepted.
    let twice: Vec<String> = audience[..500]
        .iter()
        .chain(&audience[..500])
        .cloned()
        .collect();
    o["extensions"][ext]["audience"] = json!(twice);
    let r = hub.taxii_post(&objects_path(SHARED), &member, &envelope(vec![o]));
    assert_eq!(
        r.json()["success_count"],
        1,
        "{}",
        &r.body[..r.body.len().min(500)]
    );
    assert_eq!(hub.call("GET", "/healthz", None, &[], None).status, 200);
}

/// An indicator whose STIX pattern does not parse is refused with the parser's error
/// and the place; the valid one beside it is stored.
#[test]
fn unparsable_patterns_are_refused_on_ingest() {
    let hub = Hub::start();
    let (_, member) = hub.member("Member", "government");
    let good = indicator(1, "2026-01-01T00:00:00.000Z");
    let mut bad = indicator(2, "2026-01-01T00:00:00.000Z");
    bad["pattern"] = json!("[ipv4-addr:value = '198.51.100.1'");
    let r = hub.taxii_post(&objects_path(SHARED), &member, &envelope(vec![good, bad]));
    let v = r.json();
    assert_eq!(
        (v["success_count"].clone(), v["failure_count"].clone()),
        (json!(1), json!(1)),
        "{v}"
    );
    let m = v["failures"][0]["message"].as_str().unwrap();
    assert!(m.starts_with("objects[1].pattern: "), "{m}");
}
