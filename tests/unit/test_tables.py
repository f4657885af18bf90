"""Each of these tables is written in one place: every statement that inserts, updates or
deletes `tasks`, `events` or `mirrors` stands in that table's module or folder under
receiver/lifecycle/rows/, `deliveries` (the outbox) in receiver/outbox/rows/outbox.py
and `downstreams` in receiver/downstreams/rows.py; every other part of the relay calls
their functions. A schema change reads one place, not the house."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from tests.sources import parsed

PACKAGE = Path(__file__).resolve().parents[2] / "receiver"
ROWS = PACKAGE / "lifecycle" / "rows"
HOMES = {
    "tasks": ROWS / "tasks",
    "events": ROWS / "events.py",
    "deliveries": PACKAGE / "outbox" / "rows" / "outbox.py",
    "mirrors": ROWS / "mirrors.py",
    "downstreams": PACKAGE / "downstreams" / "rows.py",
}
# A shipped migration is history (checksummed): it writes the tables of its day.
MIGRATIONS = PACKAGE / "kernel" / "store" / "migrations"

WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(" + "|".join(HOMES) + r")\b",
    re.IGNORECASE,
)
# `ON CONFLICT ... DO UPDATE SET` and `FOR UPDATE` name no table to write; an UPDATE after
# either is theirs.
NOT_A_WRITE = re.compile(r"\b(DO|FOR)\s*$", re.IGNORECASE)


def _texts(path: Path) -> Iterator[str]:
    """The SQL a file may hold: a module's string values (implicit concatenations whole, an
    f-string's literal parts; never its docstrings or comments), a .sql file's text."""
    if path.suffix == ".sql":
        yield path.read_text()
        return
    tree = parsed(path)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.value
        elif isinstance(node, ast.JoinedStr):
            yield " ? ".join(
                part.value
                for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )


def writes(text: str) -> list[str]:
    """The tables `text` inserts into, updates or deletes from."""
    return [m[2].lower() for m in WRITE.finditer(text) if not NOT_A_WRITE.search(text[: m.start()])]


@functools.cache
def _found() -> dict[str, list[Path]]:
    """table -> every file that writes it, once each (read once a run: two tests ask)."""
    found: dict[str, list[Path]] = {table: [] for table in HOMES}
    for path in sorted((*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.sql"))):
        if MIGRATIONS in path.parents:
            continue
        for table in sorted({t for text in _texts(path) for t in writes(text)}):
            found[table].append(path)
    return found


def _at_home(table: str, path: Path) -> bool:
    home = HOMES[table]
    return path == home or home in path.parents


def test_each_table_is_written_in_its_own_module_or_folder_only() -> None:
    away = sorted(
        f"{path.relative_to(PACKAGE.parent)} writes {table}"
        for table, paths in _found().items()
        for path in paths
        if not _at_home(table, path)
    )
    assert away == []


def test_each_home_holds_its_tables_writes() -> None:
    """The search finds what it looks for: each table's home writes it."""
    found = _found()
    assert {table: any(_at_home(table, p) for p in found[table]) for table in HOMES} == {
        table: True for table in HOMES
    }


def test_a_write_is_told_from_an_upsert_and_a_row_lock() -> None:
    assert writes("UPDATE tasks SET state = ? WHERE id = ?") == ["tasks"]
    assert writes("insert into events (id) values (?)") == ["events"]
    assert writes("DELETE\n FROM mirrors WHERE task_id = ANY(?)") == ["mirrors"]
    assert writes("SELECT * FROM tasks WHERE id = ? FOR UPDATE") == []
    assert writes("SELECT * FROM deliveries d FOR UPDATE OF d SKIP LOCKED") == []
    upsert = "INSERT INTO runway_uploaders (uploader) VALUES (?) ON CONFLICT (uploader) DO UPDATE"
    assert writes(upsert + " SET uploader = excluded.uploader") == []
    assert writes("UPDATE downstreams_archive SET x = 1") == []  # another table
    assert writes("UPDATE submit_gate SET paused_until = ?") == []


def test_the_migrations_are_history_not_writers() -> None:
    """Migrations write the tables of their day (exempt above), and the search sees them."""
    migrated = {t for path in MIGRATIONS.glob("*.sql") for t in writes(path.read_text())}
    assert migrated
