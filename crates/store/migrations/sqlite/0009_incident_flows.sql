-- hinomi schema 9 (SQLite): what follows triage. Law-enforcement referrals (with the
-- reporters' answers and an optional preservation request), recovery (plans registered
-- in advance per organization; per case and affected organization a status, tasks and
-- the impact as it changes), and the coordinator-only mapping from a sanitized warning
-- back to the case it was drafted from. Also: the keyset index of the warnings list.
CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    to_org TEXT NOT NULL,
    state TEXT NOT NULL,
    parts TEXT NOT NULL,
    note TEXT,
    preservation TEXT,
    outcome TEXT,
    outcome_detail TEXT,
    content TEXT,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX referrals_incident ON referrals (incident_id, created);
CREATE INDEX referrals_to ON referrals (to_org, updated);
CREATE TABLE referral_reports (
    referral_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    reporter_org TEXT NOT NULL,
    answer TEXT NOT NULL,
    answered INTEGER,
    PRIMARY KEY (referral_id, report_id)
);
CREATE INDEX referral_reports_reporter ON referral_reports (reporter_org, referral_id);
CREATE TABLE recovery_plans (
    org_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    updated INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE incident_recovery (
    incident_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started INTEGER,
    restored INTEGER,
    updated INTEGER NOT NULL,
    PRIMARY KEY (incident_id, org_id)
);
CREATE INDEX incident_recovery_org ON incident_recovery (org_id);
CREATE TABLE recovery_tasks (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    due INTEGER,
    done INTEGER,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX recovery_tasks_case ON recovery_tasks (incident_id, org_id);
CREATE TABLE incident_impacts (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    impact TEXT NOT NULL,
    superseded_by TEXT
);
CREATE INDEX incident_impacts_case ON incident_impacts (incident_id, org_id, at);
CREATE TABLE incident_warnings (
    warning_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    reports TEXT NOT NULL,
    kept TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX incident_warnings_incident ON incident_warnings (incident_id);
DROP INDEX warnings_updated;
CREATE INDEX warnings_updated_id ON warnings (updated, id);
