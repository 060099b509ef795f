-- hinomi schema 11 (PostgreSQL): exercises. The coordinator plans one (name, participating
-- organizations and peer hubs), starts and ends it; the warnings it sends while it runs
-- are its injects (always marked as exercise material).
CREATE TABLE exercises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    participants TEXT NOT NULL,
    peers TEXT NOT NULL,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created BIGINT NOT NULL,
    started BIGINT,
    ended BIGINT
);
CREATE INDEX exercises_state ON exercises (state, created);
CREATE TABLE exercise_injects (
    exercise_id TEXT NOT NULL,
    warning_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (exercise_id, warning_id)
);
