-- hinomi schema 10 (SQLite): people. Users of an organization (role admin, analyst or
-- read-only; an Argon2id password hash; a TOTP secret sealed with the hub's master key),
-- their browser sessions (only the SHA-256 of the cookie is stored; a session is
-- half-open until its second factor is given) and invitations by link (the SHA-256 of
-- the link's secret, single use, expiring).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_sealed TEXT NOT NULL,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    locale TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created INTEGER NOT NULL,
    disabled INTEGER
);
CREATE INDEX users_org ON users (org_id, email);
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    second_factor INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    user_agent TEXT,
    revoked INTEGER
);
CREATE INDEX user_sessions_user ON user_sessions (user_id, created);
CREATE TABLE invitations (
    hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used INTEGER
);
CREATE INDEX invitations_org ON invitations (org_id, created);
