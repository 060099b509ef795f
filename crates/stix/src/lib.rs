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
