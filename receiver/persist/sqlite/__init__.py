"""The SQLite backend: one process owns the file (receiver/persist/sqlite/store.py), with
SQLite's text of each statement (`Sql.sqlite`, receiver/persist/db.py)."""

from receiver.persist.sqlite.store import SqliteDb, SqliteStore, dict_row

__all__ = ["SqliteDb", "SqliteStore", "dict_row"]
