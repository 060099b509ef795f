//! The STIX 2.1 model of hinomi: identifiers, timestamps, TLP markings, and validation
//! of raw JSON into checked objects with precise errors.
//!
//! Invariant: this crate does no IO and knows nothing of HTTP or SQL.

mod object;
mod timestamp;
mod tlp;

pub use object::{
    check_identifier, check_object, CheckedObject, ObjectKind, ValidationError, HUB_EXTENSION_ID,
    MAX_AUDIENCE, SCO_TYPES,
};
pub use timestamp::{Timestamp, TimestampError};
pub use tlp::{Tlp, UnknownTlp, TLP2_EXTENSION_ID};

/// The id of the hub's incident report extension: what a member's report says beyond
/// the OASIS incident extension (discovery time, affected sector, systems and services,
/// impact after the CISA Federal Incident Notification Guidelines, the ENISA reference
/// taxonomy class and type, the report kind and its supplements).
pub const REPORT_EXTENSION_ID: &str = "extension-definition--68c97f0f-a550-4f78-8df4-65a0c14cf32f";

/// The OASIS Incident Core Extension (its id is the same in versions 1 and 2).
pub const INCIDENT_CORE_EXTENSION_ID: &str =
    "extension-definition--ef765651-680c-498d-9894-99799f2fa126";

/// The hub's `extension-definition` object for its incident report extension.
pub fn report_extension_definition(creator: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": REPORT_EXTENSION_ID,
        "created_by_ref": creator,
        "created": "2026-12-07T00:00:00.000Z",
        "modified": "2026-12-07T00:00:00.000Z",
        "name": "hinomi incident report",
        "description": "A member's incident report to its national coordinator: when it was discovered and occurred, how it was detected, the affected sector, systems and services, the impact after the CISA Federal Incident Notification Guidelines, the class and type of the ENISA Reference Security Incident Taxonomy, the report kind and its supplements.",
        "schema": "https://hinomi.invalid/schemas/incident-report-extension.json",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [Tlp::Clear.marking_id()]
    })
}

/// The hub's `extension-definition` object for its handling extension, created by
/// `creator` (the hub's identity).
pub fn hub_extension_definition(creator: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": HUB_EXTENSION_ID,
        "created_by_ref": creator,
        "created": "2026-11-25T00:00:00.000Z",
        "modified": "2026-11-25T00:00:00.000Z",
        "name": "hinomi handling",
        "description": "Who may receive an object beyond its TLP marking (audience: identities of organizations or communities) and whether it belongs to a training exercise.",
        "schema": "https://hinomi.invalid/schemas/handling-extension.json",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [Tlp::Clear.marking_id()]
    })
}
