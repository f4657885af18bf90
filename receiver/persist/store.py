"""The store interface the service talks to: async methods over `queries`, one per need.

A backend only knows how to run a function inside a transaction (`_run`); everything
else is shared, so both backends behave the same way by construction.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from receiver.parse import Observation
from receiver.persist import queries
from receiver.persist.queries import Db
from receiver.persist.records import (
    Delivery,
    DeliveryJob,
    Event,
    NewTask,
    PollJob,
    Recorded,
    Task,
)

T = TypeVar("T")


class Store(ABC):
    #: True when one process owns the store (SQLite): at start, it may take every lease
    #: back at once instead of waiting for a killed predecessor's leases to expire.
    exclusive = False

    @abstractmethod
    async def _run(self, fn: Callable[[Db], T]) -> T:
        """Run `fn` in one committed transaction; raise if it could not commit."""

    @abstractmethod
    async def close(self) -> None: ...

    async def migrate(self) -> list[int]:
        return await self._run(queries.migrate)

    async def release_all_leases(self, deliveries: bool, polls: bool) -> None:
        await self._run(lambda db: queries.release_all_leases(db, deliveries, polls))

    async def ping(self) -> None:
        await self._run(lambda db: db.one("SELECT 1 AS ok"))

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        now = time.time()
        return await self._run(lambda db: queries.create_task(db, new, now))

    async def accept_submission(
        self,
        task_id: str,
        upstream_task_id: str,
        raw: str,
        next_poll_at: float,
        subscriptions: dict[str, frozenset[str]],
    ) -> Recorded:
        now = time.time()
        return await self._run(
            lambda db: queries.accept_submission(
                db, task_id, upstream_task_id, raw, next_poll_at, subscriptions, now
            )
        )

    async def get_task(self, task_id: str) -> Task | None:
        return await self._run(lambda db: queries.get_task(db, task_id))

    async def task_history(self, task_id: str) -> tuple[list[Event], list[Delivery]]:
        return await self._run(lambda db: queries.task_history(db, task_id))

    async def list_tasks(
        self, state: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[Task]:
        return await self._run(lambda db: queries.list_tasks(db, state, limit, before))

    async def record(
        self,
        task_id: str,
        source: str,
        dedupe_key: str,
        obs: Observation,
        raw: str,
        subscriptions: dict[str, frozenset[str]],
    ) -> Recorded:
        now = time.time()
        return await self._run(
            lambda db: queries.record(db, task_id, source, dedupe_key, obs, raw, subscriptions, now)
        )

    async def claim_deliveries(self, owner: str, lease: float, limit: int) -> list[DeliveryJob]:
        now = time.time()
        return await self._run(lambda db: queries.claim_deliveries(db, owner, now, lease, limit))

    async def finish_attempt(
        self,
        delivery_id: str,
        owner: str,
        state: str,
        next_attempt_at: float,
        status: int | None,
        error: str | None,
    ) -> bool:
        now = time.time()
        return await self._run(
            lambda db: queries.finish_attempt(
                db, delivery_id, owner, state, next_attempt_at, status, error, now
            )
        )

    async def release_leases(self, owner: str) -> None:
        await self._run(lambda db: queries.release_leases(db, owner))

    async def list_deliveries(
        self,
        state: str | None = None,
        downstream: str | None = None,
        task_id: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        return await self._run(
            lambda db: queries.list_deliveries(db, state, downstream, task_id, limit)
        )

    async def replay(self, delivery_ids: list[str]) -> int:
        now = time.time()
        return await self._run(lambda db: queries.replay(db, delivery_ids, now))

    async def replay_dead_letters(self, downstream: str) -> int:
        now = time.time()
        return await self._run(
            lambda db: queries.replay(db, queries.dead_letter_ids(db, downstream), now)
        )

    async def claim_polls(self, owner: str, lease: float, limit: int) -> list[PollJob]:
        now = time.time()
        return await self._run(lambda db: queries.claim_polls(db, owner, now, lease, limit))

    async def orphaned_submissions(self, created_before: float, limit: int = 100) -> list[str]:
        return await self._run(lambda db: queries.orphaned_submissions(db, created_before, limit))

    async def reschedule_poll(self, task_id: str, owner: str, next_poll_at: float | None) -> None:
        await self._run(lambda db: queries.reschedule_poll(db, task_id, owner, next_poll_at))

    async def counts(self) -> dict[str, int]:
        return await self._run(queries.counts)


def open_store(url: str) -> Store:
    """The backend the storage URL names; nothing is connected until first use."""
    if url.startswith("sqlite:///"):
        from receiver.persist.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    from receiver.persist.postgres import PostgresStore

    return PostgresStore(url)
