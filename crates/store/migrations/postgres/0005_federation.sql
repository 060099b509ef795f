-- hinomi schema 5 (PostgreSQL): peer hubs, their sharing agreements, pull checkpoints, push
-- cursors and status; the collection received objects land in, and the collection of
-- tombstones (deletions told to peers).
CREATE TABLE peers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    country TEXT,
    identity_id TEXT NOT NULL,
    api_root TEXT NOT NULL,
    pull_collections TEXT NOT NULL,
    push_collection TEXT,
    credentials_sealed TEXT,
    direction TEXT NOT NULL,
    agreement TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    disabled BIGINT
);
CREATE TABLE peer_checkpoints (
    peer_id TEXT NOT NULL,
    remote_collection TEXT NOT NULL,
    added_after TEXT,
    updated BIGINT NOT NULL,
    PRIMARY KEY (peer_id, remote_collection)
);
CREATE TABLE peer_push_cursors (
    peer_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    added BIGINT NOT NULL,
    pk BIGINT NOT NULL,
    PRIMARY KEY (peer_id, collection_id)
);
CREATE TABLE peer_status (
    peer_id TEXT PRIMARY KEY,
    last_pull BIGINT,
    last_push BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    counts TEXT NOT NULL
);
INSERT INTO collections (id, alias, title, description, read_policy, write_policy, created) VALUES
 ('9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94', 'federation', 'Received from peer hubs',
  'Objects received from peer hubs under sharing agreements; each is visible as its TLP, audience and the agreement allow', 'members', 'restricted', 0),
 ('e5b7d3a1-9c4f-4b2e-8a6d-3f1c0e9b7d52', 'tombstones', 'Deletions for peer hubs',
  'Tombstones of deleted objects, so that peers stop serving what its owner withdrew', 'restricted', 'coordinator', 0);
