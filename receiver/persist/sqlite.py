"""SQLite backend: one writer thread, WAL, fsync on every commit, commits grouped.

SQLite allows one writer at a time, so a single thread owns the connection and runs the
queued transactions. Whatever queued up while the disk was busy is committed together
(group commit): one fsync covers many callbacks, and no caller hears back before the
commit that holds its work is on disk. A job that fails loses only its own writes: the
batch is then run again with a savepoint per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from receiver.persist.store import Store

T = TypeVar("T")
_MAX_BATCH = 256
_CHECKPOINT_SECONDS = 1.0


class SqliteDb:
    """The `queries.Db` protocol over one sqlite3 connection (bench/fill.py uses it too)."""

    skip_locked = ""  # one writer: nothing to skip
    for_update = ""
    due_index = " INDEXED BY deliveries_due"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self._conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self._conn.execute(sql, params).fetchall()

    def script(self, sql: str) -> None:
        # executescript() would COMMIT the open transaction; run statement by statement.
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def lock_migrations(self) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock


def dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


_Job = tuple[Callable[[Any], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SqliteStore(Store):
    exclusive = True  # one writer process: see Store.exclusive

    def __init__(self, path: str) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self.commits = 0  # for the benchmarks: how many fsyncs served how many transactions

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = dict_row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer; NORMAL could lose it on power loss.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        # Checkpoints run in their own thread (_checkpoints): done by the committing
        # connection, one would hold up every callback queued behind it.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
            self._thread.start()
            self._started.wait()
            if self._start_error is not None:
                error, self._start_error, self._thread = self._start_error, None, None
                raise error

    def _loop(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        db = SqliteDb(conn)
        stopping = threading.Event()
        checkpointer = threading.Thread(
            target=self._checkpoints, args=(stopping,), name="sqlite-checkpoint", daemon=True
        )
        if self.path != ":memory:":
            checkpointer.start()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                batch.append(more)
            self._commit_batch(conn, db, batch)
        stopping.set()
        if checkpointer.ident is not None:
            checkpointer.join()
        conn.close()

    def _checkpoints(self, stopping: threading.Event) -> None:
        """Move committed WAL frames into the database file, mostly beside the writer.

        PASSIVE copies and syncs the bulk without holding anyone up; RESTART then copies
        the few frames committed meanwhile, holding the writer only for that, so that the
        next transaction starts the WAL over (under steady load it would grow forever).
        Commits are durable either way: each one fsyncs the WAL.
        """
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            done = self.commits
            while not stopping.wait(_CHECKPOINT_SECONDS):
                if self.commits != done:
                    done = self.commits
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        conn.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, db: SqliteDb, batch: list[_Job]) -> None:
        results: list[tuple[bool, Any]]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Usually no job fails: run them all without per-job savepoints.
                results = [(True, fn(db)) for fn, _, _ in batch]
            except Exception:
                # One did: undo the batch and run it again with a savepoint per job, so only
                # the failing job's work is lost (jobs only read and write the store).
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                results = [_in_savepoint(conn, db, fn) for fn, _, _ in batch]
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(False, exc)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per job.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, loop, future), (ok, value) in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)

    async def _run(self, fn: Callable[[Any], T]) -> T:
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    async def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None


def _in_savepoint(
    conn: sqlite3.Connection, db: SqliteDb, fn: Callable[[Any], Any]
) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT job")
    try:
        result: tuple[bool, Any] = (True, fn(db))
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        result = (False, exc)
    conn.execute("RELEASE job")
    return result


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
