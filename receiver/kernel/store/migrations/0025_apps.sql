-- Apps own what their keys make: tasks, the submit queue's turns and its limits (and the
-- downstreams made with an app's key). A key is one of an app's credentials, so a key rotated
-- (a new one made, the old revoked) loses nothing. Each key of a release before apps becomes
-- an app of the same name whose id is the key's own id: `tasks.owner_key` and
-- `submit_gate.last_turn` already hold that id and now name the app. A deleted app keeps its
-- row, so that its tasks stay its own and its name can be given to a new app.
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 1,
    max_queued INTEGER,
    max_per_day INTEGER,
    created_at DOUBLE PRECISION NOT NULL,
    deleted_at DOUBLE PRECISION
);
INSERT INTO apps (id, name, weight, max_queued, max_per_day, created_at, deleted_at)
    SELECT id, name, weight, max_queued, max_per_day, created_at, revoked_at FROM api_keys;
CREATE UNIQUE INDEX apps_live_name ON apps (name) WHERE deleted_at IS NULL;
ALTER TABLE api_keys ADD COLUMN app_id TEXT;
UPDATE api_keys SET app_id = id;
CREATE INDEX api_keys_app ON api_keys (app_id) WHERE revoked_at IS NULL;
