"""Runway's uploads taken: the upload URLs that took their file, and the bytes each key
uploaded, for its quota. (Copies of renders: receiver/lifecycle/rows/mirrors.py.)
"""

from __future__ import annotations

from receiver.kernel.store.db import Db, Sql

MARK_UPLOADER = Sql(
    "INSERT INTO runway_uploaders (uploader, last_upload_at) VALUES (?, ?)"
    " ON CONFLICT (uploader) DO UPDATE SET last_upload_at = excluded.last_upload_at"
)


def lock_uploader(db: Db, uploader: str, now: float) -> None:
    """The key's row, locked until the transaction ends (PostgreSQL; SQLite's BEGIN
    IMMEDIATE holds the only write lock): its uploads are counted one after another."""
    db.execute(MARK_UPLOADER, (uploader, now))


UPLOAD_TAKEN = Sql("SELECT uploaded_at FROM runway_uploads WHERE media_key = ?")


def upload_taken(db: Db, media_key: str) -> bool:
    return db.one(UPLOAD_TAKEN, (media_key,)) is not None


UPLOADED_BYTES = Sql(
    "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS used FROM runway_uploads"
    " WHERE uploader = ? AND uploaded_at > ?"
)
OLDEST_UPLOADS = Sql(
    "SELECT uploaded_at, bytes FROM runway_uploads WHERE uploader = ? AND uploaded_at > ?"
    " ORDER BY uploaded_at LIMIT ?"
)


def uploaded_since(
    db: Db, uploader: str, since: float, limit: int
) -> tuple[int, list[tuple[float, int]]]:
    """The bytes `uploader` uploaded after `since`, and the first `limit` of those uploads
    as (uploaded at, bytes), oldest first."""
    row = db.one(UPLOADED_BYTES, (uploader, since))
    oldest = db.all(OLDEST_UPLOADS, (uploader, since, limit))
    return int(row["used"]) if row else 0, [(r["uploaded_at"], r["bytes"]) for r in oldest]


TAKE_UPLOAD = Sql(
    "INSERT INTO runway_uploads (media_key, uploader, bytes, uploaded_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (media_key) DO NOTHING"
)


def take_upload(db: Db, media_key: str, uploader: str, size: int, now: float) -> bool:
    """Whether this upload URL took its file now (False: it had already)."""
    return db.execute(TAKE_UPLOAD, (media_key, uploader, size, now)) == 1


FORGET_UPLOAD = Sql("DELETE FROM runway_uploads WHERE media_key = ?")


def forget_upload(db: Db, media_key: str) -> None:
    db.execute(FORGET_UPLOAD, (media_key,))


PRUNE_UPLOADS = Sql("DELETE FROM runway_uploads WHERE uploaded_at < ?")
PRUNE_UPLOADERS = Sql("DELETE FROM runway_uploaders WHERE last_upload_at < ?")


def prune_uploads(db: Db, before: float) -> None:
    db.execute(PRUNE_UPLOADS, (before,))
    db.execute(PRUNE_UPLOADERS, (before,))
