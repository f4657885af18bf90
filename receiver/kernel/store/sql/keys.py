"""API keys: made, looked up by their hash, listed and revoked (keys.py); what a key
authenticates as is its app's (its limits and weight are the app's)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import PerBackend, Texts

_KEY_COLUMNS = (
    "SELECT k.id, k.name, k.digest, k.scopes, k.created_at, k.last_used_at, a.weight,"
    " a.max_queued, a.max_per_day, k.app_id, a.name AS app"
    " FROM api_keys k JOIN apps a ON a.id = k.app_id"
)

TEXTS: Texts = {
    "INSERT_KEY": (
        "INSERT INTO api_keys (id, name, digest, scopes, created_at, weight, max_queued,"
        " max_per_day, app_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
    ),
    "KEY_BY_DIGEST": (
        _KEY_COLUMNS + " WHERE k.digest = ANY(?) AND k.revoked_at IS NULL AND a.deleted_at IS NULL"
    ),
    "LIVE_KEYS": (
        _KEY_COLUMNS + " WHERE k.revoked_at IS NULL AND a.deleted_at IS NULL"
        " AND (CAST(? AS TEXT) IS NULL OR k.app_id = ?) ORDER BY k.name"
    ),
    "REVOKE_KEY": ("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    "REHASH_KEY": "UPDATE api_keys SET digest = ? WHERE id = ?",
    "KEY_USED": "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
    "KEY_LIVE": "SELECT 1 AS live FROM api_keys WHERE id = ? AND revoked_at IS NULL",
    "LOCKED_KEY_LIMITS": PerBackend(
        # BEGIN IMMEDIATE already holds the only write lock: a plain read.
        sqlite="SELECT max_queued, max_per_day FROM apps WHERE id = ?",
        # Locked: the app's other submits, on any replica, wait here, then count this one.
        postgres="SELECT max_queued, max_per_day FROM apps WHERE id = ? FOR UPDATE",
    ),
    "KEY_OPEN_TASKS": "SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND terminal_at IS NULL",
    "KEY_TASKS_SINCE": "SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND created_at > ?",
    "KEY_TASK_MADE_AT": (
        "SELECT created_at FROM tasks WHERE owner_key = ? AND created_at > ?"
        " ORDER BY created_at LIMIT 1 OFFSET ?"
    ),
}
