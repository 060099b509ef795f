-- The outbox's hot indexes hold only what is still to send: a delivered entry leaves
-- them (one removal each) instead of moving inside them, so they stay the size of the
-- backlog however large the delivered history grows. Retention finds old delivered
-- entries by their own index.
DROP INDEX deliveries_due;
DROP INDEX deliveries_target;
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE state = 'pending';
CREATE INDEX deliveries_target ON deliveries (channel, target, seq) WHERE state = 'pending';
CREATE INDEX deliveries_done ON deliveries (delivered_at) WHERE state = 'delivered';
