-- A bound on each task's stored callback history: how many callback bodies it holds and
-- their bytes, kept beside the task so the check costs no scan.
ALTER TABLE tasks ADD COLUMN callback_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN callback_bytes INTEGER NOT NULL DEFAULT 0;
