"""Retention: ended tasks pruned, the maintenance lease, the store's size (retention.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "PRUNE_CANDIDATES": PerBackend(
        sqlite=(
            "SELECT t.id, t.state, t.terminal_at,"
            " (SELECT COUNT(*) FROM deliveries d WHERE d.task_id = t.id"
            " AND d.state IN ('pending', 'held', 'mirroring')) AS unfinished,"
            " (SELECT MAX(d.updated_at) FROM deliveries d WHERE d.task_id = t.id"
            " AND d.state = 'dead') AS last_dead_at"
            " FROM tasks t INDEXED BY tasks_ended WHERE t.terminal_at IS NOT NULL"
            " AND t.terminal_at < ? AND (t.terminal_at, t.id) > (?, ?)"
            " ORDER BY t.terminal_at, t.id LIMIT ?"
        ),
        # Each candidate is locked, and one being recorded just now is skipped: no event can
        # land on a task while it is being deleted.
        postgres=(
            "SELECT t.id, t.state, t.terminal_at,"
            " (SELECT COUNT(*) FROM deliveries d WHERE d.task_id = t.id"
            " AND d.state IN ('pending', 'held', 'mirroring')) AS unfinished,"
            " (SELECT MAX(d.updated_at) FROM deliveries d WHERE d.task_id = t.id"
            " AND d.state = 'dead') AS last_dead_at"
            " FROM tasks t WHERE t.terminal_at IS NOT NULL"
            " AND t.terminal_at < ? AND (t.terminal_at, t.id) > (?, ?)"
            " ORDER BY t.terminal_at, t.id LIMIT ? FOR UPDATE OF t SKIP LOCKED"
        ),
    ),
    "PRUNE_COUNTS": (
        "SELECT (SELECT COUNT(*) FROM delivery_attempts WHERE task_id = ANY(?)) AS attempts,"
        " (SELECT COUNT(*) FROM chat_messages WHERE task_id = ANY(?)) AS chat_messages,"
        " (SELECT COUNT(*) FROM mirrors WHERE task_id = ANY(?)) AS mirrors,"
        " (SELECT COUNT(*) FROM deliveries WHERE task_id = ANY(?)) AS deliveries,"
        " (SELECT COUNT(*) FROM events WHERE task_id = ANY(?)) AS events"
    ),
    "PRUNE_ATTEMPTS": ("DELETE FROM delivery_attempts WHERE task_id = ANY(?)"),
    "PRUNE_SUBMIT_ATTEMPTS": ("DELETE FROM submit_attempts WHERE task_id = ANY(?)"),
    "PRUNE_TASK_INPUTS": "DELETE FROM task_inputs WHERE task_id = ANY(?)",
    "PRUNE_CHAT_MESSAGES": ("DELETE FROM chat_messages WHERE task_id = ANY(?)"),
    "PRUNE_MIRRORS": "DELETE FROM mirrors WHERE task_id = ANY(?)",
    "PRUNE_DELIVERIES": "DELETE FROM deliveries WHERE task_id = ANY(?)",
    "PRUNE_EVENTS": "DELETE FROM events WHERE task_id = ANY(?)",
    "PRUNE_TASKS": "DELETE FROM tasks WHERE id = ANY(?)",
    "TAKE_MAINTENANCE_LEASE": (
        "UPDATE maintenance_leases SET owner = ?, until = ?"
        " WHERE name = ? AND (owner IS NULL OR owner = ? OR until < ?)"
    ),
    "RELEASE_MAINTENANCE_LEASE": (
        "UPDATE maintenance_leases SET owner = NULL, until = 0 WHERE name = ? AND owner = ?"
    ),
    "STORE_SIZE": PerBackend(
        # The main file only: the WAL is emptied by the checkpoints.
        sqlite=(
            "SELECT c.page_count * s.page_size AS bytes,"
            " f.freelist_count * s.page_size AS free_bytes"
            " FROM pragma_page_count() c, pragma_freelist_count() f, pragma_page_size() s"
        ),
        # The relay's tables in its schema, with their indexes and TOAST; PostgreSQL keeps no
        # free-page count to report (autovacuum marks dead rows' space for reuse in place).
        postgres=(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT AS bytes,"
            " 0 AS free_bytes FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        ),
    ),
}
