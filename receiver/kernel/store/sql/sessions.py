"""Console sessions revoked before their cookies expire (sessions.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import Texts

TEXTS: Texts = {
    "REVOKE_SESSION": (
        "INSERT INTO console_revocations (session_id, expires_at) VALUES (?, ?)"
        " ON CONFLICT (session_id) DO NOTHING"
    ),
    "SESSION_REVOKED": "SELECT 1 AS revoked FROM console_revocations WHERE session_id = ?",
    "PURGE_REVOCATIONS": "DELETE FROM console_revocations WHERE expires_at < ?",
}
