-- Offboarding: an organization may be suspended (reversible: its tokens stop working,
-- nothing is delivered to it) or removed (for good: tokens revoked, endpoints disabled,
-- memberships and grants withdrawn). The row stays: its identity is referenced by the
-- objects it shared.
ALTER TABLE organizations ADD COLUMN suspended INTEGER;
ALTER TABLE organizations ADD COLUMN removed INTEGER;
