"""Persist: the durable store, one backend of two (SQLite, PostgreSQL) behind `Store`."""

from receiver.kernel.store.store import Store, open_store

__all__ = ["Store", "open_store"]
