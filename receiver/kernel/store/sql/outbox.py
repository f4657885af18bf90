"""The outbox: deliveries, their leases, and the chat messages they made (outbox.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

TEXTS: Texts = {
    # A loose scan of the pending index: each downstream with pending rows is found by one
    # index seek, so a fan-out with many downstreams and few due asks only those that are.
    "DUE_DOWNSTREAMS": (
        "WITH RECURSIVE pending (name) AS ("
        " SELECT MIN(downstream) FROM deliveries WHERE state = 'pending'"
        " UNION ALL SELECT (SELECT MIN(downstream) FROM deliveries"
        " WHERE state = 'pending' AND downstream > pending.name)"
        " FROM pending WHERE pending.name IS NOT NULL)"
        " SELECT name FROM pending WHERE name IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries"
        " WHERE downstream = pending.name AND state = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?))"
    ),
    "INSERT_DELIVERY": (
        "INSERT INTO deliveries (id, event_id, task_id, downstream, state, last_error,"
        " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "DUE_DELIVERIES": PerBackend(
        # Both indexes named: left to itself, the planner checks a row's earlier deliveries
        # through (state, downstream), reading every pending row of the downstream for each one.
        sqlite=(
            "SELECT id FROM deliveries d INDEXED BY deliveries_due_by_downstream"
            " WHERE downstream = ? AND state = 'pending' AND next_attempt_at <= ?"
            " AND (lease_until IS NULL OR lease_until < ?)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e INDEXED BY deliveries_task"
            " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
            " AND e.id < d.id) ORDER BY next_attempt_at LIMIT ?"
        ),
        # SKIP LOCKED: replicas claiming at once each take other rows, none waits.
        postgres=(
            "SELECT id FROM deliveries d"
            " WHERE downstream = ? AND state = 'pending' AND next_attempt_at <= ?"
            " AND (lease_until IS NULL OR lease_until < ?)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e"
            " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
            " AND e.id < d.id) ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED"
        ),
    ),
    "DUE_NEW_DELIVERIES": PerBackend(
        sqlite=(
            "SELECT id, downstream FROM deliveries d"
            " WHERE id = ANY(?) AND state = 'pending' AND next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e INDEXED BY deliveries_task"
            " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
            " AND e.id < d.id)"
        ),
        postgres=(
            "SELECT id, downstream FROM deliveries d"
            " WHERE id = ANY(?) AND state = 'pending' AND next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e"
            " WHERE e.task_id = d.task_id AND e.downstream = d.downstream AND e.state = 'pending'"
            " AND e.id < d.id)"
        ),
    ),
    # The ids as one list parameter: one fixed statement for any number of them.
    "LEASE_DELIVERIES": (
        "UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id = ANY(?)"
    ),
    "LEASED_DELIVERIES": (
        "SELECT d.*, e.payload, c.message_id, c.media, t.trace_context FROM deliveries d"
        " JOIN events e ON e.id = d.event_id LEFT JOIN tasks t ON t.id = d.task_id"
        " LEFT JOIN chat_messages c ON c.task_id = d.task_id AND c.downstream = d.downstream"
        " WHERE d.id = ANY(?) ORDER BY d.next_attempt_at"
    ),
    "FINISH_DELIVERY": (
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
        " last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL,"
        " delivered_at = CASE WHEN ? = 'succeeded' THEN ? ELSE delivered_at END"
        " WHERE id = ? AND lease_owner = ? AND state = 'pending'"
    ),
    "INSERT_CHAT_MESSAGE": (
        "INSERT INTO chat_messages (task_id, downstream, message_id, media)"
        " SELECT task_id, downstream, ?, ? FROM deliveries WHERE id = ?"
        " ON CONFLICT (task_id, downstream) DO NOTHING"
    ),
    "SET_TASK_ROUTING": "UPDATE tasks SET routing = ? WHERE id = ?",
    # The tasks' own webhooks, for the deliveries of that lane only.
    "TASK_WEBHOOKS": "SELECT id, routing FROM tasks WHERE id = ANY(?)",
    # A receiver that answered 410 Gone for one task: its other deliveries there end.
    "END_TASK_DELIVERIES": (
        "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE task_id = ? AND downstream = ?"
        " AND state IN ('pending', 'mirroring', 'held') AND id <> ?"
    ),
    "RELEASE_DELIVERY_LEASES": (
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?"
    ),
    "RELEASE_ALL_DELIVERY_LEASES": (
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
    ),
    "DELIVERIES": (
        "SELECT * FROM deliveries WHERE (CAST(? AS TEXT) IS NULL OR downstream = ?)"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    "DELIVERIES_OF_TASK": (
        "SELECT * FROM deliveries WHERE task_id = ? AND (CAST(? AS TEXT) IS NULL OR state = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR downstream = ?) ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    # An app's: to its own downstreams (kept under its id's prefix) and its tasks' own
    # webhooks (the 'task-webhook' lane); each other filter optional.
    "APP_DELIVERIES": (
        "SELECT * FROM deliveries WHERE (SUBSTR(downstream, 1, ?) = ?"
        " OR (downstream = 'task-webhook' AND task_id IN"
        " (SELECT id FROM tasks WHERE owner_key = ?)))"
        " AND (CAST(? AS TEXT) IS NULL OR state = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR downstream = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR task_id = ?) AND (CAST(? AS TEXT) IS NULL OR id = ?)"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    "DELIVERIES_IN_STATE": (
        "SELECT * FROM deliveries WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    "DELIVERIES_IN_STATE_TO": (
        "SELECT * FROM deliveries WHERE state = ? AND downstream = ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    "REPLAY": (
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE id = ?"
    ),
    "DEAD_LETTERS": (
        "SELECT id FROM deliveries WHERE state = 'dead' AND downstream = ? ORDER BY created_at"
    ),
    "DELIVERIES_BY_STATE": "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state",
    # Progress events (source 'progress'): a task's deliveries of them not yet sent, a
    # newer event put in place of an older one on rows not yet sent, and the rows a
    # terminal event ends so that it never waits behind them.
    "WAITING_PROGRESS": (
        "SELECT d.id, d.downstream, d.state, d.attempts, d.lease_until FROM deliveries d"
        " JOIN events e ON e.id = d.event_id WHERE d.task_id = ?"
        " AND d.state IN ('pending', 'held') AND e.source = 'progress'"
    ),
    "REPOINT_DELIVERIES": "UPDATE deliveries SET event_id = ?, updated_at = ? WHERE id = ANY(?)",
    "SUPERSEDE_PROGRESS": (
        "UPDATE deliveries SET state = 'superseded', lease_owner = NULL, lease_until = NULL,"
        " updated_at = ? WHERE task_id = ? AND state IN ('pending', 'held', 'mirroring')"
        " AND event_id IN (SELECT id FROM events WHERE task_id = ? AND source = 'progress')"
    ),
}
