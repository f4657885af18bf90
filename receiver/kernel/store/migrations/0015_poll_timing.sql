-- When the relay first saw a task running and the end its polls aim at (from CometAPI's
-- progress or the history below), and how long finished tasks of each kind, model and
-- requested duration took, submit to end: where the polls of the next one are dense.
ALTER TABLE tasks ADD COLUMN started_at DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN expected_end_at DOUBLE PRECISION;
CREATE TABLE task_durations (
    timing_key TEXT NOT NULL,
    seconds DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX task_durations_key ON task_durations (timing_key, ended_at);
