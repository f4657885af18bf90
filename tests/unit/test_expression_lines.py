"""The expression pool's waiting lines (receiver/expressions/lines.py, pool.py): a line per
app, served in turn and bounded on its own; a process that dies stops only the request it
died on. The pool's tests run its real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from importlib.util import find_spec

import pytest

from receiver.expressions import pool
from receiver.expressions.evaluate import evaluate
from receiver.expressions.lines import HALF_LIFE, Lines
from receiver.kernel.errors import Overloaded

pytestmark = pytest.mark.unit

needs_cel = pytest.mark.skipif(find_spec("cel") is None, reason="the cel extra is not installed")


def _taken(lines: Lines[str], n: int) -> list[str | None]:
    return [lines.take() for _ in range(n)]


def test_lines_take_turns_each_oldest_first() -> None:
    lines: Lines[str] = Lines()
    for n in range(4):
        lines.add("a", f"a{n}")
    lines.add("b", "b0")
    lines.add("c", "c0")
    lines.add("b", "b1")
    assert len(lines) == 7 and lines.waiting("a") == 4 and lines.waiting("z") == 0
    assert _taken(lines, 8) == ["a0", "b0", "c0", "a1", "b1", "a2", "a3", None]
    assert len(lines) == 0


def test_a_line_that_comes_back_waits_for_its_turn_after_the_others() -> None:
    lines: Lines[str] = Lines()
    lines.add("a", "a0")
    lines.add("b", "b0")
    assert lines.take() == "a0"  # a's line is empty: it leaves the turns
    lines.add("a", "a1")
    lines.add("c", "c0")
    assert _taken(lines, 3) == ["b0", "a1", "c0"]


def test_those_asked_again_are_first_in_their_own_line_only() -> None:
    lines: Lines[str] = Lines()
    lines.add("a", "a2")
    lines.add("b", "b0")
    lines.again("a", ["a0", "a1"])
    assert lines.waiting("a") == 3
    assert _taken(lines, 4) == ["a0", "b0", "a1", "a2"]
    lines.add("a", "x")
    lines.add("b", "y")
    assert sorted(lines.drain()) == ["x", "y"] and len(lines) == 0 and lines.take() is None


def test_a_line_that_used_less_of_the_processes_goes_first() -> None:
    """Before, the lines took turns by count: an app asking now and then waited a turn of
    each flooding app's, whatever its evaluations cost."""
    lines: Lines[str] = Lines()
    lines.spent("a", 0.08)  # a's cost 80 ms each, b's 30 us
    lines.spent("b", 0.00003)
    for n in range(3):
        lines.add("a", f"a{n}")
    lines.add("b", "b0")
    lines.add("b", "b1")
    assert _taken(lines, 6) == ["a0", "b0", "b1", "a1", "a2", None]


def test_what_a_line_used_counts_less_as_time_passes() -> None:
    """A line that flooded long ago is not held back behind one that asks now."""
    lines: Lines[str] = Lines()
    lines.spent("a", 1.0)
    lines.spent("b", 0.01)
    lines.add("a", "a0")
    assert lines.take(now=0.0) == "a0"  # a used 1 s
    later = 10 * HALF_LIFE  # by then, about 1 ms of it counts
    for n in range(5):
        lines.add("b", f"b{n}")
    assert [lines.take(now=later) for _ in range(4)] == ["b0", "b1", "b2", "b3"]  # b: 40 ms
    lines.add("a", "a1")
    assert lines.take(now=later) == "a1" and lines.take(now=later) == "b4"
    lines.add("a", "a2")
    lines.add("b", "b5")
    assert lines.take(now=later, may=lambda key: key != "b") == "a2"
    assert lines.take(now=later, may=lambda key: key != "b") is None


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
