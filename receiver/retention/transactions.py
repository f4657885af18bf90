"""Ended tasks are pruned: one small batch per transaction, what goes decided by the
retention rules, under a lease that lets one replica at a time do it."""

from __future__ import annotations

import time
from collections import Counter
from functools import partial

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.retention import rows as retention
from receiver.retention.rows import PruneStep
from receiver.retention.rules import Cursor, RetentionPolicy, next_batch


async def step(
    store: Store, policy: RetentionPolicy, cursor: Cursor, owner: str, lease: float
) -> PruneStep | None:
    """Delete the next batch past `cursor`, holding the prune's lease for `lease` seconds
    more; None when another replica holds it."""

    def run(db: Db) -> PruneStep | None:
        now = time.time()
        if not retention.take_lease(db, owner, now, lease):
            return None
        return _next(db, policy, cursor, now, apply=True)

    return await store.run(run)


async def step_each(
    store: Store, policy: RetentionPolicy, cursor: Cursor, owner: str, lease: float
) -> tuple[PruneStep, dict[str, Exception]] | None:
    """The batch past `cursor` one task per transaction, once the whole batch failed: each
    task that fails on its own is left in place and stepped over (with what it raised), so
    that one bad task never holds back the ones after it. None when another replica holds
    the prune's lease."""
    batch = (await preview(store, policy, cursor)).batch
    removed: Counter[str] = Counter()
    stuck: dict[str, Exception] = {}
    for task_id in batch.task_ids:
        try:
            one = await store.run(partial(_remove_one, task_id=task_id, owner=owner, lease=lease))
        except Exception as exc:
            stuck[task_id] = exc
            continue
        if one is None:
            return None
        removed.update(one)
    return PruneStep(batch, dict(removed)), stuck


def _remove_one(db: Db, task_id: str, owner: str, lease: float) -> dict[str, int] | None:
    if not retention.take_lease(db, owner, time.time(), lease):
        return None
    return retention.remove(db, [task_id])


async def preview(store: Store, policy: RetentionPolicy, cursor: Cursor) -> PruneStep:
    """What the batch past `cursor` would remove, counted, nothing deleted."""
    return await store.run(lambda db: _next(db, policy, cursor, time.time(), apply=False))


RELEASE_MAINTENANCE_LEASE = Sql(
    "UPDATE maintenance_leases SET owner = NULL, until = 0 WHERE name = ? AND owner = ?"
)


async def release(store: Store, owner: str) -> None:
    await store.run(
        lambda db: db.execute(RELEASE_MAINTENANCE_LEASE, (retention.PRUNE_LEASE, owner))
    )


def _next(db: Db, policy: RetentionPolicy, cursor: Cursor, now: float, apply: bool) -> PruneStep:
    batch = next_batch(retention.candidates(db, policy, now, cursor), policy, now, cursor)
    if not batch.task_ids:
        return PruneStep(batch)
    ids = list(batch.task_ids)
    return PruneStep(batch, retention.remove(db, ids) if apply else retention.count(db, ids))
