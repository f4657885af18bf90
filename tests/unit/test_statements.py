"""The statements are written once for both backends, beside the functions that run them: only
those whose dialects really differ are written per backend, side by side."""

from __future__ import annotations

import re
from pathlib import Path

from receiver.kernel.store.db import Sql, in_psycopg, in_sqlite
from tests.statements import every_statement
from tests.testkit import migrated_sqlite

EVERY = every_statement()
PER_BACKEND = {name: sql for name, sql in EVERY.items() if sql.per_backend}
# What only one of the dialects reads: its placeholders, casts, row locks, index hints, lists
# and catalogue.
ONE_DIALECT = re.compile(
    r"%s|::|\$\d|INDEXED BY|FOR UPDATE|SKIP LOCKED|json_each|pragma_|pg_", re.IGNORECASE
)


def test_the_statements_are_found_beside_the_code_that_runs_them() -> None:
    assert len(EVERY) > 150
    assert [name for name in EVERY if not name.startswith("receiver.")] == []


def test_at_most_fifteen_statements_are_written_per_backend() -> None:
    assert len(PER_BACKEND) <= 15, sorted(PER_BACKEND)
    # Each really differs: a statement the same on both would be written once.
    assert [name for name, sql in PER_BACKEND.items() if sql.sqlite == sql.postgres] == []


def test_a_text_written_once_reads_the_same_on_both_dialects() -> None:
    shared = {name: sql.written for name, sql in EVERY.items() if isinstance(sql.written, str)}
    assert [name for name, text in shared.items() if ONE_DIALECT.search(text)] == []


def test_both_backends_take_the_same_parameters_for_each_statement() -> None:
    differ = [n for n, sql in EVERY.items() if sql.sqlite.count("?") != sql.postgres.count("%s")]
    assert differ == []
    assert [n for n, sql in EVERY.items() if "?" in sql.postgres] == []


def test_a_statement_takes_one_text_or_both() -> None:
    for wrong in ({}, {"sqlite": "SELECT 1"}, {"text": "SELECT 1", "postgres": "SELECT 1"}):
        try:
            Sql(**wrong)
        except TypeError:
            continue
        raise AssertionError(f"Sql({wrong}) was taken")


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
    conn, _ = migrated_sqlite(tmp_path / "s.db")
    for sql in EVERY.values():
        conn.execute(f"EXPLAIN {sql.sqlite}", (None,) * sql.sqlite.count("?"))
