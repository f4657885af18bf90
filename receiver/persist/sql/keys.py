"""API keys: made, looked up by their hash, listed and revoked (keys.py)."""

from __future__ import annotations

from receiver.persist.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "INSERT_KEY": (
        "INSERT INTO api_keys (id, name, digest, scopes, created_at, weight, max_queued,"
        " max_per_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
    ),
    "KEY_BY_DIGEST": (
        "SELECT id, name, digest, scopes, created_at, last_used_at, weight, max_queued,"
        " max_per_day FROM api_keys"
        " WHERE digest = ANY(?) AND revoked_at IS NULL"
    ),
    "LIVE_KEYS": (
        "SELECT id, name, digest, scopes, created_at, last_used_at, weight, max_queued,"
        " max_per_day FROM api_keys"
        " WHERE revoked_at IS NULL ORDER BY name"
    ),
    "REVOKE_KEY": "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
    "REHASH_KEY": "UPDATE api_keys SET digest = ? WHERE id = ?",
    "KEY_USED": "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
    "KEY_LIVE": "SELECT 1 AS live FROM api_keys WHERE id = ? AND revoked_at IS NULL",
    "LOCKED_KEY_LIMITS": PerBackend(
        # BEGIN IMMEDIATE already holds the only write lock: a plain read.
        sqlite="SELECT max_queued, max_per_day FROM api_keys WHERE id = ?",
        # Locked: the key's other submits, on any replica, wait here, then count this one.
        postgres="SELECT max_queued, max_per_day FROM api_keys WHERE id = ? FOR UPDATE",
    ),
    "KEY_OPEN_TASKS": "SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND terminal_at IS NULL",
    "KEY_TASKS_SINCE": "SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND created_at > ?",
    "KEY_TASK_MADE_AT": (
        "SELECT created_at FROM tasks WHERE owner_key = ? AND created_at > ?"
        " ORDER BY created_at LIMIT 1 OFFSET ?"
    ),
}
