"""Work handed over inside the process: work made in a transaction is leased to this
process in it and handed, once it commits, to the worker (`taker`) running here, with no
claim transaction and no wait for the worker's next turn. Work no worker takes here waits in
the store, its workers woken (`Wakers`) when a change gives them something new."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import PollJob, PollResult, Recorded, Wakeups, Work
from receiver.lifecycle.rules.task import ClaimPolicy
from receiver.lifecycle.transactions.observe import Report
from receiver.outbox.rows.outbox import Handing
from receiver.outbox.rules.delivery import DeliveryJob


class PollTaker(Protocol):
    def start(self, job: PollJob) -> None: ...

    async def settle_now(
        self, task_id: str, report: Report, claims: ClaimPolicy, within: float
    ) -> Recorded | None: ...


class PollHandoff:
    """Polls handed over by callbacks: at most `limit` running in this process's poller,
    asked in the callback's request (`settle_now`) or after it (`give`); past it, a callback
    leaves its poll to the poller's own claim."""

    def __init__(self) -> None:
        self.taker: PollTaker | None = None
        self.limit = 0
        self._busy = 0

    def lease_for(self, lease: PollLease) -> PollLease | None:
        """What a callback's transaction should lease its poll with, if there is room."""
        return lease if self._busy < self.limit else None

    async def settle_now(
        self, task_id: str, report: Report, claims: ClaimPolicy, within: float
    ) -> Recorded | None:
        """A callback's claim and CometAPI's answer, recorded in one transaction by this
        process's poller; None (nothing stored) when it is not asked now, or not answered in
        time."""
        taker = self.taker
        if taker is None or within <= 0 or self._busy >= self.limit:
            return None
        self._busy += 1
        try:
            return await taker.settle_now(task_id, report, claims, within)
        finally:
            self._busy -= 1

    def give(self, job: PollJob) -> None:
        """A poll the callback's transaction leased, started at once."""
        if self.taker is not None:
            self._busy += 1
            self.taker.start(job)

    def done(self) -> None:
        self._busy -= 1


class DeliveryTaker(Protocol):
    def start(self, jobs: list[DeliveryJob]) -> None: ...


class DeliveryHandoff:
    """Deliveries handed over by the transactions that make them: with a fan-out running
    here, a transaction leases its new rows to this process (`handing`), and the fan-out is
    handed them once it commits; with none, the rows wait for the claims."""

    def __init__(self) -> None:
        self.taker: DeliveryTaker | None = None

    def handing(self, owner: str, lease_seconds: float) -> Handing | None:
        """How a transaction about to run leases its new rows to this process, or None."""
        if self.taker is None:
            return None
        return Handing(owner, time.time() + lease_seconds)

    def committed(self, result: PollResult, wakers: Wakers) -> None:
        """Once an answer's transaction committed: its workers woken, its deliveries started."""
        handed, recorded = result.handed, result.recorded
        if recorded is not None and recorded.outcome == "applied":
            wakers.recorded(recorded, frozenset(job.delivery.id for job in handed))
        if handed and (taker := self.taker) is not None:
            taker.start(handed)


class TaskChanges:
    """Requests waiting for a change to one task, woken as this process records one (one
    another replica records is read when the wait runs out)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}

    def changed(self, task_id: str) -> None:
        for waiter in self._waiting.pop(task_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, task_id: str, timeout: float) -> bool:
        """Whether a change to `task_id` was recorded within `timeout` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(task_id, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if self._waiting.get(task_id) is waiters:  # not told (a change takes the list)
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[task_id]


class Wakers:
    """This process's workers, each asleep until its tick ends or a committed change gives
    it work (`rule` says which), and the requests waiting on one task's next change."""

    def __init__(self, rule: Wakeups) -> None:
        self.rule = rule
        self.task_changes = TaskChanges()
        self._ready = {
            work: asyncio.Event()
            for work in (Work.DELIVERIES, Work.POLLS, Work.MIRRORS, Work.SUBMITS)
        }
        self._by_bit = [(work.value, ready) for work, ready in self._ready.items()]

    def wake(self, work: Work) -> None:
        # On the flags' bits: a Flag's `in` runs in Python, twice a callback per worker.
        wanted = work.value
        if wanted:
            for bit, ready in self._by_bit:
                if bit & wanted:
                    ready.set()

    def wake_deliveries(self) -> None:
        """The fan-out, for outbox rows made outside a recording (a replay, an alert)."""
        self.wake(Work.DELIVERIES)

    def recorded(self, recorded: Recorded, handed: frozenset[str] = frozenset()) -> None:
        """Wake those waiting on a recorded observation's task, and what it gives work to."""
        if recorded.task is not None:
            self.task_changes.changed(recorded.task.id)
        # `wake`'s loop, here: the rule's answer is applied without another call back
        # into this module, on a callback's path (docs/development.md).
        wanted = self.rule.work_after(recorded, handed).value
        if wanted:
            for bit, ready in self._by_bit:
                if bit & wanted:
                    ready.set()

    async def wait(self, work: Work, timeout: float) -> None:
        """Until `work`'s worker is woken, or `timeout` seconds pass."""
        ready = self._ready[work]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout)
        ready.clear()
