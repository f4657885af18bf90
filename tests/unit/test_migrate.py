"""Migrations are SQL files applied once; an applied one that was edited stops start-up, and
so does a database that a newer release has migrated."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace

import pytest

from receiver.kernel.errors import StoreError
from receiver.kernel.store.db import Sql
from receiver.kernel.store.migrate import Migration, check_schema, migrate, migrations, newer_schema
from receiver.kernel.store.sqlite import SqliteDb, dict_row


def open_db() -> tuple[sqlite3.Connection, SqliteDb]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = dict_row
    return conn, SqliteDb(conn)


def test_files_are_numbered_in_order_and_apply_once() -> None:
    shipped = migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    _, db = open_db()
    assert migrate(db) == [m.version for m in shipped]
    assert migrate(db) == []
    sums = {r["version"]: r["checksum"] for r in db.all(Sql("SELECT * FROM migration_checksums"))}
    assert sums == {m.version: m.checksum for m in shipped}


def test_an_applied_migration_that_was_edited_stops_start_up() -> None:
    _, db = open_db()
    shipped = migrations()
    migrate(db)
    edited = [*shipped[:-1], replace(shipped[-1], sql=shipped[-1].sql + "\n-- tidied\n")]
    for check in (migrate, check_schema):  # the check before start-up says it too
        with pytest.raises(StoreError, match=f"{shipped[-1].name} was edited after it was"):
            check(db, edited)


def test_a_database_from_before_checksums_adopts_the_shipped_ones() -> None:
    _, db = open_db()
    migrate(db)
    db.execute(Sql("DELETE FROM migration_checksums"))
    assert migrate(db) == []
    assert len(db.all(Sql("SELECT * FROM migration_checksums"))) == len(migrations())


def test_a_database_a_newer_release_migrated_stops_start_up_naming_both_versions() -> None:
    _, db = open_db()
    shipped = migrations()
    newer = Migration(shipped[-1].version + 1, "9999_later.sql", "CREATE TABLE later (id INT)")
    migrate(db, [*shipped, newer])
    expected = f"schema is at version {newer.version}, newer than this release knows \\(up to"
    with pytest.raises(StoreError, match=f"{expected} {shipped[-1].version}\\)"):
        migrate(db)
    with pytest.raises(StoreError, match=expected):
        check_schema(db)
    # Nothing of the older release was applied over it.
    assert db.all(Sql("SELECT version FROM schema_migrations ORDER BY version"))[-1] == {
        "version": newer.version
    }


def test_the_schema_check_accepts_what_this_release_knows_and_applies_nothing() -> None:
    _, db = open_db()
    check_schema(db)  # an empty database
    assert db.all(Sql("SELECT version FROM schema_migrations")) == []
    migrate(db, migrations()[:3])
    check_schema(db)  # an older schema: this release will migrate it
    assert len(db.all(Sql("SELECT version FROM schema_migrations"))) == 3


def test_newer_schema_names_the_newest_applied_and_the_newest_shipped() -> None:
    assert newer_schema({1, 2, 3}, [1, 2, 3, 4]) is None
    assert newer_schema(set(), [1, 2]) is None
    refusal = newer_schema({1, 2, 3, 7, 5}, [1, 2, 3])
    assert refusal is not None and "at version 7" in refusal and "(up to 3)" in refusal


_BEFORE_THE_RULE = {"0005_drop_has_callback.sql"}


def contracts(statement: str) -> bool:
    """Whether a statement takes away what the previous release may still read or write: only
    a release after the one that stopped using it may (docs/development.md)."""
    text = " ".join(statement.upper().split())
    if re.search(r"\bDROP (COLUMN|TABLE)\b|\bRENAME\b", text):
        return True
    # An older replica's INSERT does not name a column it does not know.
    return "ADD COLUMN" in text and "NOT NULL" in text and "DEFAULT" not in text


def contracts_unannounced(migration: Migration) -> list[str]:
    """The statements of `migration` that contract the schema without saying so."""
    if "-- contract:" in migration.sql:
        return []
    return [s for s in migration.statements() if contracts(s)]


def test_migrations_expand_and_contract_only_when_they_say_so() -> None:
    found = {m.name: contracts_unannounced(m) for m in migrations()}
    assert {name for name, hits in found.items() if hits} == _BEFORE_THE_RULE, found


@pytest.mark.parametrize(
    ("sql", "contracts"),
    [
        ("ALTER TABLE tasks ADD COLUMN note TEXT", False),
        ("ALTER TABLE tasks ADD COLUMN tries INTEGER NOT NULL DEFAULT 0", False),
        ("CREATE TABLE t (id TEXT NOT NULL, n INTEGER)", False),
        ("DROP INDEX IF EXISTS tasks_created", False),
        ("ALTER TABLE tasks ADD COLUMN tries INTEGER NOT NULL", True),
        ("ALTER TABLE tasks DROP COLUMN has_callback", True),
        ("ALTER TABLE tasks RENAME COLUMN a TO b", True),
        ("DROP TABLE old_things", True),
        ("-- contract: has_callback, unused since 0.4\nALTER TABLE tasks DROP COLUMN x", False),
    ],
)
def test_what_counts_as_contracting(sql: str, contracts: bool) -> None:
    assert bool(contracts_unannounced(Migration(99, "0099_x.sql", sql))) is contracts
