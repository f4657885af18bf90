"""Mirror jobs in the store: which finished renders are being copied, and their outcome.

A succeeded event whose task has files gets a job in the same transaction, and its
deliveries wait as `mirroring`; when the job ends (copied, or failed for good) the event's
document gains its `media` section and the deliveries go out. A job is leased to one worker
while it copies; the lease is short and renewed as the copy goes on, and given back when the
worker stops, so a stopped or killed worker's copies are taken up again soon.

And Runway's uploads taken (receiver/frontdoor/uploads.py): the upload URLs that took their
file, and the bytes each key uploaded, for its quota.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows import deliveries, events


@dataclass(frozen=True)
class MirrorJob:
    event_id: str
    task_id: str
    kind: str
    upstream_task_id: str | None
    sources: list[dict[str, str]]  # {"role": "video" | "image" | "audio" | "poster", "url": ...}
    attempts: int
    started_at: float
    last_error: str | None  # why the last attempt failed
    trace_context: str | None = None  # the task's trace


DUE_MIRRORS = Sql(
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
)

LEASE_MIRROR = Sql("UPDATE mirrors SET lease_owner = ?, lease_until = ? WHERE event_id = ?")


def claim(db: Db, owner: str, now: float, lease: float, limit: int) -> list[MirrorJob]:
    jobs = []
    for r in db.all(DUE_MIRRORS, (now, now, limit)):
        db.execute(LEASE_MIRROR, (owner, now + lease, r["event_id"]))
        jobs.append(
            MirrorJob(
                r["event_id"],
                r["task_id"],
                r["kind"],
                r["upstream_task_id"],
                orjson.loads(r["sources"]),
                r["attempts"],
                r["started_at"],
                r["reason"],
                r["trace_context"],
            )
        )
    return jobs


FINISH_MIRROR = Sql(
    "UPDATE mirrors SET state = ?, attempts = attempts + 1, reason = ?, lease_owner = NULL,"
    " lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
)


def finish(db: Db, event_id: str, owner: str, media: dict[str, Any], now: float) -> list[str]:
    """The job is over: its outcome goes into the event's document, and the deliveries that
    waited for it are released. Returns their ids (none when the lease was lost)."""
    state = "done" if media["status"] == "mirrored" else "failed"
    kept = db.execute(FINISH_MIRROR, (state, media.get("reason"), event_id, owner))
    return _publish(db, event_id, media, now) if kept else []


def _publish(db: Db, event_id: str, media: dict[str, Any], now: float) -> list[str]:
    """The job's outcome goes into the event's document, and its deliveries go out."""
    events.add_media(db, event_id, media)
    return deliveries.release_mirrored(db, event_id, now)


RENEW_MIRROR_LEASE = Sql(
    "UPDATE mirrors SET lease_until = ?"
    " WHERE event_id = ? AND lease_owner = ? AND state = 'pending'"
)


def renew(db: Db, owner: str, event_ids: list[str], until: float) -> int:
    """Extend `owner`'s leases on these jobs (those it still holds); returns how many."""
    return sum(db.execute(RENEW_MIRROR_LEASE, (until, e, owner)) for e in event_ids)


@dataclass(frozen=True)
class GivenUp:
    task_id: str
    reason: str
    delivery_ids: list[str]  # released without the copy


OVERDUE_MIRRORS = Sql(
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
)


def give_up_overdue(
    db: Db, started_before: float, reason: Callable[[str | None], str], now: float, limit: int
) -> list[GivenUp]:
    """Fail the jobs started before `started_before` that no live worker holds (their
    deliveries could wait no longer); `reason` says why from the last error."""
    rows = db.all(OVERDUE_MIRRORS, (started_before, now, limit))
    return _give_up(db, rows, reason, now)


PENDING_MIRRORS = Sql(
    "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
    " ORDER BY next_attempt_at LIMIT ?"
)


def give_up_all(db: Db, reason: str, now: float, limit: int) -> list[GivenUp]:
    """Fail up to `limit` pending jobs, held or not: no copy will be made."""
    return _give_up(db, db.all(PENDING_MIRRORS, (limit,)), lambda _: reason, now)


GIVE_UP_MIRROR = Sql(
    "UPDATE mirrors SET state = 'failed', reason = ?, lease_owner = NULL, lease_until = NULL"
    " WHERE event_id = ? AND state = 'pending'"
)


def _give_up(
    db: Db, rows: list[dict[str, Any]], reason: Callable[[str | None], str], now: float
) -> list[GivenUp]:
    given_up = []
    for row in rows:
        why = reason(row["reason"])
        if db.execute(GIVE_UP_MIRROR, (why, row["event_id"])):
            media = {"status": "failed", "reason": why}
            given_up.append(GivenUp(row["task_id"], why, _publish(db, row["event_id"], media, now)))
    return given_up


# --- Runway's uploads taken -------------------------------------------------------------

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
