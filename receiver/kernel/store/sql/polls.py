"""The polls kept on each task: when the next is due, who holds it, what it found."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

# Due polls nearest their task's end first: a callback's claim (its task says it has ended)
# at the claim's time, a task whose end is estimated at that end, and one with no estimate a
# ceiling past when it fell due; never later than that, so that nothing waits for ever.
_DUE_POLLS = (
    "SELECT id, kind, upstream_task_id, created_at, poll_attempts, trace_context FROM tasks"
    " WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
    " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
    " ORDER BY CASE WHEN claim_since IS NOT NULL THEN claim_since"
    " WHEN expected_end_at IS NULL OR expected_end_at > next_poll_at + CAST(? AS DOUBLE PRECISION)"
    " THEN next_poll_at + CAST(? AS DOUBLE PRECISION)"
    " WHEN expected_end_at > next_poll_at THEN expected_end_at ELSE next_poll_at END,"
    " next_poll_at LIMIT ?"
)

TEXTS: Texts = {
    "LAST_POLLED": "SELECT last_polled_at FROM tasks WHERE id = ?",
    "BRING_POLL_FORWARD": (
        "UPDATE tasks SET claim_since = CASE WHEN ? THEN COALESCE(claim_since, ?)"
        " ELSE claim_since END, upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > ? THEN ?"
        " ELSE next_poll_at END WHERE id = ?"
    ),
    "FINISH_POLL": (
        "UPDATE tasks SET next_poll_at = ?, poll_attempts = poll_attempts + 1, last_polled_at = ?,"
        " claim_since = ?, poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE id = ? AND poll_lease_owner = ?"
    ),
    "SET_POLL_TIMING": "UPDATE tasks SET started_at = ?, expected_end_at = ? WHERE id = ?",
    "RECENT_DURATIONS": (
        "SELECT seconds FROM task_durations WHERE timing_key = ? ORDER BY ended_at DESC LIMIT ?"
    ),
    "KEEP_DURATION": "INSERT INTO task_durations (timing_key, seconds, ended_at) VALUES (?, ?, ?)",
    "TRIM_DURATIONS": (
        "DELETE FROM task_durations WHERE timing_key = ? AND ended_at < (SELECT ended_at"
        " FROM task_durations WHERE timing_key = ? ORDER BY ended_at DESC LIMIT 1 OFFSET ?)"
    ),
    "DUE_POLLS": PerBackend(sqlite=_DUE_POLLS, postgres=f"{_DUE_POLLS} FOR UPDATE SKIP LOCKED"),
    "DUE_POLL": (
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts, trace_context"
        " FROM tasks WHERE id = ? AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
    ),
    "POLL_BUDGET": PerBackend(
        sqlite="SELECT tokens, refilled_at FROM poll_budget WHERE id = 1",
        postgres="SELECT tokens, refilled_at FROM poll_budget WHERE id = 1 FOR UPDATE",
    ),
    "POLLS_HELD_UNTIL": "SELECT refilled_at FROM poll_budget WHERE id = 1",
    "SET_POLL_BUDGET": "UPDATE poll_budget SET tokens = ?, refilled_at = ? WHERE id = 1",
    "LEASE_POLL": "UPDATE tasks SET poll_lease_owner = ?, poll_lease_until = ? WHERE id = ?",
    "RELEASE_POLL_LEASES": (
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner = ?"
    ),
    "RELEASE_ALL_POLL_LEASES": (
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner IS NOT NULL"
    ),
}
