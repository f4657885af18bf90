"""Mirror jobs in the store: which finished renders are being copied, and their outcome.

A succeeded event whose task has files gets a job in the same transaction, and its
deliveries wait as `mirroring`; when the job ends (copied, or failed for good) the event's
document gains its `media` section and the deliveries go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.persist.db import Db


@dataclass(frozen=True)
class MirrorJob:
    event_id: str
    task_id: str
    kind: str
    upstream_task_id: str | None
    sources: list[dict[str, str]]  # {"role": "video" | "poster", "url": ...}
    attempts: int
    started_at: float


def sources_of(document: dict[str, Any]) -> list[dict[str, str]]:
    found = [{"role": "video", "url": url} for url in document.get("outputs") or []]
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
    if not kept:
        return []
    row = db.one(db.sql.EVENT_PAYLOAD, (event_id,))
    assert row is not None
    document = {**orjson.loads(row["payload"]), "media": media}
    db.execute(db.sql.SET_EVENT_PAYLOAD, (orjson.dumps(document).decode(), event_id))
    released = db.all(db.sql.MIRRORING_DELIVERIES, (event_id,))
    db.execute(db.sql.RELEASE_MIRRORING, (now, now, event_id))
    return [r["id"] for r in released]
