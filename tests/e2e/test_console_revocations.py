"""Console logouts in the store, on both backends: seen by every replica, kept only as long
as the cookie they end could still be accepted."""

from __future__ import annotations

import asyncio
import time

from receiver.persist import Store
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
        assert not await there.session_revoked("s-1")
        await here.revoke_session("s-1", time.time() + 3600)
        await here.revoke_session("s-1", time.time() + 3600)  # a second logout: no error
        assert await there.session_revoked("s-1")
        soon = time.time() + 0.2
        await there.revoke_session("s-2", soon)
        assert await here.session_revoked("s-2")
        await here.revoke_session("s-3", time.time() - 1)  # expired already: nothing to keep
        assert not await there.session_revoked("s-3")
        await _until(soon)  # s-2's cookie is refused by its own expiry from now on
        await here.revoke_session("s-4", time.time() + 3600)
        assert not await there.session_revoked("s-2")  # purged by the next logout
        assert await there.session_revoked("s-1") and await there.session_revoked("s-4")

    with_stores(storage_url, 2, scenario)
