"""The expression pool (receiver/expressions/pool.py) with its real processes: one app's
flood refused in its own line while another app is served; a process killed under a batch
fails none of it; a line stopped lately batched apart. They start the pool's processes and
flood them for seconds of CPU, so they stand here rather than in tests/unit (whose pure
tests, the lines' turns, are tests/unit/test_expression_lines.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from importlib.util import find_spec

import pytest

from receiver.expressions import pool
from receiver.expressions.evaluate import evaluate
from receiver.kernel.errors import Overloaded

needs_cel = pytest.mark.skipif(find_spec("cel") is None, reason="the cel extra is not installed")


def _envelope(n: int, test: str) -> dict[str, object]:
    """Each test's own: the relay keeps the answers to requests asked before."""
    return {"type": "task.succeeded", "data": {"task_id": f"tsk_{test}_{n}"}}


# Reads the task's id: no two requests the same, so none is an answer kept from before.
HONEST = 'event.data.task_id != ""'
# About 57 ms of CPU per `matches`: stopped at 80 ms.
HUNGRY = "[" + ", ".join(["0"] * 100) + "].exists(x, 'a'.matches('\\\\w{200}')) || "


@needs_cel
def test_one_apps_flood_is_refused_in_its_own_line_and_another_app_is_served() -> None:
    """Before, the one line held everyone's: a's flood refused b's evaluations."""

    async def scenario() -> tuple[int, list[bool]]:
        try:
            flood = [
                asyncio.ensure_future(
                    evaluate(f"{HUNGRY}{n} == 0", None, _envelope(n, "flood"), "a")
                )
                for n in range(pool.SIZE * pool.DEPTH + pool.MAX_WAITING + 8)
            ]
            await asyncio.sleep(0)
            honest = [evaluate(HONEST, None, _envelope(n, "flood"), "b") for n in range(24)]
            answered = await asyncio.gather(*honest)
            done = await asyncio.gather(*flood, return_exceptions=True)
            return sum(isinstance(d, Overloaded) for d in done), [v.matched for v, _ in answered]
        finally:
            pool.close()

    refused, matched = asyncio.run(scenario())
    assert refused == 8
    assert matched == [True] * 24


@needs_cel
def test_a_process_killed_under_a_batch_fails_none_of_it() -> None:
    """Which request a killed process died on is not known: each is asked again alone, and
    answered. Before, the first of the batch was told it needed more than 512 MiB."""

    async def scenario() -> list[bool]:
        try:
            await evaluate(HONEST, None, _envelope(0, "killed"), "a")  # the processes started
            asked = [
                asyncio.ensure_future(evaluate(HONEST, None, _envelope(n, "killed"), "a"))
                for n in range(1, 9)
            ]
            while not any(w.out for w in pool.pool()._workers if w):  # the batch is out
                await asyncio.sleep(0)
            [out] = [w for w in pool.pool()._workers if w and w.out]
            assert len(out.out) == 8
            assert out.transport is not None
            os.killpg(out.transport.get_pid(), signal.SIGKILL)
            return [v.matched for v, _ in await asyncio.gather(*asked)]
        finally:
            pool.close()

    assert asyncio.run(scenario()) == [True] * 8


@needs_cel
def test_a_line_stopped_lately_is_batched_apart_and_costs_another_none() -> None:
    """Once one of a's is stopped, a's batches hold only a's: before, each batch began with
    a hostile one of a's whose stop sent b's honest ones beside it to be asked again, and
    again, while a's flood lasted. And none of a's goes to the reserved process: before, b's
    waited behind a's 80 ms stops on both."""

    reserved: set[str] = set()

    async def scenario() -> list[bool]:
        numbers = iter(range(10**6))
        stopping = asyncio.Event()

        async def flooding() -> None:
            while not stopping.is_set():
                n = next(numbers)
                with contextlib.suppress(Overloaded):
                    await evaluate(f"{HUNGRY}{n} == 0", None, _envelope(n, "apart"), "a")

        async def watching() -> None:
            """The lines of each batch the reserved process was sent after a's first stop."""
            while not stopping.is_set():
                first, stopped = pool.pool()._workers[0], pool.pool()._stopped.get("a")
                if first and stopped and first._sent_at > stopped - pool.APART_SECONDS:
                    reserved.update(asked.line for asked in first.out)
                await asyncio.sleep(0)

        try:
            flood = [asyncio.ensure_future(flooding()) for _ in range(pool.SIZE * pool.DEPTH)]
            watched = asyncio.ensure_future(watching())
            while next(numbers) < 2 * pool.SIZE * pool.DEPTH:  # a's have been stopped
                await asyncio.sleep(0.05)
            honest = [evaluate(HONEST, None, _envelope(n, "apart_b"), "b") for n in range(24)]
            # Bounded only so that a starved b fails the test rather than hanging it.
            answered = await asyncio.wait_for(asyncio.gather(*honest), timeout=60)
            stopping.set()
            await asyncio.gather(*flood, watched)
            return [v.matched for v, _ in answered]
        finally:
            pool.close()

    assert asyncio.run(scenario()) == [True] * 24
    assert reserved == {"b"}, "the reserved process took none of a's once a was stopped"
