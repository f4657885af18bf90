"""Console sessions ended by logging out, shared by every replica through the store.

A session lives in its signed cookie; only its end before time is stored. A revocation is
kept until the cookie's own expiry, and each new one purges those past theirs, so the table
holds at most the logouts of one session lifetime.
"""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql

PURGE_REVOCATIONS = Sql("DELETE FROM console_revocations WHERE expires_at < ?")
REVOKE_SESSION = Sql(
    "INSERT INTO console_revocations (session_id, expires_at) VALUES (?, ?)"
    " ON CONFLICT (session_id) DO NOTHING"
)


async def end(store: Store, session_id: str, expires_at: float) -> None:
    """A console logout: the session ends on every replica."""

    def write(db: Db) -> None:
        now = time.time()
        db.execute(PURGE_REVOCATIONS, (now,))
        if expires_at > now:
            db.execute(REVOKE_SESSION, (session_id, expires_at))

    await store.run(write)


SESSION_REVOKED = Sql("SELECT 1 AS revoked FROM console_revocations WHERE session_id = ?")


def revoked(db: Db, session_id: str) -> bool:
    return db.one(SESSION_REVOKED, (session_id,)) is not None


async def ended(store: Store, session_id: str) -> bool:
    return await store.read(lambda db: revoked(db, session_id))


def claim(db: Db, once_id: str, expires_at: float, now: float) -> bool:
    """Mark something usable once (a portal link) as used: True the first time only. Kept,
    as a revocation is, until `expires_at`."""
    db.execute(PURGE_REVOCATIONS, (now,))
    return db.execute(REVOKE_SESSION, (once_id, max(expires_at, now + 1))) > 0
