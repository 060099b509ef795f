-- Partial indexes for what 0012 left scanning: offboarding an organization marks its
-- pending entries dead by org_id, and the outbox view lists and counts dead letters.
-- Each holds only entries in its state, so a delivered entry touches neither.
CREATE INDEX deliveries_org ON deliveries (org_id) WHERE state = 'pending';
CREATE INDEX deliveries_dead ON deliveries (seq) WHERE state = 'dead';
