-- Callbacks are claims checked against CometAPI (receiver/domain/corroborate.py): each
-- callback event carries its verdict; a task with a claim still being checked has
-- claim_since, and last_polled_at keeps a flood of callbacks from becoming a flood of
-- polls. point and refund are the credits CometAPI reports.
ALTER TABLE events ADD COLUMN verdict TEXT;
ALTER TABLE events ADD COLUMN verdict_at DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN claim_since DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN last_polled_at DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN point DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN refund DOUBLE PRECISION;
