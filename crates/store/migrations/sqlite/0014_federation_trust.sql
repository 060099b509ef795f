-- The coordinator's grants of objects received from peer hubs. A received object is
-- stored for the coordinator only, whatever audience the peer named; the coordinator
-- extends it to members. The grants live here, apart from the versions, so each new
-- version the peer sends gets them again and nothing the peer writes can add to them.
CREATE TABLE received_grants (
    stix_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (stix_id, identity_id)
);

-- A peer's token may be bound to the client certificate the peer presents (mutual
-- TLS): the SHA-256 of its DER encoding, lowercase hex.
ALTER TABLE peers ADD COLUMN client_cert_sha256 TEXT;

-- CSAF publisher namespaces (`/document/publisher/namespace`) the coordinator bound to
-- an organization: members submit advisories only under their own.
CREATE TABLE publisher_namespaces (
    namespace TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    created INTEGER NOT NULL
);

-- An SCO's id is derived from its value, so several organizations may each share one
-- under their own handling: a version is unique per owner. (SDO ids are chosen by
-- their author; the store still lets only the owner add versions of those.)
DROP INDEX objects_collection_version;
CREATE UNIQUE INDEX objects_collection_version ON objects (collection_id, stix_id, version, owner_org);
