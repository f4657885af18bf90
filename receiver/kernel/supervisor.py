"""Keeps a process's background workers running: one that raises is logged, counted and
started again after a backoff, the process not ready until then (/readyz,
receiver/operator/probes.py). A transient fault (the store past its deadline as
the fan-out starts) then heals by itself, where the worker once stopped for the life of the
process, every delivery left pending with /readyz still ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from time import monotonic
from typing import Any

from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Counter

# A worker's run, a new coroutine at each call: its object kept, so what it holds (its
# in-flight work, its connections) carries over to the next start.
Worker = Callable[[], Coroutine[Any, Any, None]]

FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 60.0


class Supervisor:
    """Runs each worker as a task of its name. A worker that raised waits `first_wait`
    seconds, twice that after each failure in a row, at most `longest_wait`; one that ran
    `longest_wait` before raising starts over from `first_wait`. A worker that returns has
    ended as asked (`stopping` is set, or it has nothing to do); a cancelled one is not
    started again."""

    def __init__(
        self,
        log: Log,
        failures: Counter,
        first_wait: float = FIRST_WAIT_SECONDS,
        longest_wait: float = LONGEST_WAIT_SECONDS,
    ) -> None:
        self.down: set[str] = set()  # the workers waiting to be started again
        self._log = log
        self._failures = failures
        self._first_wait = first_wait
        self._longest_wait = longest_wait

    def start(self, name: str, worker: Worker, stopping: asyncio.Event) -> asyncio.Task[None]:
        """`worker()` in a task named `name`, started again after each failure until
        `stopping` is set."""
        return asyncio.create_task(self._keep(name, worker, stopping), name=name)

    async def _keep(self, name: str, worker: Worker, stopping: asyncio.Event) -> None:
        wait = self._first_wait
        while True:
            began = monotonic()
            try:
                await worker()
                return
            except Exception as exc:
                error = exc
            if monotonic() - began >= self._longest_wait:
                wait = self._first_wait  # it ran a while: not a failure in a row
            self._failures.labels(name).inc()
            if stopping.is_set():  # a shutdown: nothing is started again
                self._log.error("worker.failed", worker=name, exc_info=error)
                return
            # An error, not critical: it is tried again (a StoreSlow's line is a warning,
            # receiver/kernel/observability/logs.py); /readyz says it is down meanwhile.
            self._log.error("worker.failed", worker=name, restart_in_seconds=wait, exc_info=error)
            self.down.add(name)
            try:
                if await _stopped_within(stopping, wait):
                    return
            finally:
                self.down.discard(name)
            self._log.info("worker.restarted", worker=name)
            wait = min(2 * wait, self._longest_wait)


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Whether `stopping` was set within `seconds`: a shutdown never waits out a backoff."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True
