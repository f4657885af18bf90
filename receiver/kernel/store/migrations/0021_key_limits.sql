-- An API key's optional limits on what it submits (receiver/domain/key_limits.py): its
-- open tasks at once, and the tasks it makes in any 24 hours; NULL: no limit. The two
-- indexes count a key's open tasks and its day's tasks under its lock at each submit.
ALTER TABLE api_keys ADD COLUMN max_queued INTEGER;
ALTER TABLE api_keys ADD COLUMN max_per_day INTEGER;
CREATE INDEX tasks_owner_open ON tasks (owner_key) WHERE terminal_at IS NULL;
CREATE INDEX tasks_owner_created ON tasks (owner_key, created_at);
