"""An API key's life in the store (made and revoked with its app: apps.py): found by its
hash, rehashed under the relay's newest secret, its use noted, listed and revoked; and which of
the keys and console sessions live streams were opened with have ended since."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.keys.rows import keys
from receiver.keys.rows.keys import KeyRow
from receiver.keys.transactions.sessions import revoked


async def by_digest(store: Store, digests: list[str]) -> KeyRow | None:
    return await store.read(lambda db: keys.by_digest(db, digests))


async def live(store: Store, app_id: str | None = None) -> list[KeyRow]:
    return await store.read(lambda db: keys.live(db, app_id))


REHASH_KEY = Sql("UPDATE api_keys SET digest = ? WHERE id = ?")


async def rehash(store: Store, key_id: str, digest: str) -> None:
    await store.run(lambda db: db.execute(REHASH_KEY, (digest, key_id)))


KEY_USED = Sql("UPDATE api_keys SET last_used_at = ? WHERE id = ?")


async def used(store: Store, key_id: str) -> None:
    await store.run(lambda db: db.execute(KEY_USED, (time.time(), key_id)), durable=False)


async def is_live(store: Store, key_id: str) -> bool:
    return await store.read(lambda db: keys.is_live(db, key_id))


async def gone(store: Store, key_ids: set[str], session_ids: set[str]) -> tuple[set[str], set[str]]:
    """Of these, the keys revoked (or never made) and the console sessions logged out; one
    snapshot, a primary-key read each."""
    if not key_ids and not session_ids:
        return set(), set()

    def read(db: Db) -> tuple[set[str], set[str]]:
        dead = {k for k in key_ids if not keys.is_live(db, k)}
        return dead, {s for s in session_ids if revoked(db, s)}

    return await store.read(read)
