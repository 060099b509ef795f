-- hinomi schema 11 (SQLite): exercises. The coordinator plans one (name, participating
-- organizations and peer hubs), starts and ends it; the warnings it sends while it runs
-- are its injects (always marked as exercise material).
CREATE TABLE exercises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    participants TEXT NOT NULL,
    peers TEXT NOT NULL,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    started INTEGER,
    ended INTEGER
);
CREATE INDEX exercises_state ON exercises (state, created);
CREATE TABLE exercise_injects (
    exercise_id TEXT NOT NULL,
    warning_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (exercise_id, warning_id)
);
