"""The submit queue: tasks waiting to be sent to CometAPI, their sends, and the gate."""

from __future__ import annotations

from receiver.persist.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "SUBMIT_GATE": PerBackend(
        # BEGIN IMMEDIATE already holds the only write lock: a plain read.
        sqlite="SELECT paused_until, reason FROM submit_gate WHERE id = 1",
        # Locked: a replica claiming at the same time waits here, then counts what this one sent.
        postgres="SELECT paused_until, reason FROM submit_gate WHERE id = 1 FOR UPDATE",
    ),
    "PAUSE_SUBMITS": (
        "UPDATE submit_gate SET paused_until = ?, reason = ? WHERE id = 1 AND paused_until < ?"
    ),
    "RUNNING_UPSTREAM": (
        "SELECT COUNT(*) AS n FROM tasks WHERE state IN ('queued', 'running')"
        " AND (upstream_task_id IS NOT NULL OR submit_owner IS NOT NULL)"
    ),
    "WAITING_SUBMITS": "SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL",
    # Each app's oldest waiting tasks, its line in the fair turns (receiver/domain/turns.py).
    # SQLite is told to read the queue's own index: left to itself it walks tasks_owner,
    # already in the window's order, which is every task ever stored (33 ms a claim at
    # 60,000 tasks with none waiting, against microseconds).
    "DUE_LINES": PerBackend(
        sqlite=(
            "SELECT due.id, due.owner, COALESCE(k.weight, 1) AS weight FROM ("
            "SELECT id, COALESCE(owner_key, '') AS owner,"
            " ROW_NUMBER() OVER (PARTITION BY owner_key ORDER BY id) AS place"
            " FROM tasks INDEXED BY tasks_submit_queue"
            " WHERE submit_due_at IS NOT NULL AND submit_due_at <= ?) AS due"
            " LEFT JOIN apps k ON k.id = due.owner WHERE due.place <= ? ORDER BY due.id"
        ),
        postgres=(
            "SELECT due.id, due.owner, COALESCE(k.weight, 1) AS weight FROM ("
            "SELECT id, COALESCE(owner_key, '') AS owner,"
            " ROW_NUMBER() OVER (PARTITION BY owner_key ORDER BY id) AS place"
            " FROM tasks WHERE submit_due_at IS NOT NULL AND submit_due_at <= ?) AS due"
            " LEFT JOIN apps k ON k.id = due.owner WHERE due.place <= ? ORDER BY due.id"
        ),
    ),
    "DUE_SUBMITS": PerBackend(
        sqlite=(
            "SELECT id, kind, request, state, upstream_task_id, submit_count, submit_since,"
            " resubmits, trace_context FROM tasks WHERE id = ANY(?) AND submit_due_at IS NOT NULL"
        ),
        postgres=(
            "SELECT id, kind, request, state, upstream_task_id, submit_count, submit_since,"
            " resubmits, trace_context FROM tasks WHERE id = ANY(?) AND submit_due_at IS NOT NULL"
            " FOR UPDATE SKIP LOCKED"
        ),
    ),
    "LAST_TURN": "SELECT last_turn, turn_left FROM submit_gate WHERE id = 1",
    "SET_LAST_TURN": "UPDATE submit_gate SET last_turn = ?, turn_left = ? WHERE id = 1",
    "START_SUBMIT": (
        "UPDATE tasks SET submit_owner = ?, submit_started_at = ?, submit_due_at = NULL,"
        " submit_count = submit_count + 1 WHERE id = ?"
    ),
    "LEAVE_QUEUE": "UPDATE tasks SET submit_due_at = NULL WHERE id = ?",
    "END_SUBMIT": (
        "UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL, submit_due_at = ?,"
        " updated_at = ? WHERE id = ? AND submit_owner = ?"
    ),
    "ABANDON_SUBMIT": (
        "UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL WHERE id = ?"
    ),
    "INSERT_SUBMIT_ATTEMPT": (
        "INSERT INTO submit_attempts (id, task_id, number, started_at, finished_at, status,"
        " error, outcome, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "SUBMIT_ATTEMPTS": (
        "SELECT * FROM submit_attempts WHERE task_id = ? ORDER BY finished_at DESC, id DESC LIMIT ?"
    ),
    # Counted down the queue's index to the task: cheaper than numbering the whole queue.
    "QUEUE_POSITION": (
        "SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL AND id <= ?"
    ),
    "REQUEUE_FAILED": (
        "UPDATE tasks SET upstream_task_id = NULL, upstream_status = NULL, progress = NULL,"
        " progress_sent = NULL, progress_sent_at = NULL, next_poll_at = NULL, claim_since = NULL,"
        " replaced_upstream_ids = ?,"
        " submit_due_at = ?, submit_since = ?, resubmits = resubmits + 1, updated_at = ?"
        " WHERE id = ?"
    ),
    "ORPHANED_SUBMISSIONS": (
        "SELECT id FROM tasks WHERE submit_owner IS NOT NULL AND submit_started_at < ?"
        " AND upstream_task_id IS NULL AND state IN ('queued', 'running')"
        " ORDER BY submit_started_at LIMIT ?"
    ),
}
