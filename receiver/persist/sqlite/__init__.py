"""The SQLite backend: one process owns the file (receiver/persist/sqlite/store.py), with
SQLite's text of every statement (receiver/persist/sqlite/statements.py)."""

from receiver.persist.sqlite.store import SqliteDb, SqliteStore, dict_row

__all__ = ["SqliteDb", "SqliteStore", "dict_row"]
