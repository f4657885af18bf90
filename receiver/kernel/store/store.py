"""The store interface the service talks to, small on purpose: a function of rows (each
table's, receiver/lifecycle/rows/) or a transaction (a feature's `transactions`) runs in one
transaction through `run`, or in one read-only snapshot through `read`; every write is such
a transaction. Besides, what belongs to the process: migrations, readiness, the work it takes
(its leases are given back by receiver/lifecycle/transactions/leases.py), space given back; and
which backend a storage URL names (`open_store`).

A backend only knows how to run a function inside a transaction (`run`) and gives it a
`Db` (receiver/kernel/store/db.py) that runs each statement's text in its own dialect; the logic
is shared, so both backends behave the same way by construction.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from receiver.kernel.extras import require
from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.migrate import check_schema, migrate, missing

T = TypeVar("T")
# How many free pages to give back, of (free pages, pages in the file).
PagesToFree = Callable[[int, int], int]

PING = Sql("SELECT 1 AS ok")


def _answers(db: Db) -> list[int]:
    db.one(PING)
    return []


def _ready(db: Db) -> list[int]:
    db.one(PING)
    return missing(db)


class Store(ABC):
    """A transaction reads the clock inside its transaction, not when it is called: a job that
    waited in a queue (a slow disk, a database coming back) must not write a lease that has
    already run out."""

    #: True when one process owns the store (SQLite): at start, it may take every lease
    #: back at once instead of waiting for a killed predecessor's leases to expire.
    exclusive = False

    @abstractmethod
    async def run(
        self,
        fn: Callable[[Db], T],
        timeout: float | None = 0.0,
        durable: bool = True,
        urgent: bool = True,
        shared_sync: bool = False,
    ) -> T:
        """Run `fn` in one committed transaction; raise StoreError if it could not commit.
        `timeout`: seconds the caller waits (0: the backend's default; None: no limit).
        `durable=False`: the commit need not reach the disk before it returns (a power loss
        may undo it, and every commit after it, never a crash of the process): for what
        losing costs only a repeat, a lease or an attempt's outcome, never a callback or a
        task's state. The next durable commit makes it durable too.
        `urgent=False`: its caller does not wait on it to go on (an attempt's outcome, its
        slot already free); the backend may hold it a few milliseconds to share the next
        transaction instead of paying for one of its own.
        `shared_sync=True` (with `durable`): it still returns only once its commit is on
        disk, but the backend may commit it without a sync of its own and return once the
        next one's sync (another caller's commit, or one made for it within milliseconds)
        has covered it: one sync for a callback's claim and the answer of the poll before
        it, where the caller can wait those milliseconds (a poll's answer)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def read(self, fn: Callable[[Db], T], apart: bool = False) -> T:
        """Run `fn`, which only reads, in one transaction: one snapshot of the store.
        `apart`: a read that may scan many rows (a text search, a data URI's parts), one at a
        time per process, so that such reads cannot take every connection (SQLite runs it
        off the event loop, on a connection of its own)."""
        if not apart:
            return await self.run(fn)
        async with self._apart:
            return await self._read_apart(fn)

    async def _read_apart(self, fn: Callable[[Db], T]) -> T:
        return await self.run(fn)

    @functools.cached_property
    def _apart(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(1)

    async def migrate(self) -> list[int]:
        # No deadline: an upgrade's migration may rewrite a large table.
        return await self.run(migrate, timeout=None)

    async def check_schema(self) -> None:
        # No deadline either: it waits for the migration lock while another process migrates.
        await self.run(check_schema, timeout=None)

    async def ready(self, timeout: float = 1.0, schema: bool = True) -> list[int]:
        """The store answers (else StoreError); with `schema`, the migrations this release
        ships that it has not applied yet (without, before any is: [])."""
        return await self.run(_ready if schema else _answers, timeout=timeout)

    @abstractmethod
    def take_workers(self, deliveries: bool, polls: bool) -> None:
        """Make sure no other process does this work (delivering; polling and the rest of
        what `receiver serve` runs) on this store while this one lives, or raise StoreError,
        before any lease is touched."""

    @abstractmethod
    async def reclaim_space(
        self, pruned: int, to_free: PagesToFree, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """After a prune that removed `pruned` tasks (0: none, this time): let the space of
        deleted rows be used again, and give what can be back to the file system, as much
        as `to_free` says (receiver/retention/rules.py's pages_to_free); returns the bytes
        given back."""


def open_store(url: str, answer_within: float = 2.0) -> Store:
    """The backend the storage URL names; nothing is connected until first use. PostgreSQL
    answers each job within `answer_within` seconds or says it is slow."""
    if url.startswith("sqlite:///"):
        from receiver.kernel.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    require("postgres", "storage.url (PostgreSQL)")
    from receiver.kernel.store.postgres.store import PostgresStore

    return PostgresStore(url, timeout=answer_within)
