"""A media copy's life (mirror.py makes it) and a Runway upload taken, each step in one
transaction. Each reads the clock inside its transaction: a job that waited in the store's
queue never writes a lease already over."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from receiver.kernel.errors import BodyTooLarge, Conflict, LimitReached, RequestRejected
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rows import events, mirrors
from receiver.lifecycle.rows.mirrors import MirrorJob, Unfinished
from receiver.media import rows
from receiver.media.rules import uploads
from receiver.outbox.rows import outbox


@dataclass(frozen=True)
class GivenUp:
    task_id: str
    reason: str
    delivery_ids: list[str]  # released without the copy


async def claim(
    store: Store,
    owner: str,
    lease: float,
    limit: int,
    per_app: int | None = None,
    held: Mapping[str, int] | None = None,
) -> list[MirrorJob]:
    """Up to `limit` due copies leased to `owner`, the apps in turn; an app holds at most
    `per_app` of them, counting those `owner` copies already (`held`, by app)."""
    return await store.run(
        lambda db: mirrors.claim(db, owner, time.time(), lease, limit, per_app, held)
    )


async def retry(
    store: Store, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
) -> None:
    await store.run(lambda db: mirrors.retry(db, event_id, owner, at, reason, sources))


async def finish(store: Store, event_id: str, owner: str, media: dict[str, Any]) -> list[str]:
    """The job is over: its outcome goes into the event's document, and the deliveries that
    waited for it are released. Returns their ids (none when the lease was lost)."""

    def write(db: Db) -> list[str]:
        state = "done" if media["status"] == "mirrored" else "failed"
        if not mirrors.finish(db, event_id, owner, state, media.get("reason")):
            return []
        return _publish(db, event_id, media, time.time())

    return await store.run(write)


def _publish(db: Db, event_id: str, media: dict[str, Any], now: float) -> list[str]:
    """The job's outcome goes into the event's document, and its deliveries go out."""
    events.add_media(db, event_id, media)
    return outbox.release_mirrored(db, event_id, now)


async def renew(store: Store, owner: str, event_ids: list[str], lease: float) -> int:
    return await store.run(lambda db: mirrors.renew(db, owner, event_ids, time.time() + lease))


async def give_up_overdue(
    store: Store, wait: float, reason: Callable[[str | None], str], limit: int
) -> list[GivenUp]:
    """Fail the copies whose deliveries have waited `wait` seconds, unless a live worker
    holds them (its attempt ends by then)."""

    def give_up(db: Db) -> list[GivenUp]:
        now = time.time()
        return _give_up(db, mirrors.overdue(db, now - wait, now, limit), reason, now)

    return await store.run(give_up)


async def give_up_all(store: Store, reason: str, limit: int) -> list[GivenUp]:
    """Fail up to `limit` pending copies, held or not: no copy will be made."""

    def give_up(db: Db) -> list[GivenUp]:
        return _give_up(db, mirrors.unfinished(db, limit), lambda _: reason, time.time())

    return await store.run(give_up)


def _give_up(
    db: Db, jobs: list[Unfinished], reason: Callable[[str | None], str], now: float
) -> list[GivenUp]:
    """Each job failed with why (`reason`, from its last error), its deliveries released
    without the copy."""
    given_up = []
    for job in jobs:
        why = reason(job.last_error)
        if mirrors.give_up(db, job.event_id, why):
            media = {"status": "failed", "reason": why}
            given_up.append(GivenUp(job.task_id, why, _publish(db, job.event_id, media, now)))
    return given_up


# How many of a key's uploads of the window are read to say when its quota frees enough.
_OLDEST_READ = 1000


@dataclass(frozen=True)
class Upload:
    media_key: str  # where the file is kept: one for each upload URL
    uploader: str  # the key that asked for the URL ("admin": the bootstrap token)
    size: int  # the file's bytes (before the body is read: the least it can be)


async def upload_refusal(store: Store, upload: Upload, quota: int) -> RequestRejected | None:
    """Before the body is read: why it would be refused (its URL has taken a file already,
    or its key's quota has no room for it), or None."""

    def refusal(db: Db) -> RequestRejected | None:
        if rows.upload_taken(db, upload.media_key):
            return _taken()
        return _over_quota(db, upload, quota, time.time())

    return await store.read(refusal)


async def take_upload(store: Store, upload: Upload, quota: int) -> None:
    """The upload counted, its URL spent; Conflict when the URL has taken a file already,
    LimitReached (or BodyTooLarge for a file over the whole quota) past the key's quota."""
    if 0 < quota < upload.size:
        refused = BodyTooLarge(
            f"the file ({upload.size} bytes) is over this key's whole upload quota"
            f" ({quota} bytes an hour)"
        )
        refused.rest_unread = False  # the body was read
        raise refused

    def take(db: Db) -> None:
        now = time.time()
        rows.prune_uploads(db, now - uploads.TAKEN_KEPT_SECONDS)
        rows.lock_uploader(db, upload.uploader, now)
        if rows.upload_taken(db, upload.media_key):
            raise _taken()
        refused = _over_quota(db, upload, quota, now)
        if refused is not None:
            raise refused
        rows.take_upload(db, upload.media_key, upload.uploader, upload.size, now)

    await store.run(take)


async def forget_upload(store: Store, media_key: str) -> None:
    """The upload given back (its file could not be kept): its URL may be posted to again."""
    await store.run(lambda db: rows.forget_upload(db, media_key))


def _taken() -> Conflict:
    return Conflict(
        "this upload URL has already taken its file; ask for a new one (POST /v1/uploads)"
    )


def _over_quota(db: Db, upload: Upload, quota: int, now: float) -> LimitReached | None:
    if quota <= 0:
        return None
    since = now - uploads.QUOTA_WINDOW_SECONDS
    used, oldest = rows.uploaded_since(db, upload.uploader, since, _OLDEST_READ)
    wait = uploads.quota_wait(quota, used, oldest, upload.size, now)
    if wait is None:
        return None
    return LimitReached(
        f"this key's upload quota is reached ({used} of {quota} bytes in the last hour,"
        f" [media] upload_bytes_per_hour); room for this file frees in {wait} s",
        "upload_bytes_per_hour",
        wait,
    )
