-- Operator alerts (receiver/alerts): per downstream, when each kind of alert about it was
-- last sent and which problem told of is still open (not yet followed by a recovery), so
-- that one replica alone sends each alert and a restart repeats none.
CREATE TABLE alert_marks (
    downstream TEXT PRIMARY KEY,
    open_kind TEXT,
    failing_at DOUBLE PRECISION,
    disabled_at DOUBLE PRECISION
);
-- The downstream of its own (the name it gave it) an app's endpoints' alerts go to.
ALTER TABLE apps ADD COLUMN alert_downstream TEXT;
