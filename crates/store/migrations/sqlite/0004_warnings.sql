-- hinomi schema 4 (SQLite): warnings, their versions, recipients and status reports;
-- subscriptions (webhooks, e-mail contacts, filters); the delivery outbox; the
-- Server-Sent Events feed; escalations.
CREATE TABLE org_settings (
    org_id TEXT PRIMARY KEY,
    language TEXT NOT NULL,
    min_severity TEXT NOT NULL,
    sectors TEXT NOT NULL,
    report_types TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    created INTEGER NOT NULL,
    disabled INTEGER
);
CREATE INDEX webhooks_org ON webhooks (org_id);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    language TEXT,
    created INTEGER NOT NULL,
    disabled INTEGER
);
CREATE INDEX contacts_org ON contacts (org_id);

CREATE TABLE warnings (
    id TEXT PRIMARY KEY,
    owner_org TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    severity TEXT NOT NULL,
    tlp INTEGER NOT NULL,
    exercise INTEGER NOT NULL,
    ack_required INTEGER NOT NULL,
    ack_due INTEGER,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX warnings_updated ON warnings (updated);
CREATE TABLE warning_versions (
    warning_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    changes TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (warning_id, version)
);
CREATE TABLE warning_recipients (
    warning_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    since_version INTEGER NOT NULL,
    detail TEXT,
    PRIMARY KEY (warning_id, org_id)
);
CREATE INDEX warning_recipients_org ON warning_recipients (org_id);
CREATE TABLE warning_statuses (
    seq INTEGER PRIMARY KEY,
    warning_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    via TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX warning_statuses_warning ON warning_statuses (warning_id, org_id, seq);
CREATE TABLE escalations (
    warning_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (warning_id, org_id)
);

CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    warning_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    org_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    last_error TEXT,
    created INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt);
CREATE INDEX deliveries_target ON deliveries (channel, target, state, seq);
CREATE INDEX deliveries_warning ON deliveries (warning_id, org_id);

CREATE TABLE stream_events (
    seq INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    warning_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX stream_events_org ON stream_events (org_id, seq);
