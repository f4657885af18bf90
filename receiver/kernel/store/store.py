"""The store interface the service talks to, small on purpose: a function of the reads and
writes beside it (tasks.py, observations.py, outbox.py, reads.py, downstreams.py, managed.py,
mirrors.py, sessions.py, ...) runs in one transaction through `run`, or in one read-only
snapshot through `read`; the stories of receiver/transitions/ say which, and when. Besides,
what belongs to the process: migrations, its leases, readiness, space given back.

A backend only knows how to run a function inside a transaction (`run`) and gives it a
`Db` (receiver/kernel/store/db.py) with its own text of every statement; the logic is shared,
so both backends behave the same way by construction.
"""

from __future__ import annotations

import asyncio
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from receiver.kernel.events.rows import outbox
from receiver.kernel.store.db import Db
from receiver.kernel.store.migrate import check_schema, migrate, missing
from receiver.kernel.store.records import DeliveryJob, NewTask, Task
from receiver.media import rows as mirrors
from receiver.media.rows import GivenUp, MirrorJob
from receiver.tasks.rows import queue as submit_queue
from receiver.tasks.rows import tasks

T = TypeVar("T")
# How many free pages to give back, of (free pages, pages in the file).
PagesToFree = Callable[[int, int], int]


class Store(ABC):
    """Every method reads the clock inside its transaction, not when it is called: a job
    that waited in a queue (a slow disk, a database coming back) must not write a lease
    that has already run out."""

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
    ) -> T:
        """Run `fn` in one committed transaction; raise StoreError if it could not commit.
        `timeout`: seconds the caller waits (0: the backend's default; None: no limit).
        `durable=False`: the commit need not reach the disk before it returns (a power loss
        may undo it, and every commit after it, never a crash of the process): for what
        losing costs only a repeat, a lease or an attempt's outcome, never a callback or a
        task's state. The next durable commit makes it durable too.
        `urgent=False`: its caller does not wait on it to go on (an attempt's outcome, its
        slot already free); the backend may hold it a few milliseconds to share the next
        transaction instead of paying for one of its own."""

    @abstractmethod
    async def close(self) -> None: ...

    async def read(self, fn: Callable[[Db], T]) -> T:
        """Run `fn`, which only reads, in one transaction: one snapshot of the store."""
        return await self.run(fn)

    async def read_apart(self, fn: Callable[[Db], T]) -> T:
        """A read that may scan many rows (a text search): one at a time per process, so
        searches cannot take every connection. SQLite runs it off the event loop."""
        async with self._searching:
            return await self.run(fn)

    @functools.cached_property
    def _searching(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(1)

    async def migrate(self) -> list[int]:
        # No deadline: an upgrade's migration may rewrite a large table.
        return await self.run(migrate, timeout=None)

    async def check_schema(self) -> None:
        # No deadline either: it waits for the migration lock while another process migrates.
        await self.run(check_schema, timeout=None)

    @abstractmethod
    def take_workers(self, deliveries: bool, polls: bool) -> None:
        """Make sure no other process does this work (delivering; polling and the rest of
        what `receiver serve` runs) on this store while this one lives, or raise StoreError,
        before any lease is touched."""

    async def release_all_leases(
        self, deliveries: bool, polls: bool, mirroring: bool = False
    ) -> None:
        def release(db: Db) -> None:
            outbox.release_all_leases(db, deliveries, polls)
            if mirroring:
                mirrors.release_all_leases(db)

        await self.run(release)

    async def ping(self, timeout: float = 1.0) -> None:
        await self.run(lambda db: db.one(db.sql.PING), timeout=timeout)

    async def missing_migrations(self, timeout: float = 1.0) -> list[int]:
        return await self.run(missing, timeout=timeout)

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        def create(db: Db) -> tuple[Task, bool]:
            task, created = tasks.create_task(db, new, time.time())
            return submit_queue.placed(db, [task])[0], created

        return await self.run(create)

    async def input_parts(self, task_id: str) -> dict[str, tuple[int, int]]:
        """How many parts each data URI kept for the task has, and its characters
        (receiver/tasks/rules/inputs.py)."""
        # Off SQLite's writer: the lengths are read from the parts themselves.
        return await self.read_apart(lambda db: tasks.input_parts(db, task_id))

    async def input_wholes(self, task_id: str, digests: list[str]) -> dict[str, str]:
        """Data URIs of the task kept in one part each, by digest, in one read."""
        return await self.read_apart(lambda db: tasks.input_wholes(db, task_id, digests))

    async def input_part(self, task_id: str, sha256: str, part: int) -> str:
        """One part of one of the task's data URIs."""
        # Off SQLite's event loop: a part is megabytes.
        return await self.read_apart(lambda db: tasks.input_part(db, task_id, sha256, part))

    async def claim_deliveries(
        self, owner: str, lease: float, limit: int, downstream: str
    ) -> list[DeliveryJob]:
        # Not durable: a lease lost to a power cut only lets the delivery be sent again.
        return await self.run(
            lambda db: outbox.claim_deliveries(db, owner, time.time(), lease, limit, downstream),
            durable=False,
        )

    async def release_leases(self, owner: str) -> None:
        def release(db: Db) -> None:
            outbox.release_leases(db, owner)
            mirrors.release_leases(db, owner)

        await self.run(release)

    async def replay(self, delivery_ids: list[str]) -> int:
        return await self.run(lambda db: outbox.replay(db, delivery_ids, time.time()))

    async def replay_dead_letters(self, downstream: str) -> int:
        return await self.run(
            lambda db: outbox.replay(db, outbox.dead_letter_ids(db, downstream), time.time())
        )

    async def claim_mirrors(self, owner: str, lease: float, limit: int) -> list[MirrorJob]:
        return await self.run(lambda db: mirrors.claim(db, owner, time.time(), lease, limit))

    async def retry_mirror(
        self, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
    ) -> None:
        await self.run(lambda db: mirrors.retry(db, event_id, owner, at, reason, sources))

    async def finish_mirror(self, event_id: str, owner: str, media: dict[str, Any]) -> list[str]:
        return await self.run(lambda db: mirrors.finish(db, event_id, owner, media, time.time()))

    async def renew_mirror_leases(self, owner: str, event_ids: list[str], lease: float) -> int:
        return await self.run(lambda db: mirrors.renew(db, owner, event_ids, time.time() + lease))

    async def give_up_overdue_mirrors(
        self, wait: float, reason: Callable[[str | None], str], limit: int
    ) -> list[GivenUp]:
        """Fail the copies whose deliveries have waited `wait` seconds, unless a live worker
        holds them (its attempt ends by then)."""

        def give_up(db: Db) -> list[GivenUp]:
            now = time.time()
            return mirrors.give_up_overdue(db, now - wait, reason, now, limit)

        return await self.run(give_up)

    async def give_up_mirrors(self, reason: str, limit: int) -> list[GivenUp]:
        return await self.run(lambda db: mirrors.give_up_all(db, reason, time.time(), limit))

    # --- the submit queue

    @abstractmethod
    async def reclaim_space(
        self, pruned: int, to_free: PagesToFree, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """After a prune that removed `pruned` tasks (0: none, this time): let the space of
        deleted rows be used again, and give what can be back to the file system, as much
        as `to_free` says (receiver/retention/rules.py's pages_to_free); returns the bytes
        given back."""
