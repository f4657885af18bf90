-- Operator alerts (receiver/alerts) at most one per downstream per quiet window, whatever the
-- kind: when the last alert of any kind went out (a recovery too), and the latest transition
-- the window held back, told when it ends if it is news. Expand only: `failing_at` and
-- `disabled_at` are still written, for a replica of the release before.
ALTER TABLE alert_marks ADD COLUMN sent_at DOUBLE PRECISION;
ALTER TABLE alert_marks ADD COLUMN held_kind TEXT;
ALTER TABLE alert_marks ADD COLUMN held_reason TEXT;
