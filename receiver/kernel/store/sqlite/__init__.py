"""The SQLite backend: one process owns the file (receiver/kernel/store/sqlite/store.py), with
SQLite's text of every statement (receiver/kernel/store/sqlite/statements.py)."""

from receiver.kernel.store.sqlite.store import SqliteDb, SqliteStore, dict_row

__all__ = ["SqliteDb", "SqliteStore", "dict_row"]
