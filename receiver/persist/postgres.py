"""PostgreSQL backend, for several replicas on one database.

Runs the same `queries` functions as SQLite, on a pool of connections each used from a
worker thread. Claims use `FOR UPDATE SKIP LOCKED` so replicas never take the same row,
and migrations take an advisory lock so replicas starting together apply them once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from receiver.persist.store import Store

T = TypeVar("T")
_MIGRATION_LOCK = 0x72756E77  # any constant shared by every replica
_CONNECT_TIMEOUT = 5  # seconds


class StoreUnreachable(ConnectionError):
    """PostgreSQL refused or did not answer a connection; the message is one line."""


@functools.lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    # queries.py writes `?` placeholders (SQLite's style); psycopg wants `%s`.
    return sql.replace("%", "%%").replace("?", "%s")


class _PgDb:
    skip_locked = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"
    due_index = ""  # the planner has statistics

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(_pg_sql(sql), params).rowcount

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        return self._conn.execute(_pg_sql(sql), params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self._conn.execute(_pg_sql(sql), params).fetchall()

    def script(self, sql: str) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def lock_migrations(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))


class PostgresStore(Store):
    def __init__(self, url: str, pool_size: int = 8) -> None:
        self._url = url
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            connection_class=psycopg.Connection[dict[str, Any]],
            kwargs={"row_factory": dict_row},
            open=False,
            # Fail a request within seconds when the database is gone, rather than hang 30 s.
            timeout=10,
            name="runway-relay",
        )
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="pg")
        self._opened = False

    def _open(self) -> None:
        # One plain connection first: the pool would retry quietly for its whole timeout,
        # then say only "initialization incomplete"; this fails at once and says why.
        try:
            psycopg.connect(self._url, connect_timeout=_CONNECT_TIMEOUT).close()
        except psycopg.OperationalError as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StoreUnreachable(f"cannot connect to PostgreSQL: {reason}") from None
        self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT * 2)

    def _run_sync(self, fn: Callable[[Any], T]) -> T:
        with self._pool.connection() as conn, conn.transaction():
            return fn(_PgDb(conn))

    async def _run(self, fn: Callable[[Any], T]) -> T:
        if not self._opened:
            await asyncio.to_thread(self._open)
            self._opened = True
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_sync, fn)

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._pool.close)
            self._opened = False
        self._executor.shutdown(wait=False)
