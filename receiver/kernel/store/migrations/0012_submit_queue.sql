-- The submit queue: a task waits in the store until CometAPI has room for it, and a submit
-- worker on any replica sends it.
-- submit_due_at: waiting, to be sent from then on (NULL: not waiting);
-- submit_since: when it joined the queue (its give-up clock starts there);
-- submit_owner / submit_started_at: the process sending it now, since when (a send in
-- flight is never taken over: nobody can tell whether CometAPI took it);
-- submit_count: sends so far; resubmits: new upstream tasks made after a retryable failure;
-- replaced_upstream_ids: the upstream tasks those replaced (a JSON list), whose late
-- reports must not bind the task again; request_hash: the body an Idempotency-Key came with.
ALTER TABLE tasks ADD COLUMN submit_due_at DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN submit_since DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN submit_owner TEXT;
ALTER TABLE tasks ADD COLUMN submit_started_at DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN submit_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN resubmits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN replaced_upstream_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN request_hash TEXT;
-- Only waiting tasks, in submission order (ids are time-ordered).
CREATE INDEX tasks_submit_queue ON tasks (id, submit_due_at) WHERE submit_due_at IS NOT NULL;
-- Only unfinished tasks: what the concurrency cap counts, read from the index alone, and
-- the sends cut off by a crash.
CREATE INDEX tasks_unfinished ON tasks (state, upstream_task_id, submit_owner)
    WHERE state IN ('queued', 'running');
-- Replaced by tasks_unfinished: a task without an upstream id may now be waiting, not lost.
DROP INDEX IF EXISTS tasks_orphans;
-- A submit cut off by the upgrade's restart looks as one cut off by a crash does.
UPDATE tasks SET submit_owner = 'before-0012', submit_started_at = created_at
    WHERE state = 'queued' AND upstream_task_id IS NULL AND kind <> 'relay';
-- Every send to CometAPI, kept as the task's submit history.
CREATE TABLE submit_attempts (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    status INTEGER,
    error TEXT,
    outcome TEXT NOT NULL,
    retry_at DOUBLE PRECISION
);
CREATE INDEX submit_attempts_task ON submit_attempts (task_id, finished_at);
-- One row: until when CometAPI asked every sender to wait (a 429, a Retry-After), and the
-- row every claim locks, so that replicas count the cap one at a time.
CREATE TABLE submit_gate (
    id INTEGER PRIMARY KEY,
    paused_until DOUBLE PRECISION NOT NULL,
    reason TEXT
);
INSERT INTO submit_gate (id, paused_until) VALUES (1, 0);
