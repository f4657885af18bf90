"""Every `receiver/...` path named in the code, the tests, the benches and the docs exists:
a file or folder that moves is renamed wherever it is named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A path of the package, not the tail of a longer one (`build/lib/receiver/...`).
NAMED = re.compile(r"(?<![\w./-])receiver/[\w./-]*")
# A shipped migration is checksummed, so its words are history: it names the modules of
# its day (receiver/kernel/store/migrate.py refuses a changed one).
MIGRATIONS = ROOT / "receiver" / "kernel" / "store" / "migrations"


def _texts() -> Iterator[tuple[Path, str]]:
    """README.md, docs/*.md, and every text file of receiver/, tests/ and bench/."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("receiver", "tests", "bench"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file())
    for path in files:
        if "__pycache__" in path.parts or MIGRATIONS in path.parents:
            continue
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # an image, a font


def _named() -> list[tuple[str, str]]:
    """(where, path) for every `receiver/...` path named, patterns (`receiver/x/...`) aside."""
    found = set()
    for path, text in _texts():
        for number, line in enumerate(text.splitlines(), 1):
            for token in NAMED.findall(line):
                if "..." not in token:
                    found.add((f"{path.relative_to(ROOT)}:{number}", token.rstrip(".,:;")))
    return sorted(found)


NAMED_PATHS = _named()


@pytest.mark.parametrize(("where", "named"), NAMED_PATHS, ids=[":".join(n) for n in NAMED_PATHS])
def test_every_receiver_path_named_exists(where: str, named: str) -> None:
    assert (ROOT / named).exists(), f"{where} names {named}, which does not exist"
