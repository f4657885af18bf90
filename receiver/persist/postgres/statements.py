"""PostgreSQL's text of every statement (receiver/persist/statements.py names and explains
them).

psycopg's `%s` placeholders (a literal percent sign would be `%%`; none is needed). Several
replicas share the database: a task is locked FOR UPDATE while a report about it is
recorded, and claims take due rows FOR UPDATE SKIP LOCKED, so that two replicas never take
the same row and neither waits for the other.
"""

from __future__ import annotations

from receiver.persist.statements import Statements

POSTGRES = Statements(
    PING="SELECT 1 AS ok",
    APPLIED_MIGRATIONS="SELECT version FROM schema_migrations",
    MIGRATION_CHECKSUMS="SELECT * FROM migration_checksums",
    MARK_MIGRATED="INSERT INTO schema_migrations (version) VALUES (%s)",
    KEEP_CHECKSUM="INSERT INTO migration_checksums (version, checksum) VALUES (%s, %s)",
    TASK="SELECT * FROM tasks WHERE id = %s",
    TASK_BY_KEY="SELECT * FROM tasks WHERE idempotency_key = %s",
    INSERT_TASK=(
        "INSERT INTO tasks (id, kind, state, request, idempotency_key, request_hash,"
        " submit_due_at, submit_since, created_at, updated_at, routing)"
        " VALUES (%s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (idempotency_key) DO NOTHING"
    ),
    TASK_EVENTS=(
        "SELECT id, task_id, source, state, upstream_status, applied, received_at, verdict,"
        " verdict_at FROM events WHERE task_id = %s ORDER BY received_at DESC, id DESC LIMIT %s"
    ),
    TASK_DELIVERIES=(
        "SELECT * FROM deliveries WHERE task_id = %s ORDER BY created_at DESC, id DESC LIMIT %s"
    ),
    EVENT_BODIES=(
        "SELECT id, payload, raw FROM events WHERE task_id = %s"
        " ORDER BY received_at DESC, id DESC LIMIT %s"
    ),
    # An optional filter is `(%s::typed IS NULL OR ...)`: PostgreSQL cannot tell the type
    # of a parameter only tested for NULL. Each index that narrows the rows has its variant.
    LIST_TASKS=(
        "SELECT * FROM tasks WHERE kind <> 'relay'"
        " AND created_at >= %s AND (%s::text IS NULL OR kind = %s)"
        " AND (%s::text IS NULL OR LOWER(request) LIKE %s ESCAPE '!')"
        " AND (%s::text IS NULL OR id >= %s) ORDER BY id DESC LIMIT %s"
    ),
    LIST_TASKS_BEFORE=(
        "SELECT * FROM tasks WHERE kind <> 'relay' AND id < %s"
        " AND created_at >= %s AND (%s::text IS NULL OR kind = %s)"
        " AND (%s::text IS NULL OR LOWER(request) LIKE %s ESCAPE '!')"
        " AND (%s::text IS NULL OR id >= %s) ORDER BY id DESC LIMIT %s"
    ),
    LIST_TASKS_IN_STATE=(
        "SELECT * FROM tasks WHERE kind <> 'relay' AND state = %s AND (%s::text IS NULL OR id < %s)"
        " AND created_at >= %s AND (%s::text IS NULL OR kind = %s)"
        " AND (%s::text IS NULL OR LOWER(request) LIKE %s ESCAPE '!')"
        " AND (%s::text IS NULL OR id >= %s) ORDER BY id DESC LIMIT %s"
    ),
    SEARCH_WINDOW_END=(
        "SELECT id FROM tasks WHERE kind <> 'relay' AND (%s::text IS NULL OR id < %s)"
        " ORDER BY id DESC LIMIT 1 OFFSET %s"
    ),
    # Locked: a replica recording a report on the same task waits for this one to commit.
    LOCKED_TASK="SELECT * FROM tasks WHERE id = %s FOR UPDATE",
    BIND_SUBMISSION=(
        "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, %s),"
        " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN %s ELSE NULL END,"
        " updated_at = %s WHERE id = %s"
    ),
    INSERT_EVENT=(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
        " received_at, raw, payload, verdict, verdict_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (task_id, dedupe_key) DO NOTHING"
    ),
    ADVANCE_TASK=(
        "UPDATE tasks SET state = %s, upstream_status = %s, outputs = %s, thumbnail = %s,"
        " error = %s, updated_at = %s, terminal_at = %s WHERE id = %s"
    ),
    END_TASK=(
        "UPDATE tasks SET state = %s, upstream_status = %s, outputs = %s, thumbnail = %s,"
        " error = %s, updated_at = %s, terminal_at = %s, next_poll_at = NULL WHERE id = %s"
    ),
    SET_TASK_COST="UPDATE tasks SET point = %s, refund = %s WHERE id = %s",
    BIND_UPSTREAM="UPDATE tasks SET upstream_task_id = %s WHERE id = %s",
    COUNT_CALLBACK=(
        "UPDATE tasks SET callback_count = callback_count + 1,"
        " callback_bytes = callback_bytes + %s WHERE id = %s"
    ),
    LAST_POLLED="SELECT last_polled_at FROM tasks WHERE id = %s",
    BRING_POLL_FORWARD=(
        "UPDATE tasks SET claim_since = CASE WHEN %s THEN COALESCE(claim_since, %s)"
        " ELSE claim_since END, upstream_task_id = COALESCE(upstream_task_id, %s),"
        " next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > %s THEN %s"
        " ELSE next_poll_at END WHERE id = %s"
    ),
    PENDING_CLAIMS=(
        "SELECT id, state, payload, received_at FROM events WHERE task_id = %s"
        " AND verdict = 'pending' ORDER BY received_at"
    ),
    SET_VERDICT="UPDATE events SET verdict = %s, verdict_at = %s WHERE id = %s",
    SET_PROGRESS="UPDATE tasks SET progress = %s, updated_at = %s WHERE id = %s",
    FINISH_POLL=(
        "UPDATE tasks SET next_poll_at = %s, poll_attempts = poll_attempts + 1,"
        " last_polled_at = %s, claim_since = %s, poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE id = %s AND poll_lease_owner = %s"
    ),
    INSERT_DELIVERY=(
        "INSERT INTO deliveries (id, event_id, task_id, downstream, state, next_attempt_at,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    ),
    # SKIP LOCKED: replicas claiming at once each take other rows, none waits.
    DUE_DELIVERIES=(
        "SELECT id FROM deliveries d"
        " WHERE downstream = %s AND state = 'pending' AND next_attempt_at <= %s"
        " AND (lease_until IS NULL OR lease_until < %s)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries e"
        " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
        " AND e.id < d.id) ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED"
    ),
    DUE_NEW_DELIVERIES=(
        "SELECT id, downstream FROM deliveries d"
        " WHERE id = ANY(%s) AND state = 'pending' AND next_attempt_at <= %s"
        " AND NOT EXISTS (SELECT 1 FROM deliveries e"
        " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
        " AND e.id < d.id)"
    ),
    # The ids as one array parameter: one fixed statement for any number of them.
    LEASE_DELIVERIES="UPDATE deliveries SET lease_owner = %s, lease_until = %s WHERE id = ANY(%s)",
    SET_TASK_ROUTING="UPDATE tasks SET routing = %s WHERE id = %s",
    # A receiver that answered 410 Gone for one task: its other deliveries there end.
    END_TASK_DELIVERIES=(
        "UPDATE deliveries SET state = 'dead', last_error = %s, updated_at = %s,"
        " lease_owner = NULL, lease_until = NULL WHERE task_id = %s AND downstream = %s"
        " AND state IN ('pending', 'mirroring', 'held') AND id <> %s"
    ),
    # The tasks' own webhooks, for the deliveries of that lane only.
    TASK_WEBHOOKS="SELECT id, routing FROM tasks WHERE id = ANY(%s)",
    LEASED_DELIVERIES=(
        "SELECT d.*, e.payload, c.message_id, c.media FROM deliveries d"
        " JOIN events e ON e.id = d.event_id"
        " LEFT JOIN chat_messages c ON c.task_id = d.task_id AND c.downstream = d.downstream"
        " WHERE d.id = ANY(%s) ORDER BY d.next_attempt_at"
    ),
    FINISH_DELIVERY=(
        "UPDATE deliveries SET state = %s, attempts = attempts + 1, next_attempt_at = %s,"
        " last_status = %s, last_error = %s, updated_at = %s, lease_owner = NULL,"
        " lease_until = NULL, delivered_at = CASE WHEN %s = 'succeeded' THEN %s"
        " ELSE delivered_at END WHERE id = %s AND lease_owner = %s AND state = 'pending'"
    ),
    INSERT_ATTEMPT=(
        "INSERT INTO delivery_attempts (id, delivery_id, task_id, downstream, number, started_at,"
        " finished_at, latency_ms, status, error, outcome)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ),
    INSERT_CHAT_MESSAGE=(
        "INSERT INTO chat_messages (task_id, downstream, message_id, media)"
        " SELECT task_id, downstream, %s, %s FROM deliveries WHERE id = %s"
        " ON CONFLICT (task_id, downstream) DO NOTHING"
    ),
    RELEASE_DELIVERY_LEASES=(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s"
    ),
    RELEASE_POLL_LEASES=(
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner = %s"
    ),
    RELEASE_ALL_DELIVERY_LEASES=(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
    ),
    RELEASE_ALL_POLL_LEASES=(
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner IS NOT NULL"
    ),
    DELIVERIES=(
        "SELECT * FROM deliveries WHERE (%s::text IS NULL OR downstream = %s)"
        " ORDER BY created_at DESC, id DESC LIMIT %s"
    ),
    DELIVERIES_OF_TASK=(
        "SELECT * FROM deliveries WHERE task_id = %s AND (%s::text IS NULL OR state = %s)"
        " AND (%s::text IS NULL OR downstream = %s) ORDER BY created_at DESC, id DESC LIMIT %s"
    ),
    DELIVERIES_IN_STATE=(
        "SELECT * FROM deliveries WHERE state = %s ORDER BY created_at DESC, id DESC LIMIT %s"
    ),
    DELIVERIES_IN_STATE_TO=(
        "SELECT * FROM deliveries WHERE state = %s AND downstream = %s"
        " ORDER BY created_at DESC, id DESC LIMIT %s"
    ),
    REPLAY=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = %s, lease_owner = NULL,"
        " lease_until = NULL, updated_at = %s WHERE id = %s"
    ),
    DEAD_LETTERS=(
        "SELECT id FROM deliveries WHERE state = 'dead' AND downstream = %s ORDER BY created_at"
    ),
    DUE_POLLS=(
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks"
        " WHERE next_poll_at IS NOT NULL AND next_poll_at <= %s AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < %s) ORDER BY next_poll_at LIMIT %s"
        " FOR UPDATE SKIP LOCKED"
    ),
    DUE_POLL=(
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks WHERE id = %s"
        " AND next_poll_at <= %s AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < %s)"
    ),
    LEASE_POLL="UPDATE tasks SET poll_lease_owner = %s, poll_lease_until = %s WHERE id = %s",
    ORPHANED_SUBMISSIONS=(
        "SELECT id FROM tasks WHERE submit_owner IS NOT NULL AND submit_started_at < %s"
        " AND upstream_task_id IS NULL AND state IN ('queued', 'running')"
        " ORDER BY submit_started_at LIMIT %s"
    ),
    TASKS_BY_STATE="SELECT state, COUNT(*) AS n FROM tasks WHERE kind <> 'relay' GROUP BY state",
    DELIVERIES_BY_STATE="SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state",
    CREDITS="SELECT SUM(point) AS charged, SUM(refund) AS refunded FROM tasks",
    TASK_ATTEMPTS=(
        "SELECT * FROM delivery_attempts WHERE task_id = %s"
        " ORDER BY finished_at DESC, id DESC LIMIT %s"
    ),
    CHANGED_TASKS=(
        "SELECT * FROM tasks WHERE updated_at > %s AND kind <> 'relay' ORDER BY updated_at LIMIT %s"
    ),
    CHANGED_TASK=(
        "SELECT * FROM tasks WHERE updated_at > %s AND id = %s ORDER BY updated_at LIMIT %s"
    ),
    ENDED_ATTEMPTS=(
        "SELECT * FROM delivery_attempts WHERE finished_at > %s ORDER BY finished_at LIMIT %s"
    ),
    ENDED_ATTEMPTS_OF_TASK=(
        "SELECT * FROM delivery_attempts WHERE finished_at > %s AND task_id = %s"
        " ORDER BY finished_at LIMIT %s"
    ),
    # FLOOR: the start of the hour (CAST to an integer would round to the nearest).
    TASKS_ENDED_BY_HOUR=(
        "SELECT FLOOR(terminal_at / 3600) * 3600 AS hour, state, COUNT(*) AS n FROM tasks"
        " WHERE terminal_at >= %s AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    LATENCY_BY_HOUR=(
        "SELECT FLOOR(finished_at / 3600) * 3600 AS hour, downstream,"
        " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= %s"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    REGISTER_DOWNSTREAM="INSERT INTO downstreams (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
    DISABLED_DOWNSTREAMS="SELECT name FROM downstreams WHERE disabled_at IS NOT NULL",
    DOWNSTREAMS="SELECT * FROM downstreams",
    DELIVERIES_BY_DOWNSTREAM=(
        "SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state"
    ),
    DOWNSTREAM_OK="UPDATE downstreams SET failing_since = NULL WHERE name = %s",
    DOWNSTREAM_FAILING=(
        "UPDATE downstreams SET failing_since = COALESCE(failing_since, %s) WHERE name = %s"
    ),
    DOWNSTREAM_FAILURE="SELECT failing_since, disabled_at FROM downstreams WHERE name = %s",
    DISABLE_DOWNSTREAM=(
        "UPDATE downstreams SET disabled_at = %s, disabled_reason = %s WHERE name = %s"
        " AND disabled_at IS NULL"
    ),
    HOLD_DELIVERIES=(
        "UPDATE deliveries SET state = 'held', lease_owner = NULL, lease_until = NULL,"
        " updated_at = %s WHERE downstream = %s AND state = 'pending'"
    ),
    INSERT_NOTICE=(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
        " payload) VALUES (%s, %s, 'relay', %s, %s, 1, %s, '', %s)"
    ),
    ENABLE_DOWNSTREAM=(
        "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
        " WHERE name = %s"
    ),
    REQUEUE_RECOVERED=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = %s, lease_owner = NULL,"
        " lease_until = NULL, updated_at = %s WHERE downstream = %s"
        " AND ((state = 'held' AND created_at >= %s) OR (state = 'dead' AND updated_at >= %s))"
    ),
    DEAD_LETTER_HELD=(
        "UPDATE deliveries SET state = 'dead', updated_at = %s,"
        " last_error = 'held while the downstream was disabled; not recovered'"
        " WHERE downstream = %s AND state = 'held'"
    ),
    MANAGED_VERSIONS="SELECT name, changed_at FROM downstreams WHERE spec IS NOT NULL",
    MANAGED_DOWNSTREAMS="SELECT * FROM downstreams WHERE spec IS NOT NULL ORDER BY name",
    MANAGED_DOWNSTREAM="SELECT * FROM downstreams WHERE name = %s AND spec IS NOT NULL",
    CREATE_MANAGED=(
        "UPDATE downstreams SET spec = %s, sealed_secret = %s, sealed_previous = NULL,"
        " previous_until = NULL, created_at = %s, changed_at = %s WHERE name = %s"
    ),
    CHANGE_MANAGED=(
        "UPDATE downstreams SET spec = %s, changed_at = %s WHERE name = %s AND spec IS NOT NULL"
    ),
    ROTATE_MANAGED=(
        "UPDATE downstreams SET sealed_secret = %s, sealed_previous = %s, previous_until = %s,"
        " changed_at = %s WHERE name = %s AND spec IS NOT NULL"
    ),
    RESEAL_MANAGED=(
        "UPDATE downstreams SET sealed_secret = %s, sealed_previous = %s WHERE name = %s"
    ),
    REMOVE_MANAGED="DELETE FROM downstreams WHERE name = %s AND spec IS NOT NULL",
    END_DOWNSTREAM_DELIVERIES=(
        "UPDATE deliveries SET state = 'dead', last_error = %s, updated_at = %s,"
        " lease_owner = NULL, lease_until = NULL WHERE downstream = %s"
        " AND state IN ('pending', 'mirroring', 'held')"
    ),
    NOTE_BREAKER="UPDATE downstreams SET breaker = %s, breaker_changed_at = %s WHERE name = %s",
    INSERT_MIRROR=(
        "INSERT INTO mirrors (event_id, task_id, state, sources, started_at, next_attempt_at)"
        " VALUES (%s, %s, 'pending', %s, %s, %s)"
    ),
    MIRROR_PENDING="SELECT 1 AS busy FROM mirrors WHERE task_id = %s AND state = 'pending' LIMIT 1",
    DUE_MIRRORS=(
        "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
        " t.kind, t.upstream_task_id FROM mirrors m JOIN tasks t ON t.id = m.task_id"
        " WHERE m.state = 'pending' AND m.next_attempt_at <= %s"
        " AND (m.lease_until IS NULL OR m.lease_until < %s) ORDER BY m.next_attempt_at"
        " LIMIT %s FOR UPDATE OF m SKIP LOCKED"
    ),
    LEASE_MIRROR="UPDATE mirrors SET lease_owner = %s, lease_until = %s WHERE event_id = %s",
    RETRY_MIRROR=(
        "UPDATE mirrors SET attempts = attempts + 1, next_attempt_at = %s, reason = %s,"
        " sources = %s, lease_owner = NULL, lease_until = NULL"
        " WHERE event_id = %s AND lease_owner = %s"
    ),
    FINISH_MIRROR=(
        "UPDATE mirrors SET state = %s, attempts = attempts + 1, reason = %s, lease_owner = NULL,"
        " lease_until = NULL WHERE event_id = %s AND lease_owner = %s"
    ),
    EVENT_PAYLOAD="SELECT payload FROM events WHERE id = %s",
    SET_EVENT_PAYLOAD="UPDATE events SET payload = %s WHERE id = %s",
    MIRRORING_DELIVERIES="SELECT id FROM deliveries WHERE event_id = %s AND state = 'mirroring'",
    RELEASE_MIRRORING=(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = %s, updated_at = %s"
        " WHERE event_id = %s AND state = 'mirroring'"
    ),
    # console sessions
    REVOKE_SESSION=(
        "INSERT INTO console_revocations (session_id, expires_at) VALUES (%s, %s)"
        " ON CONFLICT (session_id) DO NOTHING"
    ),
    SESSION_REVOKED="SELECT 1 AS revoked FROM console_revocations WHERE session_id = %s",
    PURGE_REVOCATIONS="DELETE FROM console_revocations WHERE expires_at < %s",
    # --- media copies: leases and the jobs given up
    RELEASE_MIRROR_LEASES=(
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner = %s"
    ),
    RELEASE_ALL_MIRROR_LEASES=(
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner IS NOT NULL"
    ),
    RENEW_MIRROR_LEASE=(
        "UPDATE mirrors SET lease_until = %s"
        " WHERE event_id = %s AND lease_owner = %s AND state = 'pending'"
    ),
    OVERDUE_MIRRORS=(
        "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
        " AND started_at <= %s AND (lease_until IS NULL OR lease_until < %s)"
        " ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED"
    ),
    PENDING_MIRRORS=(
        "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
        " ORDER BY next_attempt_at LIMIT %s"
    ),
    GIVE_UP_MIRROR=(
        "UPDATE mirrors SET state = 'failed', reason = %s, lease_owner = NULL, lease_until = NULL"
        " WHERE event_id = %s AND state = 'pending'"
    ),
    # --- the submit queue
    # Locked: a replica claiming at the same time waits here, then counts what this one sent.
    SUBMIT_GATE="SELECT paused_until, reason FROM submit_gate WHERE id = 1 FOR UPDATE",
    PAUSE_SUBMITS=(
        "UPDATE submit_gate SET paused_until = %s, reason = %s WHERE id = 1 AND paused_until < %s"
    ),
    RUNNING_UPSTREAM=(
        "SELECT COUNT(*) AS n FROM tasks WHERE state IN ('queued', 'running')"
        " AND (upstream_task_id IS NOT NULL OR submit_owner IS NOT NULL)"
    ),
    WAITING_SUBMITS="SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL",
    DUE_SUBMITS=(
        "SELECT id, kind, request, state, upstream_task_id, submit_count, submit_since, resubmits"
        " FROM tasks WHERE submit_due_at IS NOT NULL AND submit_due_at <= %s"
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
    ),
    START_SUBMIT=(
        "UPDATE tasks SET submit_owner = %s, submit_started_at = %s, submit_due_at = NULL,"
        " submit_count = submit_count + 1 WHERE id = %s"
    ),
    LEAVE_QUEUE="UPDATE tasks SET submit_due_at = NULL WHERE id = %s",
    END_SUBMIT=(
        "UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL, submit_due_at = %s,"
        " updated_at = %s WHERE id = %s AND submit_owner = %s"
    ),
    ABANDON_SUBMIT=("UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL WHERE id = %s"),
    INSERT_SUBMIT_ATTEMPT=(
        "INSERT INTO submit_attempts (id, task_id, number, started_at, finished_at, status,"
        " error, outcome, retry_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ),
    SUBMIT_ATTEMPTS=(
        "SELECT * FROM submit_attempts WHERE task_id = %s"
        " ORDER BY finished_at DESC, id DESC LIMIT %s"
    ),
    # Counted down the queue's index to the task: cheaper than numbering the whole queue.
    QUEUE_POSITION=("SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL AND id <= %s"),
    REQUEUE_FAILED=(
        "UPDATE tasks SET upstream_task_id = NULL, upstream_status = NULL, progress = NULL,"
        " next_poll_at = NULL, claim_since = NULL, replaced_upstream_ids = %s,"
        " submit_due_at = %s, submit_since = %s, resubmits = resubmits + 1, updated_at = %s"
        " WHERE id = %s"
    ),
    # --- retention: pruning ended tasks, the store's size
    # Each candidate is locked, and one being recorded just now is skipped: no event can
    # land on a task while it is being deleted.
    PRUNE_CANDIDATES=(
        "SELECT t.id, t.state, t.terminal_at,"
        " (SELECT COUNT(*) FROM deliveries d WHERE d.task_id = t.id"
        " AND d.state IN ('pending', 'held', 'mirroring')) AS unfinished,"
        " (SELECT MAX(d.updated_at) FROM deliveries d WHERE d.task_id = t.id"
        " AND d.state = 'dead') AS last_dead_at"
        " FROM tasks t WHERE t.terminal_at IS NOT NULL"
        " AND t.terminal_at < %s AND (t.terminal_at, t.id) > (%s, %s)"
        " ORDER BY t.terminal_at, t.id LIMIT %s FOR UPDATE OF t SKIP LOCKED"
    ),
    PRUNE_COUNTS=(
        "SELECT (SELECT COUNT(*) FROM delivery_attempts WHERE task_id = ANY(%s)) AS attempts,"
        " (SELECT COUNT(*) FROM chat_messages WHERE task_id = ANY(%s)) AS chat_messages,"
        " (SELECT COUNT(*) FROM mirrors WHERE task_id = ANY(%s)) AS mirrors,"
        " (SELECT COUNT(*) FROM deliveries WHERE task_id = ANY(%s)) AS deliveries,"
        " (SELECT COUNT(*) FROM events WHERE task_id = ANY(%s)) AS events"
    ),
    PRUNE_ATTEMPTS="DELETE FROM delivery_attempts WHERE task_id = ANY(%s)",
    PRUNE_SUBMIT_ATTEMPTS="DELETE FROM submit_attempts WHERE task_id = ANY(%s)",
    PRUNE_CHAT_MESSAGES="DELETE FROM chat_messages WHERE task_id = ANY(%s)",
    PRUNE_MIRRORS="DELETE FROM mirrors WHERE task_id = ANY(%s)",
    PRUNE_DELIVERIES="DELETE FROM deliveries WHERE task_id = ANY(%s)",
    PRUNE_EVENTS="DELETE FROM events WHERE task_id = ANY(%s)",
    PRUNE_TASKS="DELETE FROM tasks WHERE id = ANY(%s)",
    TAKE_MAINTENANCE_LEASE=(
        "UPDATE maintenance_leases SET owner = %s, until = %s"
        " WHERE name = %s AND (owner IS NULL OR owner = %s OR until < %s)"
    ),
    RELEASE_MAINTENANCE_LEASE=(
        "UPDATE maintenance_leases SET owner = NULL, until = 0 WHERE name = %s AND owner = %s"
    ),
    # The relay's tables in its schema, with their indexes and TOAST; PostgreSQL keeps no
    # free-page count to report (autovacuum marks dead rows' space for reuse in place).
    STORE_SIZE=(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT AS bytes,"
        " 0 AS free_bytes FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    ),
)
