"""The SQLite backend: one process owns the file (receiver/kernel/store/sqlite/store.py), with
SQLite's text of each statement (`Sql.sqlite`, receiver/kernel/store/db.py)."""

from receiver.kernel.store.sqlite.store import SqliteDb, SqliteStore, dict_row

__all__ = ["SqliteDb", "SqliteStore", "dict_row"]
