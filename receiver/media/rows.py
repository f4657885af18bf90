"""Mirror jobs in the store: which finished renders are being copied, and their outcome.

A succeeded event whose task has files gets a job in the same transaction, and its
deliveries wait as `mirroring`; when the job ends (copied, or failed for good) the event's
document gains its `media` section and the deliveries go out. A job is leased to one worker
while it copies; the lease is short and renewed as the copy goes on, and given back when the
worker stops, so a stopped or killed worker's copies are taken up again soon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db


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


def sources_of(document: dict[str, Any]) -> list[dict[str, str]]:
    role = document.get("output_type") or "video"  # documents before output_type: videos
    found = [{"role": role, "url": url} for url in document.get("outputs") or []]
    if document.get("thumbnail"):
        found.append({"role": "poster", "url": document["thumbnail"]})
    return found


def start(db: Db, event_id: str, task_id: str, document: dict[str, Any], now: float) -> bool:
    """A job for this event's files; False when it has none to copy."""
    sources = sources_of(document)
    if not sources:
        return False
    db.execute(db.sql.INSERT_MIRROR, (event_id, task_id, orjson.dumps(sources).decode(), now, now))
    return True


def copying(db: Db, task_id: str) -> bool:
    """Whether a copy of the task's files is still being made."""
    return db.one(db.sql.MIRROR_PENDING, (task_id,)) is not None


def claim(db: Db, owner: str, now: float, lease: float, limit: int) -> list[MirrorJob]:
    jobs = []
    for r in db.all(db.sql.DUE_MIRRORS, (now, now, limit)):
        db.execute(db.sql.LEASE_MIRROR, (owner, now + lease, r["event_id"]))
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


def retry(
    db: Db, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
) -> None:
    """Try again at `at` (with fresh links, when CometAPI gave new ones)."""
    db.execute(db.sql.RETRY_MIRROR, (at, reason, orjson.dumps(sources).decode(), event_id, owner))


def finish(db: Db, event_id: str, owner: str, media: dict[str, Any], now: float) -> list[str]:
    """The job is over: its outcome goes into the event's document, and the deliveries that
    waited for it are released. Returns their ids (none when the lease was lost)."""
    state = "done" if media["status"] == "mirrored" else "failed"
    kept = db.execute(db.sql.FINISH_MIRROR, (state, media.get("reason"), event_id, owner))
    return _publish(db, event_id, media, now) if kept else []


def _publish(db: Db, event_id: str, media: dict[str, Any], now: float) -> list[str]:
    """The job's outcome goes into the event's document, and its deliveries go out."""
    row = db.one(db.sql.EVENT_PAYLOAD, (event_id,))
    assert row is not None
    document = {**orjson.loads(row["payload"]), "media": media}
    db.execute(db.sql.SET_EVENT_PAYLOAD, (orjson.dumps(document).decode(), event_id))
    released = db.all(db.sql.MIRRORING_DELIVERIES, (event_id,))
    db.execute(db.sql.RELEASE_MIRRORING, (now, now, event_id))
    return [r["id"] for r in released]


def renew(db: Db, owner: str, event_ids: list[str], until: float) -> int:
    """Extend `owner`'s leases on these jobs (those it still holds); returns how many."""
    return sum(db.execute(db.sql.RENEW_MIRROR_LEASE, (until, e, owner)) for e in event_ids)


def release_leases(db: Db, owner: str) -> None:
    """Give back the jobs `owner` holds, so they are copied again at once."""
    db.execute(db.sql.RELEASE_MIRROR_LEASES, (owner,))


def release_all_leases(db: Db) -> None:
    """At the start of the only process copying on the store: every lease is a dead one's."""
    db.execute(db.sql.RELEASE_ALL_MIRROR_LEASES)


@dataclass(frozen=True)
class GivenUp:
    task_id: str
    reason: str
    delivery_ids: list[str]  # released without the copy


def give_up_overdue(
    db: Db, started_before: float, reason: Callable[[str | None], str], now: float, limit: int
) -> list[GivenUp]:
    """Fail the jobs started before `started_before` that no live worker holds (their
    deliveries could wait no longer); `reason` says why from the last error."""
    rows = db.all(db.sql.OVERDUE_MIRRORS, (started_before, now, limit))
    return _give_up(db, rows, reason, now)


def give_up_all(db: Db, reason: str, now: float, limit: int) -> list[GivenUp]:
    """Fail up to `limit` pending jobs, held or not: no copy will be made."""
    return _give_up(db, db.all(db.sql.PENDING_MIRRORS, (limit,)), lambda _: reason, now)


def _give_up(
    db: Db, rows: list[dict[str, Any]], reason: Callable[[str | None], str], now: float
) -> list[GivenUp]:
    given_up = []
    for row in rows:
        why = reason(row["reason"])
        if db.execute(db.sql.GIVE_UP_MIRROR, (why, row["event_id"])):
            media = {"status": "failed", "reason": why}
            given_up.append(GivenUp(row["task_id"], why, _publish(db, row["event_id"], media, now)))
    return given_up
