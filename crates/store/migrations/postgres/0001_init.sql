-- hinomi schema 1 (PostgreSQL). Timestamps are microseconds since the Unix epoch.
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    sectors TEXT NOT NULL,
    country TEXT,
    identity_id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
CREATE UNIQUE INDEX organizations_one_coordinator ON organizations (kind) WHERE kind = 'coordinator';

CREATE TABLE communities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    identity_id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
CREATE TABLE community_members (
    community_id TEXT NOT NULL REFERENCES communities (id),
    org_id TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (community_id, org_id)
);
CREATE INDEX community_members_org ON community_members (org_id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created BIGINT NOT NULL,
    revoked BIGINT
);
CREATE INDEX tokens_org ON tokens (org_id);

CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    alias TEXT UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    read_policy TEXT NOT NULL,
    write_policy TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE collection_grants (
    collection_id TEXT NOT NULL REFERENCES collections (id),
    org_id TEXT NOT NULL REFERENCES organizations (id),
    can_read BIGINT NOT NULL,
    can_write BIGINT NOT NULL,
    PRIMARY KEY (collection_id, org_id)
);

CREATE TABLE objects (
    pk BIGSERIAL PRIMARY KEY,
    collection_id TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    date_added BIGINT NOT NULL,
    owner_org TEXT NOT NULL,
    tlp BIGINT NOT NULL,
    has_audience BIGINT NOT NULL,
    exercise BIGINT NOT NULL,
    is_latest BIGINT NOT NULL,
    is_first BIGINT NOT NULL,
    json TEXT NOT NULL
);
CREATE UNIQUE INDEX objects_collection_version ON objects (collection_id, stix_id, version);
CREATE INDEX objects_collection_added ON objects (collection_id, date_added, pk);
CREATE INDEX objects_stix_id ON objects (stix_id);

CREATE TABLE object_audience (
    pk BIGINT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (pk, identity_id)
);
CREATE INDEX object_audience_identity ON object_audience (identity_id);

CREATE TABLE statuses (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_org TEXT,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- The default collections every hub starts with (fixed ids, so peers can be told them).
INSERT INTO collections (id, alias, title, description, read_policy, write_policy, created) VALUES
 ('4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60', 'shared', 'Shared analysis',
  'Indicators, sightings and analysis that any member organization may share; each object is visible as its TLP marking and audience allow', 'members', 'members', 0),
 ('7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38', 'warnings', 'Warnings and advisories',
  'Warnings and advisories issued by the coordinator', 'members', 'coordinator', 0),
 ('c3a8f5d2-6e1b-4c9a-8f7d-2b4e6a1c9d05', 'public', 'Public (TLP:CLEAR)',
  'TLP:CLEAR advisories and best practices for everyone, readable without credentials', 'public', 'coordinator', 0);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
