"""The expression pool's waiting lines (receiver/expressions/lines.py): a line per app,
served in turn, the least used lately first. The pool's own processes, flooded and killed,
are tested in tests/e2e/test_expression_pool.py: those tests start them."""

from __future__ import annotations

import pytest

from receiver.expressions.lines import HALF_LIFE, Lines

pytestmark = pytest.mark.unit


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
