-- Each downstream's health, shared by every replica: disabled (by an operator, or by the
-- relay after continuous failure), failing since when, and its breaker as last reported.
CREATE TABLE downstreams (
    name TEXT PRIMARY KEY,
    disabled_at DOUBLE PRECISION,
    disabled_reason TEXT,
    failing_since DOUBLE PRECISION,
    breaker TEXT NOT NULL DEFAULT 'closed',
    breaker_changed_at DOUBLE PRECISION
);
-- Claims go downstream by downstream, so that one with a long queue slows no other.
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX deliveries_due_by_downstream ON deliveries (downstream, next_attempt_at)
    WHERE state = 'pending';
-- The relay's own notices (a downstream disabled) are events of this one task.
INSERT INTO tasks (id, kind, state, request, created_at, updated_at)
    VALUES ('tsk_relay', 'relay', 'running', '{}', 0, 0);
