"""Tasks: made, read, listed and counted (tasks.py, reads.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "TASK": "SELECT * FROM tasks WHERE id = ?",
    "TASK_BY_KEY": "SELECT * FROM tasks WHERE idempotency_key = ?",
    "INSERT_TASK": (
        "INSERT INTO tasks (id, kind, state, request, idempotency_key, request_hash,"
        " submit_due_at, submit_since, created_at, updated_at, routing, trace_context, owner_key)"
        " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING"
    ),
    "INSERT_TASK_INPUT": (
        "INSERT INTO task_inputs (task_id, sha256, part, body, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (task_id, sha256, part) DO NOTHING"
    ),
    "TASK_INPUTS": (
        "SELECT sha256, COUNT(*) AS parts, SUM(LENGTH(body)) AS chars FROM task_inputs"
        " WHERE task_id = ? GROUP BY sha256"
    ),
    "TASK_INPUT_WHOLES": (
        "SELECT sha256, body FROM task_inputs WHERE task_id = ? AND part = 0 AND sha256 = ANY(?)"
    ),
    "TASK_INPUT_PART": (
        "SELECT body FROM task_inputs WHERE task_id = ? AND sha256 = ? AND part = ?"
    ),
    "TASK_EVENTS": (
        "SELECT id, task_id, source, state, upstream_status, applied, received_at, verdict,"
        " verdict_at FROM events WHERE task_id = ? ORDER BY received_at DESC, id DESC LIMIT ?"
    ),
    "TASK_DELIVERIES": (
        "SELECT * FROM deliveries WHERE task_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    "SET_TASK_ASIDE": (
        "UPDATE tasks SET error = CASE WHEN state IN ('queued', 'running') THEN ? ELSE error END,"
        " state = CASE WHEN state IN ('queued', 'running') THEN 'failed' ELSE state END,"
        " terminal_at = COALESCE(terminal_at, ?), updated_at = ?, next_poll_at = NULL,"
        " poll_lease_owner = NULL, poll_lease_until = NULL, submit_due_at = NULL,"
        " submit_owner = NULL, submit_started_at = NULL WHERE id = ?"
    ),
    "EVENT_BODIES": (
        "SELECT id, payload, raw FROM events WHERE task_id = ?"
        " ORDER BY received_at DESC, id DESC LIMIT ?"
    ),
    # An optional filter is `(CAST(? AS TEXT) IS NULL OR ...)`: no index is read for it, so
    # each index that narrows the rows has its variant.
    "LIST_TASKS": (
        "SELECT * FROM tasks WHERE kind <> 'relay'"
        " AND created_at >= ? AND (CAST(? AS TEXT) IS NULL OR kind = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR LOWER(request) LIKE ? ESCAPE '!')"
        " AND (CAST(? AS TEXT) IS NULL OR id >= ?)"
        " AND (CAST(? AS TEXT) IS NULL OR owner_key = ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    "LIST_TASKS_BEFORE": (
        "SELECT * FROM tasks WHERE kind <> 'relay' AND id < ?"
        " AND created_at >= ? AND (CAST(? AS TEXT) IS NULL OR kind = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR LOWER(request) LIKE ? ESCAPE '!')"
        " AND (CAST(? AS TEXT) IS NULL OR id >= ?)"
        " AND (CAST(? AS TEXT) IS NULL OR owner_key = ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    "LIST_TASKS_IN_STATE": (
        "SELECT * FROM tasks WHERE kind <> 'relay' AND state = ?"
        " AND (CAST(? AS TEXT) IS NULL OR id < ?)"
        " AND created_at >= ? AND (CAST(? AS TEXT) IS NULL OR kind = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR LOWER(request) LIKE ? ESCAPE '!')"
        " AND (CAST(? AS TEXT) IS NULL OR id >= ?)"
        " AND (CAST(? AS TEXT) IS NULL OR owner_key = ?)"
        " ORDER BY id DESC LIMIT ?"
    ),
    "SEARCH_WINDOW_END": (
        "SELECT id FROM tasks WHERE kind <> 'relay' AND (CAST(? AS TEXT) IS NULL OR id < ?)"
        " ORDER BY id DESC LIMIT 1 OFFSET ?"
    ),
    "TASKS_BY_STATE": "SELECT state, COUNT(*) AS n FROM tasks WHERE kind <> 'relay' GROUP BY state",
    "CREDITS": "SELECT SUM(point) AS charged, SUM(refund) AS refunded FROM tasks",
    "CHANGED_TASKS": (
        "SELECT * FROM tasks WHERE updated_at > ? AND kind <> 'relay' ORDER BY updated_at LIMIT ?"
    ),
    "CHANGED_TASK": (
        "SELECT * FROM tasks WHERE updated_at > ? AND id = ? ORDER BY updated_at LIMIT ?"
    ),
    "TASKS_ENDED_BY_HOUR": PerBackend(
        # CAST truncates (times are positive): the start of the hour.
        sqlite=(
            "SELECT CAST(terminal_at / 3600 AS INTEGER) * 3600 AS hour, state, COUNT(*) AS n"
            " FROM tasks WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        # FLOOR: the start of the hour (CAST to an integer would round to the nearest).
        postgres=(
            "SELECT FLOOR(terminal_at / 3600) * 3600 AS hour, state, COUNT(*) AS n FROM tasks"
            " WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
}
