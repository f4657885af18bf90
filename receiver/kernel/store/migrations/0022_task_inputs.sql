-- A task's large inputs (the `data:` URIs of its request), each kept once, written once and
-- never rewritten: the task row, rewritten at every change, keeps only a small reference
-- (receiver/domain/inputs.py). Each is cut in parts of a few megabytes, written and read one
-- statement a part, so that no driver or database buffer has to hold a whole one. Read back
-- only to send the task to CometAPI; pruned with its task.
CREATE TABLE task_inputs (
    task_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    part INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (task_id, sha256, part)
);
