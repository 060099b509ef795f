-- hinomi schema 2 (SQLite): CSAF advisories, their facts for search, and the
-- known-exploited catalog.
CREATE TABLE advisories (
    pk INTEGER PRIMARY KEY,
    publisher TEXT NOT NULL,
    tracking_id TEXT NOT NULL,
    version TEXT NOT NULL,
    title TEXT NOT NULL,
    initial_release INTEGER NOT NULL,
    current_release INTEGER NOT NULL,
    max_score INTEGER,
    severity TEXT,
    owner_org TEXT NOT NULL,
    tlp INTEGER NOT NULL,
    has_audience INTEGER NOT NULL,
    date_added INTEGER NOT NULL,
    is_latest INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE UNIQUE INDEX advisories_revision ON advisories (publisher, tracking_id, version);
CREATE INDEX advisories_current ON advisories (is_latest, current_release, pk);
CREATE TABLE advisory_audience (
    pk INTEGER NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (pk, identity_id)
);
CREATE TABLE advisory_vulnerabilities (
    advisory_pk INTEGER NOT NULL,
    cve TEXT,
    cwe TEXT,
    max_score INTEGER,
    severity TEXT
);
CREATE INDEX advisory_vulnerabilities_pk ON advisory_vulnerabilities (advisory_pk);
CREATE INDEX advisory_vulnerabilities_cve ON advisory_vulnerabilities (cve);
CREATE TABLE advisory_products (
    advisory_pk INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    vendor TEXT,
    product TEXT,
    version TEXT,
    purl TEXT,
    cpe TEXT
);
CREATE INDEX advisory_products_pk ON advisory_products (advisory_pk);
CREATE INDEX advisory_products_vendor ON advisory_products (vendor);
CREATE INDEX advisory_products_product ON advisory_products (product);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY,
    vendor_project TEXT NOT NULL,
    product TEXT NOT NULL,
    name TEXT NOT NULL,
    date_added TEXT NOT NULL,
    due_date TEXT,
    ransomware TEXT,
    json TEXT NOT NULL
);
