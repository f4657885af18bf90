"""The leases a process holds on the store's work, given back: its own when it stops (so
another worker takes the work at once), or every one at the start of the only process doing
that work (SQLite: what a killed predecessor held). Each table gives back its own."""

from __future__ import annotations

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rows import deliveries, mirrors
from receiver.lifecycle.rows.tasks import polls


async def release(store: Store, owner: str) -> None:
    """Give back what `owner` holds: deliveries, polls and copies."""

    def write(db: Db) -> None:
        deliveries.release_leases(db, owner)
        polls.release_leases(db, owner)
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
            deliveries.release_every_lease(db)
        if polling:
            polls.release_every_lease(db)
        if mirroring:
            mirrors.release_every_lease(db)

    await store.run(write)
