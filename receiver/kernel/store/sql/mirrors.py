"""Media copies: the jobs, their leases, and the events and deliveries waiting on them."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "INSERT_MIRROR": (
        "INSERT INTO mirrors (event_id, task_id, state, sources, started_at, next_attempt_at)"
        " VALUES (?, ?, 'pending', ?, ?, ?)"
    ),
    "MIRROR_PENDING": (
        "SELECT 1 AS busy FROM mirrors WHERE task_id = ? AND state = 'pending' LIMIT 1"
    ),
    "DUE_MIRRORS": PerBackend(
        sqlite=(
            "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
            " t.kind, t.upstream_task_id, t.trace_context"
            " FROM mirrors m JOIN tasks t ON t.id = m.task_id"
            " WHERE m.state = 'pending' AND m.next_attempt_at <= ?"
            " AND (m.lease_until IS NULL OR m.lease_until < ?) ORDER BY m.next_attempt_at LIMIT ?"
        ),
        postgres=(
            "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
            " t.kind, t.upstream_task_id, t.trace_context"
            " FROM mirrors m JOIN tasks t ON t.id = m.task_id"
            " WHERE m.state = 'pending' AND m.next_attempt_at <= ?"
            " AND (m.lease_until IS NULL OR m.lease_until < ?) ORDER BY m.next_attempt_at"
            " LIMIT ? FOR UPDATE OF m SKIP LOCKED"
        ),
    ),
    "LEASE_MIRROR": "UPDATE mirrors SET lease_owner = ?, lease_until = ? WHERE event_id = ?",
    "RETRY_MIRROR": (
        "UPDATE mirrors SET attempts = attempts + 1, next_attempt_at = ?, reason = ?, sources = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
    ),
    "FINISH_MIRROR": (
        "UPDATE mirrors SET state = ?, attempts = attempts + 1, reason = ?, lease_owner = NULL,"
        " lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
    ),
    "RENEW_MIRROR_LEASE": (
        "UPDATE mirrors SET lease_until = ?"
        " WHERE event_id = ? AND lease_owner = ? AND state = 'pending'"
    ),
    "RELEASE_MIRROR_LEASES": (
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner = ?"
    ),
    "RELEASE_ALL_MIRROR_LEASES": (
        "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
        " WHERE state = 'pending' AND lease_owner IS NOT NULL"
    ),
    "OVERDUE_MIRRORS": PerBackend(
        sqlite=(
            "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
            " AND started_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
            " ORDER BY next_attempt_at LIMIT ?"
        ),
        postgres=(
            "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
            " AND started_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
            " ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED"
        ),
    ),
    "PENDING_MIRRORS": (
        "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
        " ORDER BY next_attempt_at LIMIT ?"
    ),
    "GIVE_UP_MIRROR": (
        "UPDATE mirrors SET state = 'failed', reason = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE event_id = ? AND state = 'pending'"
    ),
    "EVENT_PAYLOAD": "SELECT payload FROM events WHERE id = ?",
    "SET_EVENT_PAYLOAD": "UPDATE events SET payload = ? WHERE id = ?",
    "MIRRORING_DELIVERIES": "SELECT id FROM deliveries WHERE event_id = ? AND state = 'mirroring'",
    "RELEASE_MIRRORING": (
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?"
        " WHERE event_id = ? AND state = 'mirroring'"
    ),
}
