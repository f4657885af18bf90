"""docs/performance.md keeps the current figures and how to reproduce them, not a journal of
every run: its history lives in git (issue 73)."""

from __future__ import annotations

from pathlib import Path

PERFORMANCE = Path(__file__).parents[2] / "docs" / "performance.md"
LIMIT = 30_000


def test_the_performance_page_stays_under_its_limit() -> None:
    size = len(PERFORMANCE.read_bytes())
    assert size <= LIMIT, f"docs/performance.md is {size} bytes: replace old figures, not add"
