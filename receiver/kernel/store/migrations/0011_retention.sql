-- Retention (receiver/domain/retention.py): the prune walks ended tasks oldest first, and
-- deletes a task's media records by task; one replica at a time holds the prune's lease.
-- On SQLite the store then converts the file to incremental vacuum once (SqliteStore.migrate:
-- VACUUM cannot run inside this migration's transaction).
CREATE INDEX tasks_ended ON tasks (terminal_at, id) WHERE terminal_at IS NOT NULL;
CREATE INDEX mirrors_task ON mirrors (task_id);
CREATE TABLE maintenance_leases (
    name TEXT PRIMARY KEY,
    owner TEXT,
    until DOUBLE PRECISION NOT NULL DEFAULT 0
);
INSERT INTO maintenance_leases (name) VALUES ('prune');
