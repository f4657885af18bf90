"""SQLite's text of every statement (receiver/persist/statements.py names and explains them).

`?` placeholders. One process writes at a time (BEGIN IMMEDIATE holds the only write lock),
so no row is locked and none skipped. Without ANALYZE statistics the planner may read
through the wrong index, so the statements that must not leave it no choice: the delivery
claim names its indexes, and the lists come in one variant per index they read through.
"""

from __future__ import annotations

from receiver.persist.statements import Statements

SQLITE = Statements(
    PING="SELECT 1 AS ok",
    APPLIED_MIGRATIONS="SELECT version FROM schema_migrations",
    MIGRATION_CHECKSUMS="SELECT * FROM migration_checksums",
    MARK_MIGRATED="INSERT INTO schema_migrations (version) VALUES (?)",
    KEEP_CHECKSUM="INSERT INTO migration_checksums (version, checksum) VALUES (?, ?)",
    TASK="SELECT * FROM tasks WHERE id = ?",
    TASK_BY_KEY="SELECT * FROM tasks WHERE idempotency_key = ?",
    INSERT_TASK=(
        "INSERT INTO tasks (id, kind, state, request, idempotency_key, request_hash,"
        " submit_due_at, submit_since, created_at, updated_at, routing)"
        " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING"
    ),
    TASK_EVENTS=(
        "SELECT id, task_id, source, state, upstream_status, applied, received_at, verdict,"
        " verdict_at FROM events WHERE task_id = ? ORDER BY received_at DESC, id DESC LIMIT ?"
    ),
    TASK_DELIVERIES=(
        "SELECT * FROM deliveries WHERE task_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    EVENT_BODIES=(
        "SELECT id, payload, raw FROM events WHERE task_id = ?"
        " ORDER BY received_at DESC, id DESC LIMIT ?"
    ),
    # An optional filter is `(? IS NULL OR ...)`: no index is read for it, so each index
    # that narrows the rows has its variant.
    LIST_TASKS=(
        "SELECT * FROM tasks WHERE kind <> 'relay'"
        " AND created_at >= ? AND (? IS NULL OR kind = ?)"
        " AND (? IS NULL OR LOWER(request) LIKE ? ESCAPE '!') AND (? IS NULL OR id >= ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    LIST_TASKS_BEFORE=(
        "SELECT * FROM tasks WHERE kind <> 'relay' AND id < ?"
        " AND created_at >= ? AND (? IS NULL OR kind = ?)"
        " AND (? IS NULL OR LOWER(request) LIKE ? ESCAPE '!') AND (? IS NULL OR id >= ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    LIST_TASKS_IN_STATE=(
        "SELECT * FROM tasks WHERE kind <> 'relay' AND state = ?"
        " AND (? IS NULL OR id < ?) AND created_at >= ? AND (? IS NULL OR kind = ?)"
        " AND (? IS NULL OR LOWER(request) LIKE ? ESCAPE '!') AND (? IS NULL OR id >= ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    SEARCH_WINDOW_END=(
        "SELECT id FROM tasks WHERE kind <> 'relay' AND (? IS NULL OR id < ?)"
        " ORDER BY id DESC LIMIT 1 OFFSET ?"
    ),
    # BEGIN IMMEDIATE already holds the only write lock: a plain read.
    LOCKED_TASK="SELECT * FROM tasks WHERE id = ?",
    BIND_SUBMISSION=(
        "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ? ELSE NULL END,"
        " updated_at = ? WHERE id = ?"
    ),
    INSERT_EVENT=(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
        " received_at, raw, payload, verdict, verdict_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, dedupe_key) DO NOTHING"
    ),
    ADVANCE_TASK=(
        "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
        " updated_at = ?, terminal_at = ? WHERE id = ?"
    ),
    END_TASK=(
        "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
        " updated_at = ?, terminal_at = ?, next_poll_at = NULL WHERE id = ?"
    ),
    SET_TASK_COST="UPDATE tasks SET point = ?, refund = ? WHERE id = ?",
    BIND_UPSTREAM="UPDATE tasks SET upstream_task_id = ? WHERE id = ?",
    COUNT_CALLBACK=(
        "UPDATE tasks SET callback_count = callback_count + 1,"
        " callback_bytes = callback_bytes + ? WHERE id = ?"
    ),
    LAST_POLLED="SELECT last_polled_at FROM tasks WHERE id = ?",
    BRING_POLL_FORWARD=(
        "UPDATE tasks SET claim_since = CASE WHEN ? THEN COALESCE(claim_since, ?)"
        " ELSE claim_since END, upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > ? THEN ?"
        " ELSE next_poll_at END WHERE id = ?"
    ),
    PENDING_CLAIMS=(
        "SELECT id, state, payload, received_at FROM events WHERE task_id = ?"
        " AND verdict = 'pending' ORDER BY received_at"
    ),
    SET_VERDICT="UPDATE events SET verdict = ?, verdict_at = ? WHERE id = ?",
    SET_PROGRESS="UPDATE tasks SET progress = ?, updated_at = ? WHERE id = ?",
    FINISH_POLL=(
        "UPDATE tasks SET next_poll_at = ?, poll_attempts = poll_attempts + 1, last_polled_at = ?,"
        " claim_since = ?, poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE id = ? AND poll_lease_owner = ?"
    ),
    INSERT_DELIVERY=(
        "INSERT INTO deliveries (id, event_id, task_id, downstream, state, next_attempt_at,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    # Both indexes named: left to itself, the planner checks a row's earlier deliveries
    # through (state, downstream), reading every pending row of the downstream for each one.
    DUE_DELIVERIES=(
        "SELECT id FROM deliveries d INDEXED BY deliveries_due_by_downstream"
        " WHERE downstream = ? AND state = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries e INDEXED BY deliveries_task"
        " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
        " AND e.id < d.id) ORDER BY next_attempt_at LIMIT ?"
    ),
    DUE_NEW_DELIVERIES=(
        "SELECT id, downstream FROM deliveries d WHERE id IN (SELECT value FROM json_each(?))"
        " AND state = 'pending' AND next_attempt_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM deliveries e INDEXED BY deliveries_task"
        " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
        " AND e.id < d.id)"
    ),
    # The ids as one JSON array: one fixed statement for any number of them.
    LEASE_DELIVERIES=(
        "UPDATE deliveries SET lease_owner = ?, lease_until = ?"
        " WHERE id IN (SELECT value FROM json_each(?))"
    ),
    SET_TASK_ROUTING="UPDATE tasks SET routing = ? WHERE id = ?",
    # A receiver that answered 410 Gone for one task: its other deliveries there end.
    END_TASK_DELIVERIES=(
        "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE task_id = ? AND downstream = ?"
        " AND state IN ('pending', 'mirroring', 'held') AND id <> ?"
    ),
    # The tasks' own webhooks, for the deliveries of that lane only.
    TASK_WEBHOOKS="SELECT id, routing FROM tasks WHERE id IN (SELECT value FROM json_each(?))",
    LEASED_DELIVERIES=(
        "SELECT d.*, e.payload, c.message_id, c.media FROM deliveries d"
        " JOIN events e ON e.id = d.event_id"
        " LEFT JOIN chat_messages c ON c.task_id = d.task_id AND c.downstream = d.downstream"
        " WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.next_attempt_at"
    ),
    FINISH_DELIVERY=(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
        " last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL,"
        " delivered_at = CASE WHEN ? = 'succeeded' THEN ? ELSE delivered_at END"
        " WHERE id = ? AND lease_owner = ? AND state = 'pending'"
    ),
    INSERT_ATTEMPT=(
        "INSERT INTO delivery_attempts (id, delivery_id, task_id, downstream, number, started_at,"
        " finished_at, latency_ms, status, error, outcome)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    INSERT_CHAT_MESSAGE=(
        "INSERT INTO chat_messages (task_id, downstream, message_id, media)"
        " SELECT task_id, downstream, ?, ? FROM deliveries WHERE id = ?"
        " ON CONFLICT (task_id, downstream) DO NOTHING"
    ),
    RELEASE_DELIVERY_LEASES=(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?"
    ),
    RELEASE_POLL_LEASES=(
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner = ?"
    ),
    RELEASE_ALL_DELIVERY_LEASES=(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
    ),
    RELEASE_ALL_POLL_LEASES=(
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner IS NOT NULL"
    ),
    DELIVERIES=(
        "SELECT * FROM deliveries WHERE (? IS NULL OR downstream = ?)"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    DELIVERIES_OF_TASK=(
        "SELECT * FROM deliveries WHERE task_id = ? AND (? IS NULL OR state = ?)"
        " AND (? IS NULL OR downstream = ?) ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    DELIVERIES_IN_STATE=(
        "SELECT * FROM deliveries WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    DELIVERIES_IN_STATE_TO=(
        "SELECT * FROM deliveries WHERE state = ? AND downstream = ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    REPLAY=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE id = ?"
    ),
    DEAD_LETTERS=(
        "SELECT id FROM deliveries WHERE state = 'dead' AND downstream = ? ORDER BY created_at"
    ),
    DUE_POLLS=(
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks"
        " WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < ?) ORDER BY next_poll_at LIMIT ?"
    ),
    DUE_POLL=(
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks WHERE id = ?"
        " AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
    ),
    LEASE_POLL="UPDATE tasks SET poll_lease_owner = ?, poll_lease_until = ? WHERE id = ?",
    ORPHANED_SUBMISSIONS=(
        "SELECT id FROM tasks WHERE submit_owner IS NOT NULL AND submit_started_at < ?"
        " AND upstream_task_id IS NULL AND state IN ('queued', 'running')"
        " ORDER BY submit_started_at LIMIT ?"
    ),
    TASKS_BY_STATE="SELECT state, COUNT(*) AS n FROM tasks WHERE kind <> 'relay' GROUP BY state",
    DELIVERIES_BY_STATE="SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state",
    CREDITS="SELECT SUM(point) AS charged, SUM(refund) AS refunded FROM tasks",
    TASK_ATTEMPTS=(
        "SELECT * FROM delivery_attempts WHERE task_id = ?"
        " ORDER BY finished_at DESC, id DESC LIMIT ?"
    ),
    CHANGED_TASKS=(
        "SELECT * FROM tasks WHERE updated_at > ? AND kind <> 'relay' ORDER BY updated_at LIMIT ?"
    ),
    CHANGED_TASK="SELECT * FROM tasks WHERE updated_at > ? AND id = ? ORDER BY updated_at LIMIT ?",
    ENDED_ATTEMPTS=(
        "SELECT * FROM delivery_attempts WHERE finished_at > ? ORDER BY finished_at LIMIT ?"
    ),
    ENDED_ATTEMPTS_OF_TASK=(
        "SELECT * FROM delivery_attempts WHERE finished_at > ? AND task_id = ?"
        " ORDER BY finished_at LIMIT ?"
    ),
    # CAST truncates (times are positive): the start of the hour.
    TASKS_ENDED_BY_HOUR=(
        "SELECT CAST(terminal_at / 3600 AS INTEGER) * 3600 AS hour, state, COUNT(*) AS n"
        " FROM tasks WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    LATENCY_BY_HOUR=(
        "SELECT CAST(finished_at / 3600 AS INTEGER) * 3600 AS hour, downstream,"
        " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ?"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    REGISTER_DOWNSTREAM="INSERT INTO downstreams (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
    DISABLED_DOWNSTREAMS="SELECT name FROM downstreams WHERE disabled_at IS NOT NULL",
    DOWNSTREAMS="SELECT * FROM downstreams",
    DELIVERIES_BY_DOWNSTREAM=(
        "SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state"
    ),
    DOWNSTREAM_OK="UPDATE downstreams SET failing_since = NULL WHERE name = ?",
    DOWNSTREAM_FAILING=(
        "UPDATE downstreams SET failing_since = COALESCE(failing_since, ?) WHERE name = ?"
    ),
    DOWNSTREAM_FAILURE="SELECT failing_since, disabled_at FROM downstreams WHERE name = ?",
    DISABLE_DOWNSTREAM=(
        "UPDATE downstreams SET disabled_at = ?, disabled_reason = ? WHERE name = ?"
        " AND disabled_at IS NULL"
    ),
    HOLD_DELIVERIES=(
        "UPDATE deliveries SET state = 'held', lease_owner = NULL, lease_until = NULL,"
        " updated_at = ? WHERE downstream = ? AND state = 'pending'"
    ),
    INSERT_NOTICE=(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
        " payload) VALUES (?, ?, 'relay', ?, ?, 1, ?, '', ?)"
    ),
    ENABLE_DOWNSTREAM=(
        "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
        " WHERE name = ?"
    ),
    REQUEUE_RECOVERED=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE downstream = ?"
        " AND ((state = 'held' AND created_at >= ?) OR (state = 'dead' AND updated_at >= ?))"
    ),
    DEAD_LETTER_HELD=(
        "UPDATE deliveries SET state = 'dead', updated_at = ?,"
        " last_error = 'held while the downstream was disabled; not recovered'"
        " WHERE downstream = ? AND state = 'held'"
    ),
    MANAGED_VERSIONS="SELECT name, changed_at FROM downstreams WHERE spec IS NOT NULL",
    MANAGED_DOWNSTREAMS="SELECT * FROM downstreams WHERE spec IS NOT NULL ORDER BY name",
    MANAGED_DOWNSTREAM="SELECT * FROM downstreams WHERE name = ? AND spec IS NOT NULL",
    CREATE_MANAGED=(
        "UPDATE downstreams SET spec = ?, sealed_secret = ?, sealed_previous = NULL,"
        " previous_until = NULL, created_at = ?, changed_at = ? WHERE name = ?"
    ),
    CHANGE_MANAGED=(
        "UPDATE downstreams SET spec = ?, changed_at = ? WHERE name = ? AND spec IS NOT NULL"
    ),
    ROTATE_MANAGED=(
        "UPDATE downstreams SET sealed_secret = ?, sealed_previous = ?, previous_until = ?,"
        " changed_at = ? WHERE name = ? AND spec IS NOT NULL"
    ),
    RESEAL_MANAGED=("UPDATE downstreams SET sealed_secret = ?, sealed_previous = ? WHERE name = ?"),
    REMOVE_MANAGED="DELETE FROM downstreams WHERE name = ? AND spec IS NOT NULL",
    END_DOWNSTREAM_DELIVERIES=(
        "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE downstream = ?"
        " AND state IN ('pending', 'mirroring', 'held')"
    ),
    NOTE_BREAKER="UPDATE downstreams SET breaker = ?, breaker_changed_at = ? WHERE name = ?",
    INSERT_MIRROR=(
        "INSERT INTO mirrors (event_id, task_id, state, sources, started_at, next_attempt_at)"
        " VALUES (?, ?, 'pending', ?, ?, ?)"
    ),
    MIRROR_PENDING="SELECT 1 AS busy FROM mirrors WHERE task_id = ? AND state = 'pending' LIMIT 1",
    DUE_MIRRORS=(
        "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
        " t.kind, t.upstream_task_id FROM mirrors m JOIN tasks t ON t.id = m.task_id"
        " WHERE m.state = 'pending' AND m.next_attempt_at <= ?"
        " AND (m.lease_until IS NULL OR m.lease_until < ?) ORDER BY m.next_attempt_at LIMIT ?"
    ),
    LEASE_MIRROR="UPDATE mirrors SET lease_owner = ?, lease_until = ? WHERE event_id = ?",
    RETRY_MIRROR=(
        "UPDATE mirrors SET attempts = attempts + 1, next_attempt_at = ?, reason = ?, sources = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
    ),
    FINISH_MIRROR=(
        "UPDATE mirrors SET state = ?, attempts = attempts + 1, reason = ?, lease_owner = NULL,"
        " lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
    ),
    EVENT_PAYLOAD="SELECT payload FROM events WHERE id = ?",
    SET_EVENT_PAYLOAD="UPDATE events SET payload = ? WHERE id = ?",
    MIRRORING_DELIVERIES="SELECT id FROM deliveries WHERE event_id = ? AND state = 'mirroring'",
    RELEASE_MIRRORING=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?"
        " WHERE event_id = ? AND state = 'mirroring'"
    ),
    # console sessions
    REVOKE_SESSION=(
        "INSERT INTO console_revocations (session_id, expires_at) VALUES (?, ?)"
        " ON CONFLICT (session_id) DO NOTHING"
    ),
    SESSION_REVOKED="SELECT 1 AS revoked FROM console_revocations WHERE session_id = ?",
    PURGE_REVOCATIONS="DELETE FROM console_revocations WHERE expires_at < ?",
    # --- media copies: leases and the jobs given up
    RELEASE_MIRROR_LEASES=(
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner = ?"
    ),
    RELEASE_ALL_MIRROR_LEASES=(
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner IS NOT NULL"
    ),
    RENEW_MIRROR_LEASE=(
        "UPDATE mirrors SET lease_until = ?"
        " WHERE event_id = ? AND lease_owner = ? AND state = 'pending'"
    ),
    OVERDUE_MIRRORS=(
        "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
        " AND started_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
        " ORDER BY next_attempt_at LIMIT ?"
    ),
    PENDING_MIRRORS=(
        "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
        " ORDER BY next_attempt_at LIMIT ?"
    ),
    GIVE_UP_MIRROR=(
        "UPDATE mirrors SET state = 'failed', reason = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE event_id = ? AND state = 'pending'"
    ),
    # --- the submit queue
    # BEGIN IMMEDIATE already holds the only write lock: a plain read.
    SUBMIT_GATE="SELECT paused_until, reason FROM submit_gate WHERE id = 1",
    PAUSE_SUBMITS=(
        "UPDATE submit_gate SET paused_until = ?, reason = ? WHERE id = 1 AND paused_until < ?"
    ),
    RUNNING_UPSTREAM=(
        "SELECT COUNT(*) AS n FROM tasks WHERE state IN ('queued', 'running')"
        " AND (upstream_task_id IS NOT NULL OR submit_owner IS NOT NULL)"
    ),
    WAITING_SUBMITS="SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL",
    DUE_SUBMITS=(
        "SELECT id, kind, request, state, upstream_task_id, submit_count, submit_since, resubmits"
        " FROM tasks WHERE submit_due_at IS NOT NULL AND submit_due_at <= ?"
        " ORDER BY id LIMIT ?"
    ),
    START_SUBMIT=(
        "UPDATE tasks SET submit_owner = ?, submit_started_at = ?, submit_due_at = NULL,"
        " submit_count = submit_count + 1 WHERE id = ?"
    ),
    LEAVE_QUEUE="UPDATE tasks SET submit_due_at = NULL WHERE id = ?",
    END_SUBMIT=(
        "UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL, submit_due_at = ?,"
        " updated_at = ? WHERE id = ? AND submit_owner = ?"
    ),
    ABANDON_SUBMIT=("UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL WHERE id = ?"),
    INSERT_SUBMIT_ATTEMPT=(
        "INSERT INTO submit_attempts (id, task_id, number, started_at, finished_at, status,"
        " error, outcome, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    SUBMIT_ATTEMPTS=(
        "SELECT * FROM submit_attempts WHERE task_id = ? ORDER BY finished_at DESC, id DESC LIMIT ?"
    ),
    # Counted down the queue's index to the task: cheaper than numbering the whole queue.
    QUEUE_POSITION=("SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL AND id <= ?"),
    REQUEUE_FAILED=(
        "UPDATE tasks SET upstream_task_id = NULL, upstream_status = NULL, progress = NULL,"
        " next_poll_at = NULL, claim_since = NULL, replaced_upstream_ids = ?,"
        " submit_due_at = ?, submit_since = ?, resubmits = resubmits + 1, updated_at = ?"
        " WHERE id = ?"
    ),
    # --- retention: pruning ended tasks, the store's size
    PRUNE_CANDIDATES=(
        "SELECT t.id, t.state, t.terminal_at,"
        " (SELECT COUNT(*) FROM deliveries d WHERE d.task_id = t.id"
        " AND d.state IN ('pending', 'held', 'mirroring')) AS unfinished,"
        " (SELECT MAX(d.updated_at) FROM deliveries d WHERE d.task_id = t.id"
        " AND d.state = 'dead') AS last_dead_at"
        " FROM tasks t INDEXED BY tasks_ended WHERE t.terminal_at IS NOT NULL"
        " AND t.terminal_at < ? AND (t.terminal_at, t.id) > (?, ?)"
        " ORDER BY t.terminal_at, t.id LIMIT ?"
    ),
    PRUNE_COUNTS=(
        "SELECT (SELECT COUNT(*) FROM delivery_attempts"
        " WHERE task_id IN (SELECT value FROM json_each(?))) AS attempts,"
        " (SELECT COUNT(*) FROM chat_messages"
        " WHERE task_id IN (SELECT value FROM json_each(?))) AS chat_messages,"
        " (SELECT COUNT(*) FROM mirrors"
        " WHERE task_id IN (SELECT value FROM json_each(?))) AS mirrors,"
        " (SELECT COUNT(*) FROM deliveries"
        " WHERE task_id IN (SELECT value FROM json_each(?))) AS deliveries,"
        " (SELECT COUNT(*) FROM events WHERE task_id IN (SELECT value FROM json_each(?))) AS events"
    ),
    PRUNE_ATTEMPTS=(
        "DELETE FROM delivery_attempts WHERE task_id IN (SELECT value FROM json_each(?))"
    ),
    PRUNE_SUBMIT_ATTEMPTS=(
        "DELETE FROM submit_attempts WHERE task_id IN (SELECT value FROM json_each(?))"
    ),
    PRUNE_CHAT_MESSAGES=(
        "DELETE FROM chat_messages WHERE task_id IN (SELECT value FROM json_each(?))"
    ),
    PRUNE_MIRRORS="DELETE FROM mirrors WHERE task_id IN (SELECT value FROM json_each(?))",
    PRUNE_DELIVERIES="DELETE FROM deliveries WHERE task_id IN (SELECT value FROM json_each(?))",
    PRUNE_EVENTS="DELETE FROM events WHERE task_id IN (SELECT value FROM json_each(?))",
    PRUNE_TASKS="DELETE FROM tasks WHERE id IN (SELECT value FROM json_each(?))",
    TAKE_MAINTENANCE_LEASE=(
        "UPDATE maintenance_leases SET owner = ?, until = ?"
        " WHERE name = ? AND (owner IS NULL OR owner = ? OR until < ?)"
    ),
    RELEASE_MAINTENANCE_LEASE=(
        "UPDATE maintenance_leases SET owner = NULL, until = 0 WHERE name = ? AND owner = ?"
    ),
    # The main file only: the WAL is emptied by the checkpoints.
    STORE_SIZE=(
        "SELECT c.page_count * s.page_size AS bytes, f.freelist_count * s.page_size AS free_bytes"
        " FROM pragma_page_count() c, pragma_freelist_count() f, pragma_page_size() s"
    ),
)
