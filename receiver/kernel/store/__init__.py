"""Persist: the durable store, one backend of two (SQLite, PostgreSQL) behind `Store`."""

from receiver.kernel.extras import require
from receiver.kernel.store.store import Store

__all__ = ["Store", "open_store"]


def open_store(url: str) -> Store:
    """The backend the storage URL names; nothing is connected until first use."""
    if url.startswith("sqlite:///"):
        from receiver.kernel.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    require("postgres", "storage.url (PostgreSQL)")
    from receiver.kernel.store.postgres.store import PostgresStore

    return PostgresStore(url)
