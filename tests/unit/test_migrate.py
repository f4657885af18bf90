"""Migrations are SQL files applied once; an applied one that was edited stops start-up."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from receiver.errors import StoreError
from receiver.persist.migrate import migrate, migrations
from receiver.persist.sqlite import SqliteDb, dict_row


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
    sums = {r["version"]: r["checksum"] for r in db.all("SELECT * FROM migration_checksums")}
    assert sums == {m.version: m.checksum for m in shipped}


def test_an_applied_migration_that_was_edited_stops_start_up() -> None:
    _, db = open_db()
    shipped = migrations()
    migrate(db)
    edited = [*shipped[:-1], replace(shipped[-1], sql=shipped[-1].sql + "\n-- tidied\n")]
    with pytest.raises(StoreError, match=f"{shipped[-1].name} was edited after it was applied"):
        migrate(db, edited)


def test_a_database_from_before_checksums_adopts_the_shipped_ones() -> None:
    _, db = open_db()
    migrate(db)
    db.execute("DELETE FROM migration_checksums")
    assert migrate(db) == []
    assert len(db.all("SELECT * FROM migration_checksums")) == len(migrations())
