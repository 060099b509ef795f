//! The hub over real HTTP on loopback: TAXII 2.1, the REST API, malformed input, and the
//! access rule on every read path.

mod access_matrix;
mod access_paths;
mod advisories;
mod audit;
mod casework;
mod federation;
mod findings;
mod fuzz;
mod incidents;
mod layers;
mod limits;
mod malformed;
mod observations;
mod offboarding;
mod outbound;
mod paging;
mod rest;
mod squatting;
mod taxii;
mod warnings;
mod web;

use std::sync::Arc;

use serde_json::{json, Value};

use hinomi_hub::{HubConfig, TestServer};
use hinomi_store::{Location, Store};

/// The TLP 2.0 levels and their marking-definition ids.
pub const TLPS: [(&str, &str); 5] = [
    (
        "clear",
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        "green",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ),
    (
        "amber",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        "amber+strict",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        "red",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ),
];

pub const TAXII: &str = "application/taxii+json;version=2.1";
pub const SHARED: &str = "4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60";

/// A running hub with a bootstrapped coordinator.
pub struct Hub {
    pub server: TestServer,
    pub store: Arc<Store>,
    pub admin: String,
    pub coordinator_identity: String,
    /// Where its store is (tests that play an attacker with the database use it).
    pub location: Location,
}

pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn location() -> Location {
    match std::env::var("HINOMI_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() && std::env::var("HINOMI_HUB_TESTS_ON_POSTGRES").is_ok() => {
            let schema = format!("hinomi_test_{}", uuid::Uuid::new_v4().simple());
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
            let sep = if url.contains('?') { '&' } else { '?' };
            Location::Postgres(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        }
        _ => Location::Sqlite(
            std::env::temp_dir()
                .join(format!("hinomi-hub-{}", uuid::Uuid::new_v4().simple()))
                .join("hinomi.db"),
        ),
    }
}

/// The default configuration with a lab outbound policy: the tests' receivers and peers
/// listen on loopback over plain http.
pub fn lab_config() -> HubConfig {
    HubConfig {
        outbound: hinomi_hub::outbound::OutboundPolicy::lab(),
        ..HubConfig::default()
    }
}

impl Hub {
    pub fn start() -> Hub {
        Hub::start_with(crate::lab_config())
    }

    pub fn start_with(config: HubConfig) -> Hub {
        let location = location();
        let store = Arc::new(Store::open(&location).unwrap());
        let boot = store.bootstrap("Coordinator", Some("JP")).unwrap();
        let server = TestServer::start(store.clone(), config);
        Hub {
            location,
            server,
            store,
            admin: boot.token,
            coordinator_identity: boot.organization.identity_id,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let mut r = ureq::request(method, &self.url(path));
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            r = r.set(k, v);
        }
        let res = match body {
            Some(b) => r.send_string(b),
            None => r.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_string();
                (n, v)
            })
            .collect();
        let body = resp.into_string().unwrap_or_default();
        Resp {
            status,
            content_type,
            headers,
            body,
        }
    }

    pub fn taxii_get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, &[("Accept", TAXII)], None)
    }

    pub fn taxii_post(&self, path: &str, token: &str, envelope: &Value) -> Resp {
        self.call(
            "POST",
            path,
            Some(token),
            &[("Accept", TAXII), ("Content-Type", TAXII)],
            Some(&envelope.to_string()),
        )
    }

    pub fn rest(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        let b = body.map(|b| b.to_string());
        self.call(
            method,
            path,
            Some(token),
            &[("Content-Type", "application/json")],
            b.as_deref(),
        )
    }

    /// A REST request as `token`, or as the public when None.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let b = body.map(|b| b.to_string());
        self.call(
            method,
            path,
            token,
            &[("Content-Type", "application/json")],
            b.as_deref(),
        )
    }

    /// Creates an organization and a member token; returns (org json, token).
    pub fn member(&self, name: &str, kind: &str) -> (Value, String) {
        let r = self.rest(
            "POST",
            "/api/v1/organizations",
            &self.admin,
            Some(json!({"name": name, "kind": kind, "sectors": ["energy"], "country": "JP"})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let org = r.json();
        let r = self.rest(
            "POST",
            &format!(
                "/api/v1/organizations/{}/tokens",
                org["id"].as_str().unwrap()
            ),
            &self.admin,
            Some(json!({"role": "member"})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let token = r.json()["token"].as_str().unwrap().to_string();
        (org, token)
    }
}

pub fn objects_path(col: &str) -> String {
    format!("/taxii2/hub/collections/{col}/objects/")
}

pub fn indicator(n: u32, modified: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--20000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": format!("C2 address {n}"),
        "pattern": format!("[ipv4-addr:value = '203.0.113.{}']", n % 250),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    })
}

pub fn envelope(objects: Vec<Value>) -> Value {
    json!({ "objects": objects })
}
