"""What a process lets go of. The leases it holds on the store's work, given back: its own
when it stops (so another worker takes the work at once), or every one at the start of the
only process doing that work (SQLite: what a killed predecessor held); each table gives back
its own. And a task a worker could not handle, set aside (`set_aside`): failed with the
reason if it was unfinished, and out of every queue, so that it never stops the worker
again. It writes no event: the task's own data may be what could not be written."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rows import mirrors
from receiver.lifecycle.rows.tasks import tracking
from receiver.outbox.rows import outbox


async def release(store: Store, owner: str) -> None:
    """Give back what `owner` holds: deliveries, polls and copies."""

    def write(db: Db) -> None:
        outbox.release_leases(db, owner)
        tracking.release_leases(db, owner)
        mirrors.release_leases(db, owner)

    await store.run(write)


async def release_all(
    store: Store, delivering: bool, polling: bool, mirroring: bool = False
) -> None:
    """Every lease of that work, taken back: only while no other process does it, which
    `take_workers` makes sure of first (copies are made by `receiver serve`, so the lock
    for polls covers them)."""
    store.take_workers(delivering, polling or mirroring)

    def write(db: Db) -> None:
        if delivering:
            outbox.release_every_lease(db)
        if polling:
            tracking.release_every_lease(db)
        if mirroring:
            mirrors.release_every_lease(db)

    await store.run(write)


async def set_aside(store: Store, task_id: str, reason: str) -> None:
    await store.run(lambda db: tracking.set_aside(db, task_id, reason, time.time()))
