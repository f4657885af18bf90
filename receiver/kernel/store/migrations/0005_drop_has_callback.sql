-- has_callback was written on every task and never read: a task's kind says whether
-- CometAPI calls back (only video2video does).
ALTER TABLE tasks DROP COLUMN has_callback;
