-- The first schema. Times are epoch seconds (DOUBLE PRECISION); JSON documents are TEXT,
-- so one schema serves SQLite and PostgreSQL.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    upstream_task_id TEXT,
    upstream_status TEXT,
    request TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT '[]',
    thumbnail TEXT,
    error TEXT,
    has_callback INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    terminal_at DOUBLE PRECISION,
    next_poll_at DOUBLE PRECISION,
    poll_attempts INTEGER NOT NULL DEFAULT 0,
    poll_lease_owner TEXT,
    poll_lease_until DOUBLE PRECISION
);
CREATE INDEX tasks_state_created ON tasks (state, created_at);
CREATE INDEX tasks_created ON tasks (created_at);
CREATE INDEX tasks_upstream ON tasks (upstream_task_id);
CREATE INDEX tasks_poll_due ON tasks (next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    state TEXT,
    upstream_status TEXT,
    applied INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    raw TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (task_id, dedupe_key)
);
CREATE INDEX events_task ON events (task_id, received_at);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    task_id TEXT NOT NULL,
    downstream TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    last_status INTEGER,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    delivered_at DOUBLE PRECISION,
    UNIQUE (event_id, downstream)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_task ON deliveries (task_id);
CREATE INDEX deliveries_state_downstream ON deliveries (state, downstream, created_at);
