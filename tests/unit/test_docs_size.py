"""The hand-written guides (docs/*.md; docs/reference/ is written from the code) stay within
one budget: each task is told once, the reference is linked rather than restated, and past
measurements live in git's history (issue 83). The README's own limit is test_readme_size.py's."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
# 300,000 until issues 90-92 (an app's task-webhook keys, the shared things' table, the
# handshake's healing, paged lists, the CLI through the relay) added what they must say.
LIMIT = 310_000


def test_the_guides_stay_within_their_budget() -> None:
    sizes = {p.name: len(p.read_bytes()) for p in sorted(DOCS.glob("*.md"))}
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    assert total <= LIMIT, f"docs/*.md are {total} bytes, over {LIMIT}: link, not restate {largest}"
