-- Every delivery attempt, kept for the console's timeline, its latency chart and the live
-- stream; and how far along upstream says a running task is (0 to 1).
CREATE TABLE delivery_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    downstream TEXT NOT NULL,
    number INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    status INTEGER,
    error TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX delivery_attempts_task ON delivery_attempts (task_id, finished_at);
CREATE INDEX delivery_attempts_finished ON delivery_attempts (finished_at);

ALTER TABLE tasks ADD COLUMN progress DOUBLE PRECISION;
CREATE INDEX tasks_updated ON tasks (updated_at);
