-- hinomi schema 8 (PostgreSQL): incidents. A member's report is a STIX incident object (and
-- the observed-data, indicators and relationships it came with) in the `incidents`
-- collection, owned by the reporter and read through the access rule like any object.
-- These tables hold what is not shared STIX: the coordinator's case (state, assignee,
-- timeline, tasks, notes, links), each report's consent and deadlines, attachments, and
-- the correlation index.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT,
    assignee TEXT,
    merged_into TEXT,
    exercise BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX incidents_updated ON incidents (updated, id);
CREATE TABLE incident_reports (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    reporter_org TEXT NOT NULL,
    kind TEXT NOT NULL,
    share_anonymized BIGINT NOT NULL,
    share_named BIGINT NOT NULL,
    law_enforcement TEXT NOT NULL,
    exercise BIGINT NOT NULL,
    discovered BIGINT NOT NULL,
    report_due BIGINT NOT NULL,
    final_due BIGINT NOT NULL,
    final_at BIGINT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    supplements BIGINT NOT NULL,
    objects TEXT NOT NULL
);
CREATE INDEX incident_reports_incident ON incident_reports (incident_id);
CREATE INDEX incident_reports_reporter ON incident_reports (reporter_org, created);
CREATE TABLE incident_events (
    seq BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_org TEXT,
    actor TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, seq);
CREATE TABLE incident_tasks (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    title TEXT NOT NULL,
    assignee TEXT,
    due BIGINT,
    done BIGINT,
    created BIGINT NOT NULL
);
CREATE INDEX incident_tasks_incident ON incident_tasks (incident_id);
CREATE TABLE incident_notes (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    author_org TEXT NOT NULL,
    author TEXT,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incident_notes_incident ON incident_notes (incident_id, at);
CREATE TABLE incident_links (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE TABLE incident_attachments (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX incident_attachments_report ON incident_attachments (report_id);
-- The correlation index: one row per (observable value, stored object version), for
-- the latest version of objects only. `context` is what a hit counts as: the incident
-- report an object came with, or the object itself.
CREATE TABLE observable_postings (
    value TEXT NOT NULL,
    pk BIGINT NOT NULL,
    context TEXT NOT NULL,
    PRIMARY KEY (value, pk)
);
CREATE INDEX observable_postings_pk ON observable_postings (pk);
CREATE INDEX observable_postings_context ON observable_postings (context);
CREATE TABLE correlation_exclusions (
    value TEXT PRIMARY KEY,
    created BIGINT NOT NULL
);
INSERT INTO collections (id, alias, title, description, read_policy, write_policy, created) VALUES
 ('9d6e2b17-4c83-4f0a-a1e5-3b8c7d2f6e94', 'incidents', 'Incident reports',
  'Incident reports of member organizations (STIX incident with the OASIS incident extension); each report is visible as its TLP marking and audience allow, by default to the reporter and the coordinator only', 'members', 'coordinator', 0);
