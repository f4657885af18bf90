"""The statements are written once for both backends: only those whose dialects really differ
are written per backend, and each backend has a text of every name the store runs."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

from receiver.kernel.store.migrate import migrate
from receiver.kernel.store.postgres.statements import POSTGRES, in_psycopg
from receiver.kernel.store.sql import TEXTS
from receiver.kernel.store.sql.text import PerBackend
from receiver.kernel.store.sqlite import SqliteDb, dict_row
from receiver.kernel.store.sqlite.statements import SQLITE, in_sqlite
from receiver.kernel.store.statements import Statements

NAMES = [f.name for f in dataclasses.fields(Statements)]
PER_BACKEND = {name: text for name, text in TEXTS.items() if isinstance(text, PerBackend)}
# What only one of the dialects reads: its placeholders, casts, row locks, index hints, lists
# and catalogue.
ONE_DIALECT = re.compile(
    r"%s|::|\$\d|INDEXED BY|FOR UPDATE|SKIP LOCKED|json_each|pragma_|pg_", re.IGNORECASE
)


def test_every_name_has_a_text_on_both_backends() -> None:
    assert sorted(TEXTS) == sorted(NAMES)
    for backend in (SQLITE, POSTGRES):
        assert [name for name in NAMES if not getattr(backend, name).strip()] == []


def test_at_most_fifteen_statements_are_written_per_backend() -> None:
    assert len(PER_BACKEND) <= 15, sorted(PER_BACKEND)
    # Each really differs: a statement the same on both would be written once.
    assert [name for name, text in PER_BACKEND.items() if text.sqlite == text.postgres] == []


def test_a_text_written_once_reads_the_same_on_both_dialects() -> None:
    shared = {name: text for name, text in TEXTS.items() if isinstance(text, str)}
    assert [name for name, text in shared.items() if ONE_DIALECT.search(text)] == []


def test_both_backends_take_the_same_parameters_for_each_statement() -> None:
    differ = [n for n in NAMES if getattr(SQLITE, n).count("?") != getattr(POSTGRES, n).count("%s")]
    assert differ == []
    assert [n for n in NAMES if "?" in getattr(POSTGRES, n)] == []


def test_placeholders_are_converted_outside_quoted_text_only() -> None:
    text = "SELECT '?', 'it''s = ANY(?)' FROM t WHERE a LIKE '50%' AND id = ANY(?) AND b = ?"
    assert in_psycopg(text) == (
        "SELECT '?', 'it''s = ANY(?)' FROM t WHERE a LIKE '50%%' AND id = ANY(%s) AND b = %s"
    )
    assert in_sqlite(text) == (
        "SELECT '?', 'it''s = ANY(?)' FROM t WHERE a LIKE '50%'"
        " AND id IN (SELECT value FROM json_each(?)) AND b = ?"
    )


def test_sqlite_accepts_every_statement_on_the_migrated_schema(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    conn.row_factory = dict_row
    migrate(SqliteDb(conn))
    for name in NAMES:
        text = getattr(SQLITE, name)
        conn.execute(f"EXPLAIN {text}", (None,) * text.count("?"))
