"""Downstreams: their health (downstreams.py), and those made through the API (managed.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import Texts

TEXTS: Texts = {
    "REGISTER_DOWNSTREAM": (
        "INSERT INTO downstreams (name) VALUES (?) ON CONFLICT (name) DO NOTHING"
    ),
    "DISABLED_DOWNSTREAMS": "SELECT name FROM downstreams WHERE disabled_at IS NOT NULL",
    "DOWNSTREAMS": "SELECT * FROM downstreams",
    "DELIVERIES_BY_DOWNSTREAM": (
        "SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state"
    ),
    "DOWNSTREAM_OK": "UPDATE downstreams SET failing_since = NULL WHERE name = ?",
    "DOWNSTREAM_FAILING": (
        "UPDATE downstreams SET failing_since = COALESCE(failing_since, ?) WHERE name = ?"
    ),
    "DOWNSTREAM_FAILURE": "SELECT failing_since, disabled_at FROM downstreams WHERE name = ?",
    "DISABLE_DOWNSTREAM": (
        "UPDATE downstreams SET disabled_at = ?, disabled_reason = ? WHERE name = ?"
        " AND disabled_at IS NULL"
    ),
    "HOLD_DELIVERIES": (
        "UPDATE deliveries SET state = 'held', lease_owner = NULL, lease_until = NULL,"
        " updated_at = ? WHERE downstream = ? AND state = 'pending'"
    ),
    "ENABLE_DOWNSTREAM": (
        "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
        " WHERE name = ?"
    ),
    "REQUEUE_RECOVERED": (
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE downstream = ?"
        " AND ((state = 'held' AND created_at >= ?) OR (state = 'dead' AND updated_at >= ?))"
    ),
    "DEAD_LETTER_HELD": (
        "UPDATE deliveries SET state = 'dead', updated_at = ?,"
        " last_error = 'held while the downstream was disabled; not recovered'"
        " WHERE downstream = ? AND state = 'held'"
    ),
    "HOLD_UNOPENED": (
        "UPDATE deliveries SET state = 'held', last_error = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE downstream = ANY(?) AND state = 'pending'"
    ),
    "RELEASE_UNOPENED": (
        "UPDATE deliveries SET state = 'pending', last_error = NULL, next_attempt_at = ?,"
        " updated_at = ? WHERE downstream = ANY(?) AND state = 'held' AND last_error = ?"
        " AND downstream NOT IN (SELECT name FROM downstreams WHERE disabled_at IS NOT NULL)"
    ),
    "NOTE_BREAKER": "UPDATE downstreams SET breaker = ?, breaker_changed_at = ? WHERE name = ?",
    # The counter's row stays locked until the change commits (PostgreSQL's row lock,
    # SQLite's one writer): numbers are seen in the order they were taken.
    "NEXT_DOWNSTREAM_CHANGE": "UPDATE downstream_changes SET seq = seq + 1 WHERE id = 1",
    "LAST_DOWNSTREAM_CHANGE": "SELECT seq FROM downstream_changes WHERE id = 1",
    "MARK_MANAGED_CHANGE": "UPDATE downstreams SET change_seq = ? WHERE name = ?",
    "NOTE_MANAGED_REMOVAL": "INSERT INTO downstream_removals (change_seq, name) VALUES (?, ?)",
    "MANAGED_CHANGED_SINCE": (
        "SELECT * FROM downstreams WHERE spec IS NOT NULL AND change_seq > ? ORDER BY change_seq"
    ),
    "MANAGED_REMOVED_SINCE": (
        "SELECT change_seq, name FROM downstream_removals WHERE change_seq > ? ORDER BY change_seq"
    ),
    "MANAGED_DOWNSTREAMS": "SELECT * FROM downstreams WHERE spec IS NOT NULL ORDER BY name",
    "MANAGED_DOWNSTREAM": "SELECT * FROM downstreams WHERE name = ? AND spec IS NOT NULL",
    "CREATE_MANAGED": (
        "UPDATE downstreams SET spec = ?, sealed_secret = ?, sealed_previous = NULL,"
        " previous_until = NULL, created_at = ?, changed_at = ? WHERE name = ?"
    ),
    "CHANGE_MANAGED": (
        "UPDATE downstreams SET spec = ?, changed_at = ? WHERE name = ? AND spec IS NOT NULL"
    ),
    "ROTATE_MANAGED": (
        "UPDATE downstreams SET sealed_secret = ?, sealed_previous = ?, previous_until = ?,"
        " changed_at = ? WHERE name = ? AND spec IS NOT NULL"
    ),
    "RESEAL_MANAGED": (
        "UPDATE downstreams SET sealed_secret = ?, sealed_previous = ? WHERE name = ?"
    ),
    "REMOVE_MANAGED": "DELETE FROM downstreams WHERE name = ? AND spec IS NOT NULL",
    "END_DOWNSTREAM_DELIVERIES": (
        "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE downstream = ?"
        " AND state IN ('pending', 'mirroring', 'held')"
    ),
}
