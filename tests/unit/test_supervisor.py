"""The supervisor of a process's background workers (receiver/kernel/supervisor.py): a worker
that raises is started again after a backoff that doubles, starts over once a worker ran a
while, is down (for /readyz) only between a failure and its restart, never outlasts a stop,
and a cancelled worker stays stopped. Waits of milliseconds: the clock of "ran a while" is
the module's, moved by hand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from receiver.kernel import supervisor
from receiver.kernel.observability import logs
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.supervisor import Supervisor
from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels

FIRST, LONGEST = 0.001, 0.008


def _supervisor(first: float = FIRST) -> tuple[Supervisor, Metrics]:
    metrics = Metrics(DELIVERY_STATES, DownstreamLabels())
    return Supervisor(logs.get_logger("test"), metrics.worker_failures, first, LONGEST), metrics


def _failures(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value("relay_worker_failures_total", {"worker": name})


class Flaky:
    """A worker that raises `failures` times, then runs until `stopping`; `ran` (the
    module's clock moved this much) before each of its failures, by turn."""

    def __init__(self, stopping: asyncio.Event, failures: int, ran: dict[int, float]) -> None:
        self.stopping, self.failures, self.ran = stopping, failures, ran
        self.calls = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            _clock[0] += self.ran.get(self.calls, 0.0)
            raise RuntimeError(f"failure {self.calls}")
        self.running.set()
        await self.stopping.wait()


_clock = [0.0]


@pytest.fixture(autouse=True)
def hand_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _clock[0] = 0.0
    logs.configure("info")  # the restarts' lines are info: another test may leave warning
    monkeypatch.setattr(supervisor, "monotonic", lambda: _clock[0])


def test_a_failed_worker_is_started_again_with_a_doubling_wait_then_stops_when_asked() -> None:
    async def go() -> tuple[list[dict[str, Any]], Flaky, Metrics, asyncio.Task[None]]:
        stopping = asyncio.Event()
        workers, metrics = _supervisor()
        flaky = Flaky(stopping, failures=5, ran={})
        with capture_logs() as lines:
            task = workers.start("poller", flaky.run, stopping)
            await flaky.running.wait()
            assert workers.down == set()  # running again: up
            stopping.set()
            await task
        return lines, flaky, metrics, task

    lines, flaky, metrics, task = asyncio.run(go())
    assert task.get_name() == "poller" and task.result() is None
    assert flaky.calls == 6
    assert _failures(metrics, "poller") == 5
    failed = [line for line in lines if line["event"] == "worker.failed"]
    # 1, 2, 4, 8 ms: at most the longest wait.
    assert [line["restart_in_seconds"] for line in failed] == [0.001, 0.002, 0.004, 0.008, 0.008]
    assert {line["worker"] for line in failed} == {"poller"}
    assert str(failed[0]["exc_info"]) == "failure 1"
    assert [line["event"] for line in lines].count("worker.restarted") == 5


def test_a_worker_that_ran_a_while_waits_the_first_wait_again() -> None:
    async def go() -> list[float]:
        stopping = asyncio.Event()
        workers, _ = _supervisor()
        # Its third run lasts the longest wait before it raises: not a failure in a row.
        flaky = Flaky(stopping, failures=4, ran={3: LONGEST})
        with capture_logs() as lines:
            task = workers.start("fanout", flaky.run, stopping)
            await flaky.running.wait()
            stopping.set()
            await task
        return [line["restart_in_seconds"] for line in lines if line["event"] == "worker.failed"]

    assert asyncio.run(go()) == [0.001, 0.002, 0.001, 0.002]


def test_a_worker_waiting_to_restart_is_down_and_a_stop_ends_the_wait_at_once() -> None:
    async def go() -> tuple[set[str], Flaky, Supervisor]:
        stopping = asyncio.Event()
        workers, _ = _supervisor(first=3600.0)  # longer than any run of the suite
        flaky = Flaky(stopping, failures=1, ran={})
        task = workers.start("fanout", flaky.run, stopping)
        while not workers.down:
            await asyncio.sleep(0)  # the worker's turn: it raises at once
        down = set(workers.down)
        stopping.set()
        await task
        return down, flaky, workers

    down, flaky, workers = asyncio.run(go())
    assert down == {"fanout"}
    assert flaky.calls == 1  # not started again: stopping was set during its wait
    assert workers.down == set()


def test_a_cancelled_worker_is_not_started_again() -> None:
    async def go() -> tuple[Flaky, Supervisor, asyncio.Task[None], Metrics]:
        stopping = asyncio.Event()
        workers, metrics = _supervisor()
        flaky = Flaky(stopping, failures=0, ran={})
        task = workers.start("mirror", flaky.run, stopping)
        await flaky.running.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return flaky, workers, task, metrics

    flaky, workers, task, metrics = asyncio.run(go())
    assert task.cancelled() and flaky.calls == 1
    assert workers.down == set() and _failures(metrics, "mirror") is None


def test_cancelled_while_waiting_to_restart_it_is_no_longer_down() -> None:
    async def go() -> tuple[Flaky, Supervisor]:
        stopping = asyncio.Event()
        workers, _ = _supervisor(first=3600.0)
        flaky = Flaky(stopping, failures=1, ran={})
        task = workers.start("retention", flaky.run, stopping)
        while not workers.down:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return flaky, workers

    flaky, workers = asyncio.run(go())
    assert flaky.calls == 1 and workers.down == set()


def test_a_worker_that_fails_during_a_shutdown_is_not_said_to_restart() -> None:
    async def go() -> tuple[Flaky, Supervisor, Metrics]:
        stopping = asyncio.Event()
        stopping.set()  # the shutdown began: the worker's failure is its last
        workers, metrics = _supervisor()
        flaky = Flaky(stopping, failures=1, ran={})
        await workers.start("poller", flaky.run, stopping)
        return flaky, workers, metrics

    with capture_logs() as lines:
        flaky, workers, metrics = asyncio.run(go())
    failed = [line for line in lines if line["event"] == "worker.failed"]
    assert flaky.calls == 1 and workers.down == set()
    assert len(failed) == 1 and "restart_in_seconds" not in failed[0]
    assert _failures(metrics, "poller") == 1
