"""Console sessions ended by logging out, shared by every replica through the store.

A session lives in its signed cookie; only its end before time is stored. A revocation is
kept until the cookie's own expiry, and each new one purges those past theirs, so the table
holds at most the logouts of one session lifetime.
"""

from __future__ import annotations

from receiver.persist.db import Db


def revoke(db: Db, session_id: str, expires_at: float, now: float) -> None:
    db.execute(db.sql.PURGE_REVOCATIONS, (now,))
    if expires_at > now:
        db.execute(db.sql.REVOKE_SESSION, (session_id, expires_at))


def revoked(db: Db, session_id: str) -> bool:
    return db.one(db.sql.SESSION_REVOKED, (session_id,)) is not None


def claim(db: Db, once_id: str, expires_at: float, now: float) -> bool:
    """Mark something usable once (a portal link) as used: True the first time only. Kept,
    as a revocation is, until `expires_at`."""
    db.execute(db.sql.PURGE_REVOCATIONS, (now,))
    return db.execute(db.sql.REVOKE_SESSION, (once_id, max(expires_at, now + 1))) > 0
