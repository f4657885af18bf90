"""The store interface the service talks to: one async method per need, each running one
transaction function (tasks.py, observations.py, outbox.py, reads.py, downstreams.py,
mirrors.py).

A backend only knows how to run a function inside a transaction (`_run`) and gives it a
`Db` (receiver/persist/db.py) with its own text of every statement; the logic is shared,
so both backends behave the same way by construction.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from receiver.domain.claims import ClaimPolicy
from receiver.domain.observation import Observation
from receiver.persist import downstreams, mirrors, observations, outbox, reads, tasks
from receiver.persist.db import Db
from receiver.persist.downstreams import DownstreamHealth
from receiver.persist.migrate import migrate
from receiver.persist.mirrors import MirrorJob
from receiver.persist.outbox import AttemptHealth
from receiver.persist.records import (
    Activity,
    Attempt,
    Change,
    Delivery,
    DeliveryJob,
    Event,
    NewTask,
    PollJob,
    PollResult,
    Recorded,
    Task,
    TaskFilter,
)

T = TypeVar("T")


class Store(ABC):
    """Every method reads the clock inside its transaction, not when it is called: a job
    that waited in a queue (a slow disk, a database coming back) must not write a lease
    that has already run out."""

    #: True when one process owns the store (SQLite): at start, it may take every lease
    #: back at once instead of waiting for a killed predecessor's leases to expire.
    exclusive = False

    @abstractmethod
    async def _run(self, fn: Callable[[Db], T], timeout: float | None = 0.0) -> T:
        """Run `fn` in one committed transaction; raise StoreError if it could not commit.
        `timeout`: seconds the caller waits (0: the backend's default; None: no limit)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def migrate(self) -> list[int]:
        # No deadline: an upgrade's migration may rewrite a large table.
        return await self._run(migrate, timeout=None)

    async def release_all_leases(self, deliveries: bool, polls: bool) -> None:
        await self._run(lambda db: outbox.release_all_leases(db, deliveries, polls))

    async def ping(self, timeout: float = 1.0) -> None:
        await self._run(lambda db: db.one(db.sql.PING), timeout=timeout)

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        return await self._run(lambda db: tasks.create_task(db, new, time.time()))

    async def accept_submission(
        self,
        task_id: str,
        upstream_task_id: str,
        raw: str,
        next_poll_at: float,
        subscriptions: dict[str, frozenset[str]],
    ) -> Recorded:
        return await self._run(
            lambda db: observations.accept_submission(
                db, task_id, upstream_task_id, raw, next_poll_at, subscriptions, time.time()
            )
        )

    async def get_task(self, task_id: str) -> Task | None:
        return await self._run(lambda db: tasks.get_task(db, task_id))

    async def task_history(
        self, task_id: str, limit: int = 500
    ) -> tuple[list[Event], list[Delivery]]:
        return await self._run(lambda db: tasks.task_history(db, task_id, limit))

    async def event_bodies(
        self, task_id: str, limit: int = 500
    ) -> dict[str, tuple[dict[str, Any], str]]:
        return await self._run(lambda db: tasks.event_bodies(db, task_id, limit))

    async def list_tasks(self, wanted: TaskFilter) -> list[Task]:
        return await self._run(lambda db: tasks.list_tasks(db, wanted))

    async def task_attempts(self, task_id: str, limit: int = 500) -> list[Attempt]:
        return await self._run(lambda db: reads.task_attempts(db, task_id, limit))

    async def changes(
        self, since: float, task_id: str | None = None, limit: int = 500
    ) -> list[Change]:
        return await self._run(lambda db: reads.changes(db, since, task_id, limit))

    async def activity(self, since: float) -> Activity:
        return await self._run(lambda db: reads.activity(db, since))

    async def record(
        self,
        task_id: str,
        source: str,
        dedupe_key: str,
        obs: Observation,
        raw: str,
        subscriptions: dict[str, frozenset[str]],
    ) -> Recorded:
        return await self._run(
            lambda db: observations.record(
                db, task_id, source, dedupe_key, obs, raw, subscriptions, time.time()
            )
        )

    async def claim_deliveries(
        self, owner: str, lease: float, limit: int, downstream: str
    ) -> list[DeliveryJob]:
        return await self._run(
            lambda db: outbox.claim_deliveries(db, owner, time.time(), lease, limit, downstream)
        )

    async def finish_attempt(
        self,
        attempt: Attempt,
        owner: str,
        next_attempt_at: float,
        health: AttemptHealth | None = None,
        posted: tuple[str, bool] | None = None,
    ) -> tuple[bool, bool]:
        return await self._run(
            lambda db: outbox.finish_attempt(
                db, attempt, owner, next_attempt_at, time.time(), health, posted
            )
        )

    async def register_downstreams(self, names: list[str]) -> None:
        await self._run(lambda db: downstreams.register(db, names))

    async def downstream_health(self, names: list[str]) -> list[DownstreamHealth]:
        return await self._run(lambda db: downstreams.health(db, names))

    async def disabled_downstreams(self) -> set[str]:
        return await self._run(downstreams.disabled_names)

    async def disable_downstream(
        self, name: str, reason: str, subscriptions: dict[str, frozenset[str]]
    ) -> bool:
        return await self._run(
            lambda db: downstreams.disable(db, name, reason, time.time(), subscriptions)
        )

    async def enable_downstream(self, name: str, recover_since: float | None) -> int:
        return await self._run(lambda db: downstreams.enable(db, name, recover_since, time.time()))

    async def note_breaker(self, name: str, state: str) -> None:
        await self._run(lambda db: downstreams.note_breaker(db, name, state, time.time()))

    async def release_leases(self, owner: str) -> None:
        await self._run(lambda db: outbox.release_leases(db, owner))

    async def list_deliveries(
        self,
        state: str | None = None,
        downstream: str | None = None,
        task_id: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        return await self._run(
            lambda db: outbox.list_deliveries(db, state, downstream, task_id, limit)
        )

    async def replay(self, delivery_ids: list[str]) -> int:
        return await self._run(lambda db: outbox.replay(db, delivery_ids, time.time()))

    async def replay_dead_letters(self, downstream: str) -> int:
        return await self._run(
            lambda db: outbox.replay(db, outbox.dead_letter_ids(db, downstream), time.time())
        )

    async def claim_polls(self, owner: str, lease: float, limit: int) -> list[PollJob]:
        return await self._run(lambda db: outbox.claim_polls(db, owner, time.time(), lease, limit))

    async def orphaned_submissions(self, created_before: float, limit: int = 100) -> list[str]:
        return await self._run(lambda db: outbox.orphaned_submissions(db, created_before, limit))

    async def record_callback(
        self,
        task_id: str,
        dedupe_key: str,
        obs: Observation,
        raw: str,
        subscriptions: dict[str, frozenset[str]],
        policy: ClaimPolicy,
    ) -> Recorded:
        return await self._run(
            lambda db: observations.record_callback(
                db, task_id, dedupe_key, obs, raw, subscriptions, time.time(), policy
            )
        )

    async def finish_poll(
        self,
        task_id: str,
        owner: str,
        answer: Observation | None,
        raw: str,
        subscriptions: dict[str, frozenset[str]],
        next_poll_at: float | None,
        window: float,
        mirror: bool = False,
    ) -> PollResult:
        return await self._run(
            lambda db: observations.finish_poll(
                db,
                task_id,
                owner,
                answer,
                raw,
                subscriptions,
                time.time(),
                next_poll_at,
                window,
                mirror,
            )
        )

    async def counts(self) -> dict[str, float]:
        return await self._run(reads.counts)

    async def mirroring(self, task_id: str) -> bool:
        return await self._run(lambda db: mirrors.copying(db, task_id))

    async def claim_mirrors(self, owner: str, lease: float, limit: int) -> list[MirrorJob]:
        return await self._run(lambda db: mirrors.claim(db, owner, time.time(), lease, limit))

    async def retry_mirror(
        self, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
    ) -> None:
        await self._run(lambda db: mirrors.retry(db, event_id, owner, at, reason, sources))

    async def finish_mirror(self, event_id: str, owner: str, media: dict[str, Any]) -> list[str]:
        return await self._run(lambda db: mirrors.finish(db, event_id, owner, media, time.time()))
