"""Events, and the task they move on: what a callback or a poll reports (observations.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "LOCKED_TASK": PerBackend(
        # BEGIN IMMEDIATE already holds the only write lock: a plain read.
        sqlite="SELECT * FROM tasks WHERE id = ?",
        # Locked: a replica recording a report on the same task waits for this one to commit.
        postgres="SELECT * FROM tasks WHERE id = ? FOR UPDATE",
    ),
    "BIND_SUBMISSION": (
        "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ? ELSE NULL END,"
        " updated_at = ? WHERE id = ?"
    ),
    "INSERT_EVENT": (
        "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
        " received_at, raw, payload, verdict, verdict_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, dedupe_key) DO NOTHING"
    ),
    "ADVANCE_TASK": (
        "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
        " updated_at = ?, terminal_at = ? WHERE id = ?"
    ),
    "END_TASK": (
        "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
        " updated_at = ?, terminal_at = ?, next_poll_at = NULL WHERE id = ?"
    ),
    "SET_TASK_COST": "UPDATE tasks SET point = ?, refund = ? WHERE id = ?",
    "BIND_UPSTREAM": "UPDATE tasks SET upstream_task_id = ? WHERE id = ?",
    "COUNT_CALLBACK": (
        "UPDATE tasks SET callback_count = callback_count + 1,"
        " callback_bytes = callback_bytes + ? WHERE id = ?"
    ),
    "PENDING_CLAIMS": (
        "SELECT id, state, payload, received_at FROM events WHERE task_id = ?"
        " AND verdict = 'pending' ORDER BY received_at"
    ),
    "SET_VERDICT": "UPDATE events SET verdict = ?, verdict_at = ? WHERE id = ?",
    "SET_PROGRESS": "UPDATE tasks SET progress = ?, updated_at = ? WHERE id = ?",
    "SET_PROGRESS_SENT": ("UPDATE tasks SET progress_sent = ?, progress_sent_at = ? WHERE id = ?"),
    "INSERT_NOTICE": (
        "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
        " payload) VALUES (?, ?, 'relay', ?, ?, 1, ?, '', ?)"
    ),
}
