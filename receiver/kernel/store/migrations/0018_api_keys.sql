-- API keys made at run time: only a keyed hash of each is kept (receiver/adapters/apikeys.py),
-- its scopes as a JSON list. A revoked key keeps its row, so that the tasks it made stay
-- its own and its name can be given to a new key. `tasks.owner_key` is the key that made
-- a task (NULL: the admin token, or a release before keys). Waiting tasks take turns key
-- by key, each key up to its `weight` a round; the gate remembers the key served last.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION,
    weight INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
ALTER TABLE tasks ADD COLUMN owner_key TEXT;
CREATE INDEX tasks_owner ON tasks (owner_key, id);
ALTER TABLE submit_gate ADD COLUMN last_turn TEXT;
