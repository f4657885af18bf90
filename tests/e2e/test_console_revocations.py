"""Console logouts in the store, on both backends: seen by every replica, kept only as long
as the cookie they end could still be accepted."""

from __future__ import annotations

import asyncio
import time

from receiver.kernel.store import Store
from receiver.keys.transactions import sessions
from tests.e2e.test_store import with_stores


async def _until(moment: float) -> None:
    while time.time() <= moment:
        await asyncio.sleep(0.01)


def test_a_logout_on_one_replica_is_seen_by_another_and_purged_after_expiry(
    storage_url: str,
) -> None:
    async def scenario(stores: list[Store]) -> None:
        here, there = stores
        await here.migrate()
        assert not await sessions.ended(there, "s-1")
        await sessions.end(here, "s-1", time.time() + 3600)
        await sessions.end(here, "s-1", time.time() + 3600)  # a second logout: no error
        assert await sessions.ended(there, "s-1")
        soon = time.time() + 0.2
        await sessions.end(there, "s-2", soon)
        assert await sessions.ended(here, "s-2")
        # Expired already: nothing to keep.
        await sessions.end(here, "s-3", time.time() - 1)
        assert not await sessions.ended(there, "s-3")
        await _until(soon)  # s-2's cookie is refused by its own expiry from now on
        await sessions.end(here, "s-4", time.time() + 3600)
        assert not await sessions.ended(there, "s-2")  # purged by the next logout
        assert await sessions.ended(there, "s-1")
        assert await sessions.ended(there, "s-4")

    with_stores(storage_url, 2, scenario)
