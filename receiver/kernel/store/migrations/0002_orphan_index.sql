-- Each poller tick looks for tasks whose submit was cut off; with no index of its own that
-- read every queued task. The partial index holds only tasks still waiting for CometAPI's
-- answer. Two indexes no query used, each written on every insert, go: a task's events are
-- found through the UNIQUE (task_id, dedupe_key) index, and tasks list by id.
CREATE INDEX tasks_orphans ON tasks (state, upstream_task_id, created_at)
    WHERE upstream_task_id IS NULL;
DROP INDEX IF EXISTS events_task;
DROP INDEX IF EXISTS tasks_created;
