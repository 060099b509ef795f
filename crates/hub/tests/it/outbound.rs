//! The outbound policy on every path a member or the coordinator can point the hub at:
//! webhook registration, webhook delivery (a webhook stored before the policy changed,
//! redirects), and peer registration.

use std::time::Duration;

use serde_json::{json, Value};

use hinomi_hub::outbound::OutboundPolicy;
use hinomi_hub::HubConfig;
use hinomi_notify::sealed::MasterKey;
use hinomi_notify::testing::WebhookReceiver;
use hinomi_notify::webhook::WebhookSecret;
use hinomi_stix::Tlp;
use hinomi_store::Webhook;

use crate::Hub;

fn add_hook(hub: &Hub, token: &str, url: &str) -> (u16, String) {
    let r = hub.rest(
        "POST",
        "/api/v1/subscription/webhooks",
        token,
        Some(json!({ "url": url })),
    );
    (r.status, r.body)
}

fn publish(hub: &Hub, org: &str, tlp: &str, title: &str) -> String {
    let body = json!({
        "title": {"en": title, "ja": title},
        "summary": {"en": "s", "ja": "s"},
        "severity": "high", "tlp": tlp,
        "audience": {"organizations": [org]},
    });
    let r = hub.rest("POST", "/api/v1/warnings", &hub.admin, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{id}/publish"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// The deliveries of one warning once none is pending.
fn settled(hub: &Hub, warning: &str) -> Vec<Value> {
    let t0 = std::time::Instant::now();
    loop {
        let r = hub.rest(
            "GET",
            &format!("/api/v1/deliveries?warning={warning}"),
            &hub.admin,
            None,
        );
        let list = r.json()["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let webhooks: Vec<Value> = list
            .into_iter()
            .filter(|d| d["channel"] == "webhook")
            .collect();
        let tried = |d: &Value| d["state"] != "pending" || !d["last_error"].is_null();
        if !webhooks.is_empty() && webhooks.iter().all(tried)
            || t0.elapsed() > Duration::from_secs(20)
        {
            return webhooks;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn webhooks_to_internal_addresses_and_over_plain_http_are_refused_by_default() {
    let hub = Hub::start_with(HubConfig::default());
    let (_, token) = hub.member("Careless member", "private");
    for (url, names) in [
        ("https://127.0.0.1:9/hook", "loopback"),
        ("https://[::1]:9/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://10.0.0.8/hook", "private"),
        ("https://[::ffff:192.168.1.1]/hook", "private"),
        ("http://hooks.example/hook", "use https"),
    ] {
        let (status, body) = add_hook(&hub, &token, url);
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body.contains(names) && body.contains("url"),
            "{url}: {body}"
        );
    }
    let (status, body) = add_hook(&hub, &token, "https://hooks.example/hook");
    assert_eq!(status, 201, "{body}");

    let r = hub.rest(
        "POST",
        "/api/v1/peers",
        &hub.admin,
        Some(json!({
            "name": "Internal", "identity_id": "identity--0b7e6c39-5c5e-4b8e-9d7f-3b1e2f4a5c6d",
            "api_root": "https://192.168.10.10/taxii2/hub/", "direction": "pull",
            "pull_collections": ["x"], "agreement": {"green": true},
        })),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("api_root") && r.body.contains("private"),
        "{}",
        r.body
    );
    let r = hub.rest(
        "POST",
        "/api/v1/peers",
        &hub.admin,
        Some(json!({
            "name": "Plain", "identity_id": "identity--0b7e6c39-5c5e-4b8e-9d7f-3b1e2f4a5c6d",
            "api_root": "http://peer.example/taxii2/hub/", "direction": "pull",
            "pull_collections": ["x"], "agreement": {"green": true, "amber": true},
        })),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("use https"), "{}", r.body);
}

/// Stores a webhook as if it had been registered under an earlier, looser policy.
fn stored_hook(hub: &Hub, key: &MasterKey, org_id: &str, n: u32, url: &str) {
    let id = format!("wh_stored{n}");
    let secret = WebhookSecret::generate();
    hub.store
        .add_webhook(
            &Webhook {
                id: id.clone(),
                org_id: org_id.into(),
                url: url.into(),
                secret_sealed: key.seal(secret.expose().as_bytes(), id.as_bytes()),
                created: hinomi_stix::Timestamp::now(),
            },
            org_id,
        )
        .unwrap();
}

#[test]
fn a_stored_webhook_is_checked_again_when_it_is_sent() {
    // The name resolves to loopback only when the hook is called.
    let config = HubConfig::default();
    let key = config.notify.key.clone();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let (org, _) = hub.member("Member", "private");
    let org_id = org["id"].as_str().unwrap();
    stored_hook(
        &hub,
        &key,
        org_id,
        1,
        &rx.url("/hook").replace("127.0.0.1", "localhost"),
    );
    let w = publish(&hub, org_id, "green", "loopback");
    let d = settled(&hub, &w);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["state"], "dead", "{d:?}");
    let err = d[0]["last_error"].as_str().unwrap_or("");
    assert!(
        err.contains("outbound policy") && err.contains("loopback"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        rx.requests().is_empty(),
        "nothing reaches the refused address"
    );
}

#[test]
fn redirects_are_not_followed_and_restricted_warnings_need_https() {
    // A lab: loopback allowed, plain http up to TLP:GREEN only.
    let config = HubConfig {
        outbound: OutboundPolicy {
            plain_http_up_to: Tlp::Green,
            ..OutboundPolicy::lab()
        },
        ..HubConfig::default()
    };
    let key = config.notify.key.clone();
    let hub = Hub::start_with(config);
    let rx = WebhookReceiver::start();
    let (org, token) = hub.member("Member", "private");
    let org_id = org["id"].as_str().unwrap();
    // Webhooks receive every TLP, so plain http is refused when one is registered…
    let (status, body) = add_hook(&hub, &token, &rx.url("/plain"));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("TLP:GREEN") && body.contains("use https"),
        "{body}"
    );

    // …and checked for each warning when a stored hook is called.
    stored_hook(&hub, &key, org_id, 1, &rx.url("/plain"));
    let green = publish(&hub, org_id, "green", "green over http");
    assert_eq!(settled(&hub, &green)[0]["state"], "delivered");
    let amber = publish(&hub, org_id, "amber", "amber over http");
    let d = settled(&hub, &amber);
    assert_eq!(d[0]["state"], "dead", "{d:?}");
    assert!(
        d[0]["last_error"].as_str().unwrap().contains("use https"),
        "{d:?}"
    );
    let bodies: Vec<String> = rx.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("green over http"), "{bodies:?}");

    // A redirect is a failed attempt, never followed.
    rx.redirect("/redirect", &rx.url("/elsewhere"));
    stored_hook(&hub, &key, org_id, 2, &rx.url("/redirect"));
    let w = publish(&hub, org_id, "clear", "redirected");
    let d = settled(&hub, &w);
    let redirect = d
        .iter()
        .find(|d| d["target"] == "wh_stored2")
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(
        redirect["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("redirects are not followed"),
        "{d:?}"
    );
    let reqs = rx.requests();
    assert!(reqs.iter().any(|r| r.path == "/redirect"), "{reqs:?}");
    assert!(
        reqs.iter().all(|r| r.path != "/elsewhere"),
        "the redirect was followed: {reqs:?}"
    );
}
