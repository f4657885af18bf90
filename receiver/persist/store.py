"""The store interface the service talks to: one async method per need, each running one
transaction function (tasks.py, observations.py, outbox.py, reads.py, downstreams.py,
managed.py, mirrors.py, sessions.py); the downstreams' methods are in downstream_store.py.

A backend only knows how to run a function inside a transaction (`_run`) and gives it a
`Db` (receiver/persist/db.py) with its own text of every statement; the logic is shared,
so both backends behave the same way by construction.
"""

from __future__ import annotations

import asyncio
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from receiver.domain.claims import ClaimPolicy
from receiver.domain.observation import Observation
from receiver.domain.queue import Refused
from receiver.domain.retention import Cursor, RetentionPolicy
from receiver.domain.routing import Subscriptions
from receiver.persist import (
    mirrors,
    observations,
    outbox,
    queue,
    reads,
    retention,
    sessions,
    tasks,
)
from receiver.persist.db import Db
from receiver.persist.downstream_store import DownstreamMethods
from receiver.persist.migrate import check_schema, migrate
from receiver.persist.mirrors import GivenUp, MirrorJob
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
    SubmitAttempt,
    SubmitJob,
    Task,
    TaskFilter,
)
from receiver.persist.retention import PruneStep

T = TypeVar("T")


class Store(DownstreamMethods, ABC):
    """Every method reads the clock inside its transaction, not when it is called: a job
    that waited in a queue (a slow disk, a database coming back) must not write a lease
    that has already run out."""

    #: True when one process owns the store (SQLite): at start, it may take every lease
    #: back at once instead of waiting for a killed predecessor's leases to expire.
    exclusive = False

    @abstractmethod
    async def _run(
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

    async def _read_apart(self, fn: Callable[[Db], T]) -> T:
        """A read that may scan many rows (a text search): one at a time per process, so
        searches cannot take every connection. SQLite runs it off the event loop."""
        async with self._searching:
            return await self._run(fn)

    @functools.cached_property
    def _searching(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(1)

    async def migrate(self) -> list[int]:
        # No deadline: an upgrade's migration may rewrite a large table.
        return await self._run(migrate, timeout=None)

    async def check_schema(self) -> None:
        # No deadline either: it waits for the migration lock while another process migrates.
        await self._run(check_schema, timeout=None)

    @abstractmethod
    def take_workers(self, deliveries: bool, polls: bool) -> None:
        """Make sure no other process does this work (delivering; polling and the rest of
        what `receiver serve` runs) on this store while this one lives, or raise StoreError,
        before any lease is touched."""

    async def release_all_leases(self, deliveries: bool, polls: bool, copies: bool = False) -> None:
        def release(db: Db) -> None:
            outbox.release_all_leases(db, deliveries, polls)
            if copies:
                mirrors.release_all_leases(db)

        await self._run(release)

    async def ping(self, timeout: float = 1.0) -> None:
        await self._run(lambda db: db.one(db.sql.PING), timeout=timeout)

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        def create(db: Db) -> tuple[Task, bool]:
            task, created = tasks.create_task(db, new, time.time())
            return queue.placed(db, [task])[0], created

        return await self._run(create)

    async def accept_submission(
        self,
        task_id: str,
        upstream_task_id: str,
        raw: str,
        next_poll_at: float,
        subscriptions: Subscriptions,
    ) -> Recorded:
        return await self._run(
            lambda db: observations.accept_submission(
                db, task_id, upstream_task_id, raw, next_poll_at, subscriptions, time.time()
            )
        )

    async def get_task(self, task_id: str) -> Task | None:
        def read(db: Db) -> Task | None:
            task = tasks.get_task(db, task_id)
            return queue.placed(db, [task])[0] if task is not None else None

        return await self._run(read)

    async def task_history(
        self, task_id: str, limit: int = 500
    ) -> tuple[list[Event], list[Delivery]]:
        return await self._run(lambda db: tasks.task_history(db, task_id, limit))

    async def event_bodies(
        self, task_id: str, limit: int = 500
    ) -> dict[str, tuple[dict[str, Any], str]]:
        return await self._run(lambda db: tasks.event_bodies(db, task_id, limit))

    async def list_tasks(self, wanted: TaskFilter) -> list[Task]:
        def read(db: Db) -> list[Task]:
            return queue.placed(db, tasks.list_tasks(db, wanted))

        return await (self._read_apart(read) if wanted.text else self._run(read))

    async def search_window_end(self, before: str | None, size: int) -> str | None:
        return await self._run(lambda db: tasks.search_window_end(db, before, size))

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
        subscriptions: Subscriptions,
    ) -> Recorded:
        return await self._run(
            lambda db: observations.record(
                db, task_id, source, dedupe_key, obs, raw, subscriptions, time.time()
            )
        )

    async def claim_deliveries(
        self, owner: str, lease: float, limit: int, downstream: str
    ) -> list[DeliveryJob]:
        # Not durable: a lease lost to a power cut only lets the delivery be sent again.
        return await self._run(
            lambda db: outbox.claim_deliveries(db, owner, time.time(), lease, limit, downstream),
            durable=False,
        )

    async def finish_attempt(
        self,
        attempt: Attempt,
        owner: str,
        next_attempt_at: float,
        health: AttemptHealth | None = None,
        posted: tuple[str, bool] | None = None,
    ) -> tuple[bool, bool]:
        # Not durable: an outcome lost to a power cut makes the delivery due again, and
        # deliveries are at least once.
        return await self._run(
            lambda db: outbox.finish_attempt(
                db, attempt, owner, next_attempt_at, time.time(), health, posted
            ),
            durable=False,
            urgent=False,
        )

    async def task_webhook_gone(self, task_id: str, reason: str, except_id: str) -> int:
        """The task's own webhook answered 410: it takes nothing more of this task. Its
        other unfinished deliveries there end; how many."""
        return await self._run(
            lambda db: tasks.webhook_gone(db, task_id, reason, except_id, time.time())
        )

    async def release_leases(self, owner: str) -> None:
        def release(db: Db) -> None:
            outbox.release_leases(db, owner)
            mirrors.release_leases(db, owner)

        await self._run(release)

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
        return await self._run(
            lambda db: outbox.claim_polls(db, owner, time.time(), lease, limit), durable=False
        )

    async def orphaned_submissions(self, started_before: float, limit: int = 100) -> list[str]:
        return await self._run(lambda db: queue.orphaned(db, started_before, limit))

    async def fail_orphaned_submission(
        self, task_id: str, subscriptions: Subscriptions
    ) -> Recorded:
        return await self._run(
            lambda db: queue.fail_orphan(db, task_id, subscriptions, time.time())
        )

    async def record_callback(
        self,
        task_id: str,
        dedupe_key: str,
        obs: Observation,
        raw: str,
        subscriptions: Subscriptions,
        policy: ClaimPolicy,
        take_poll: tuple[str, float] | None = None,
    ) -> Recorded:
        return await self._run(
            lambda db: observations.record_callback(
                db, task_id, dedupe_key, obs, raw, subscriptions, time.time(), policy, take_poll
            )
        )

    async def finish_poll(
        self,
        task_id: str,
        owner: str,
        answer: Observation | None,
        raw: str,
        subscriptions: Subscriptions,
        next_poll_at: float | None,
        window: float,
        mirror: bool = False,
        resubmits_allowed: int = 0,
        take_deliveries: tuple[frozenset[str], float] | None = None,
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
                resubmits_allowed,
                take_deliveries,
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

    async def revoke_session(self, session_id: str, expires_at: float) -> None:
        """End a console session on every replica (logging out)."""
        await self._run(lambda db: sessions.revoke(db, session_id, expires_at, time.time()))

    async def session_revoked(self, session_id: str) -> bool:
        return await self._run(lambda db: sessions.revoked(db, session_id))

    async def renew_mirror_leases(self, owner: str, event_ids: list[str], lease: float) -> int:
        return await self._run(lambda db: mirrors.renew(db, owner, event_ids, time.time() + lease))

    async def give_up_overdue_mirrors(
        self, wait: float, reason: Callable[[str | None], str], limit: int
    ) -> list[GivenUp]:
        """Fail the copies whose deliveries have waited `wait` seconds, unless a live worker
        holds them (its attempt ends by then)."""

        def give_up(db: Db) -> list[GivenUp]:
            now = time.time()
            return mirrors.give_up_overdue(db, now - wait, reason, now, limit)

        return await self._run(give_up)

    async def give_up_mirrors(self, reason: str, limit: int) -> list[GivenUp]:
        return await self._run(lambda db: mirrors.give_up_all(db, reason, time.time(), limit))

    # --- the submit queue

    async def claim_submits(self, owner: str, cap: int | None, limit: int) -> list[SubmitJob]:
        return await self._run(lambda db: queue.claim(db, owner, time.time(), cap, limit))

    async def submit_accepted(
        self,
        job: SubmitJob,
        owner: str,
        upstream_task_id: str,
        raw: str,
        next_poll_at: float,
        attempt: SubmitAttempt,
        subscriptions: Subscriptions,
    ) -> Recorded:
        return await self._run(
            lambda db: queue.accepted(
                db,
                job,
                owner,
                upstream_task_id,
                raw,
                next_poll_at,
                attempt,
                subscriptions,
                time.time(),
            )
        )

    async def submit_refused(
        self,
        job: SubmitJob,
        owner: str,
        refusal: Refused,
        attempt: SubmitAttempt,
        subscriptions: Subscriptions,
    ) -> Recorded | None:
        return await self._run(
            lambda db: queue.refused(db, job, owner, refusal, attempt, subscriptions, time.time())
        )

    async def cancel_waiting(self, task_id: str, subscriptions: Subscriptions) -> Recorded | None:
        return await self._run(
            lambda db: queue.cancel_waiting(db, task_id, subscriptions, time.time())
        )

    async def submit_attempts(self, task_id: str, limit: int = 500) -> list[SubmitAttempt]:
        return await self._run(lambda db: queue.attempts(db, task_id, limit))

    # --- retention (receiver/persist/retention.py)

    async def prune_step(
        self, policy: RetentionPolicy, cursor: Cursor, owner: str, lease: float
    ) -> PruneStep | None:
        """Delete the next batch of prunable tasks, holding the prune's lease for `lease`
        seconds more; None when another replica holds it."""

        def run(db: Db) -> PruneStep | None:
            now = time.time()
            if not retention.take_lease(db, owner, now, lease):
                return None
            return retention.step(db, policy, now, cursor, apply=True)

        return await self._run(run)

    async def preview_prune(self, policy: RetentionPolicy, cursor: Cursor) -> PruneStep:
        """What the batch past `cursor` would remove, counted, nothing deleted."""
        return await self._run(
            lambda db: retention.step(db, policy, time.time(), cursor, apply=False)
        )

    async def release_prune_lease(self, owner: str) -> None:
        await self._run(lambda db: retention.release_lease(db, owner))

    @abstractmethod
    async def reclaim_space(self, pruned: int, stopping: Callable[[], bool] = lambda: False) -> int:
        """After a prune that removed `pruned` tasks (0: none, this time): let the space of
        deleted rows be used again, and give what can be back to the file system; returns
        the bytes given back."""
