-- hinomi schema 3 (PostgreSQL): members' asset inventories and the findings of matching
-- advisories against them.
CREATE TABLE inventories (
    org_id TEXT NOT NULL,
    asset TEXT NOT NULL,
    format TEXT NOT NULL,
    components BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (org_id, asset)
);
CREATE TABLE findings (
    org_id TEXT NOT NULL,
    asset TEXT NOT NULL,
    component_index BIGINT NOT NULL,
    component TEXT NOT NULL,
    publisher TEXT NOT NULL,
    tracking_id TEXT NOT NULL,
    vulnerability TEXT NOT NULL,
    product_id TEXT NOT NULL,
    status TEXT NOT NULL,
    max_score BIGINT,
    detail TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    changed BIGINT NOT NULL,
    PRIMARY KEY (org_id, asset, component_index, publisher, tracking_id, vulnerability, product_id)
);
CREATE INDEX findings_advisory ON findings (publisher, tracking_id);
