"""A media copy's life (receiver/media/mirror.py makes it): claimed under a lease,
tried again later, finished (the deliveries that waited for it released), its lease renewed
while it runs, or given up, each in one transaction. Every story reads the clock inside its
transaction: a job that waited in the store's queue never writes a lease already over."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.media import rows as mirrors
from receiver.media.rows import GivenUp, MirrorJob


async def claim(store: Store, owner: str, lease: float, limit: int) -> list[MirrorJob]:
    return await store.run(lambda db: mirrors.claim(db, owner, time.time(), lease, limit))


RETRY_MIRROR = Sql(
    "UPDATE mirrors SET attempts = attempts + 1, next_attempt_at = ?, reason = ?, sources = ?,"
    " lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
)


async def retry(
    store: Store, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
) -> None:
    await store.run(
        lambda db: db.execute(
            RETRY_MIRROR, (at, reason, orjson.dumps(sources).decode(), event_id, owner)
        )
    )


async def finish(store: Store, event_id: str, owner: str, media: dict[str, Any]) -> list[str]:
    """The ids of the deliveries released (none when the lease was lost)."""
    return await store.run(lambda db: mirrors.finish(db, event_id, owner, media, time.time()))


async def renew(store: Store, owner: str, event_ids: list[str], lease: float) -> int:
    return await store.run(lambda db: mirrors.renew(db, owner, event_ids, time.time() + lease))


async def give_up_overdue(
    store: Store, wait: float, reason: Callable[[str | None], str], limit: int
) -> list[GivenUp]:
    """Fail the copies whose deliveries have waited `wait` seconds, unless a live worker
    holds them (its attempt ends by then)."""

    def give_up(db: Db) -> list[GivenUp]:
        now = time.time()
        return mirrors.give_up_overdue(db, now - wait, reason, now, limit)

    return await store.run(give_up)


async def give_up_all(store: Store, reason: str, limit: int) -> list[GivenUp]:
    return await store.run(lambda db: mirrors.give_up_all(db, reason, time.time(), limit))
