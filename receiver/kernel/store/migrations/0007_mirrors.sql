-- Mirroring a finished render: one row per succeeded event whose files are being copied.
-- Its deliveries wait as `mirroring` until the copy is done or has failed for good.
CREATE TABLE mirrors (
    event_id TEXT PRIMARY KEY REFERENCES events (id),
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    sources TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    reason TEXT
);
CREATE INDEX mirrors_due ON mirrors (next_attempt_at) WHERE state = 'pending';
