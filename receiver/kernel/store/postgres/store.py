"""PostgreSQL backend, for several replicas on one database.

Runs the same transaction functions as SQLite, with PostgreSQL's own text of each
statement (`Sql.postgres`), on a pool of connections each used from
a worker thread. Claims use `FOR UPDATE SKIP LOCKED` so replicas never take the same row,
and migrations take an advisory lock so replicas starting together apply them once.
"""

from __future__ import annotations

import asyncio
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from receiver.kernel.errors import StoreError, StoreSlow
from receiver.kernel.observability import logs
from receiver.kernel.store.db import Db, Row, Sql
from receiver.kernel.store.store import PagesToFree, Store

T = TypeVar("T")
_MIGRATION_LOCK = 0x72756E77  # any constant shared by every replica
# The tables a prune deletes from (receiver/retention/rows.py), for a plain VACUUM: never
# FULL, which would lock them; a plain one lets reads and writes go on.
_VACUUM_PRUNED = (
    "VACUUM (ANALYZE) tasks, events, deliveries, delivery_attempts, mirrors, chat_messages,"
    " task_inputs"
)
_CONNECT_TIMEOUT = 5  # seconds, at start-up
_OP_TIMEOUT = 2.0  # seconds a caller waits for one job while the service runs
# The pool retries a failed connect with a doubling wait (1 s, 2 s, 4 s ...) for this long,
# then gives up until a job asks for a connection again, which starts a new attempt at once.
# Kept short, a database that comes back is found within half a second (a callback refused
# then is one CometAPI never sends again), at the cost of a few connects a second while it
# is away; with the default (5 minutes) the relay refused callbacks for seconds after.
_RECONNECT_SECONDS = 0.5
# libpq's own limits, so that a connection to a database that stopped answering fails
# within seconds instead of waiting for the kernel's TCP timeout.
_CONNECTION_LIMITS = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}


class PostgresDb:
    """The `Db` of receiver/kernel/store/db.py over one psycopg connection, running each
    statement's PostgreSQL text (`Sql.postgres`)."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: Sql, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql.postgres, params).rowcount

    def execute_many(self, sql: Sql, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql.postgres, rows)  # pipelined: one round trip, not one per row

    def one(self, sql: Sql, params: tuple[Any, ...] = ()) -> Row | None:
        return self._conn.execute(sql.postgres, params).fetchone()

    def all(self, sql: Sql, params: tuple[Any, ...] = ()) -> list[Row]:
        return self._conn.execute(sql.postgres, params).fetchall()

    def script(self, sql: str) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def lock_migrations(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def array(self, values: Sequence[str]) -> object:
        return list(values)  # a text[] for `= ANY(%s)`


class PostgresStore(Store):
    """Each job runs on a pool connection in a worker thread, under a deadline: while the
    database is away, a caller hears so within `timeout` seconds instead of queueing behind
    stuck connections, and a job whose caller has given up is not started later."""

    def __init__(self, url: str, pool_size: int = 8, timeout: float = _OP_TIMEOUT) -> None:
        self._url = url
        self._timeout = timeout
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            connection_class=psycopg.Connection[dict[str, Any]],
            kwargs={"row_factory": dict_row, **_CONNECTION_LIMITS},
            open=False,
            timeout=timeout,
            reconnect_timeout=_RECONNECT_SECONDS,
            check=self._check,
            name="runway-relay",
        )
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="pg")
        self._opened = False

    def _check(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """Called by the pool before it hands out a connection. An idle connection has
        nothing to read: anything there is the server's goodbye (a restart, a terminated
        backend), and only then is a round trip spent on it, not on every job."""
        idle = select.poll()  # not select(): a busy server's descriptors pass 1024
        idle.register(conn.fileno(), select.POLLIN)
        if not idle.poll(0):
            return
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            # A server that closed one idle connection closed them all: the pool replaces
            # them now, instead of each failing its next check in turn (the pool waits
            # longer after each failed check).
            self._pool.drain()
            raise

    def _open(self) -> None:
        # One plain connection first: the pool would retry quietly for its whole timeout,
        # then say only "initialization incomplete"; this fails at once and says why.
        try:
            psycopg.connect(self._url, connect_timeout=_CONNECT_TIMEOUT).close()
        except psycopg.OperationalError as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StoreError(f"cannot connect to PostgreSQL: {reason}") from None
        self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT * 2)

    def take_workers(self, deliveries: bool, polls: bool) -> None:
        """Nothing to take: replicas share the work by design. Each lease names its owner
        (host, pid and a random part), a replica gives back only its own, and none takes
        every lease back at start (`exclusive` is False)."""

    def _run_sync(self, fn: Callable[[Db], T], abandoned: threading.Event, durable: bool) -> T:
        if abandoned.is_set():
            raise StoreError("the caller gave up before the job started")
        try:
            with self._pool.connection() as conn, conn.transaction():
                if not durable:
                    # This transaction's commit does not wait for its WAL flush.
                    conn.execute("SET LOCAL synchronous_commit = off")
                return fn(PostgresDb(conn))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StoreError(f"PostgreSQL unavailable: {reason}") from None

    async def run(
        self,
        fn: Callable[[Db], T],
        timeout: float | None = 0.0,
        durable: bool = True,
        urgent: bool = True,
        shared_sync: bool = False,  # each durable commit here waits for its own sync
    ) -> T:
        if not self._opened:
            await asyncio.to_thread(self._open)
            self._opened = True
        limit = self._timeout if timeout == 0.0 else timeout
        abandoned = threading.Event()
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, self._run_sync, fn, abandoned, durable)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(job)
        except TimeoutError:
            abandoned.set()
            job.add_done_callback(_retrieve)  # its outcome has no reader any more
            raise StoreSlow(f"PostgreSQL did not answer within {limit:g}s") from None

    async def reclaim_space(
        self, pruned: int, to_free: PagesToFree, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        """Autovacuum makes pruned rows' space reusable, so that the tables stay the same size;
        where it is off (the server's `autovacuum`), nothing would, and the relay vacuums the
        tables it pruned itself. PostgreSQL gives no space back to the file system either way."""
        if pruned:
            await asyncio.to_thread(self._vacuum_unless_autovacuum)
        return 0

    def _vacuum_unless_autovacuum(self) -> None:
        # VACUUM cannot run inside a transaction: a connection of its own, in autocommit.
        try:
            with psycopg.connect(
                self._url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT
            ) as conn:
                row = conn.execute("SHOW autovacuum").fetchone()
                if row is not None and row[0] == "on":
                    return
                started = time.monotonic()
                conn.execute(_VACUUM_PRUNED)
        except psycopg.Error as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StoreError(f"PostgreSQL: vacuuming after a prune: {reason}") from None
        logs.get_logger("receiver").info(
            "store.vacuumed",
            reason="autovacuum is off",
            seconds=round(time.monotonic() - started, 3),
        )

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._pool.close)
            self._opened = False
        self._executor.shutdown(wait=False)


def _retrieve(job: asyncio.Future[Any]) -> None:
    if not job.cancelled():
        job.exception()
