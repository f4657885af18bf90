"""The README stays a front page: what the relay does, the two commands, and the way to the
guides, under 12,000 characters; the detail lives in docs/*.md."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
LIMIT = 12_000


def test_the_readme_stays_under_its_limit_with_what_it_must_say() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text) < LIMIT, f"README.md is {len(text)} characters: move detail to docs/"
    assert "## Two commands" in text and "bash .ci/run" in text and "receiver demo" in text
    assert ".venv/bin/receiver dev " in text  # the step after the demo
    guides = sorted(p.name for p in (README.parent / "docs").glob("*.md"))
    assert [g for g in guides if f"(docs/{g})" not in text] == []
