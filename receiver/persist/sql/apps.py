"""Apps: made, found by name, listed, changed and deleted (apps.py)."""

from __future__ import annotations

from receiver.persist.sql.text import Texts

_APP_COLUMNS = (
    "SELECT a.id, a.name, a.weight, a.max_queued, a.max_per_day, a.created_at,"
    " a.portal_frame_ancestors,"
    " (SELECT COUNT(*) FROM api_keys k WHERE k.app_id = a.id AND k.revoked_at IS NULL) AS keys"
    " FROM apps a"
)

TEXTS: Texts = {
    "INSERT_APP": (
        "INSERT INTO apps (id, name, weight, max_queued, max_per_day, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    ),
    "APP_NAMED": _APP_COLUMNS + " WHERE a.name = ? AND a.deleted_at IS NULL",
    "LIVE_APPS": _APP_COLUMNS + " WHERE a.deleted_at IS NULL ORDER BY a.name",
    "APP_NAMES": "SELECT id, name FROM apps WHERE id = ANY(?)",
    "CHANGE_APP": (
        "UPDATE apps SET weight = ?, max_queued = ?, max_per_day = ?"
        " WHERE id = ? AND deleted_at IS NULL"
    ),
    "DELETE_APP": "UPDATE apps SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
    "REVOKE_APP_KEYS": "UPDATE api_keys SET revoked_at = ? WHERE app_id = ? AND revoked_at IS NULL",
    "SET_PORTAL_FRAMING": (
        "UPDATE apps SET portal_frame_ancestors = ? WHERE id = ? AND deleted_at IS NULL"
    ),
    # The app a portal session or link rests on: live, with its framing and the oldest of its
    # live keys made at or before the session began (NULL: none, so the session has ended).
    "PORTAL_APP": (
        "SELECT a.id, a.name, a.portal_frame_ancestors, (SELECT k.id FROM api_keys k"
        " WHERE k.app_id = a.id AND k.revoked_at IS NULL AND k.created_at <= ?"
        " ORDER BY k.created_at, k.id LIMIT 1) AS key_id"
        " FROM apps a WHERE a.id = ? AND a.deleted_at IS NULL"
    ),
    "LIVE_KEY_NAMED": (
        "SELECT k.id, k.app_id, a.name AS app FROM api_keys k JOIN apps a ON a.id = k.app_id"
        " WHERE k.name = ? AND k.revoked_at IS NULL AND (CAST(? AS TEXT) IS NULL OR k.app_id = ?)"
    ),
}
