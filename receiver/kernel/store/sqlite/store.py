"""SQLite backend: statements on the event loop, each COMMIT (the fsync) on its own thread.

SQLite allows one writer at a time, so one connection runs the queued jobs, one
transaction per turn. The statements themselves take microseconds and run on the event
loop; only COMMIT, which waits for the disk, goes to the committer thread. Jobs queued
while a commit is on the disk form the next transaction (group commit): one fsync covers
many callbacks, and no caller hears back before the commit that holds its work is on disk.
Running statements beside the loop in a writer thread instead costs a GIL hand-off per
statement, which showed as the largest item in the ingest profile.
A job that fails loses only its own writes: the batch is then run again with a savepoint
per job. A job whose caller can wait a few milliseconds for its sync (`shared_sync`, a poll's
answer) commits without one when no job beside it needs one, and its caller hears back once
the next synced commit (usually the next callback's) or a sync of the WAL made for it
(`_SHARED_SYNC_SECONDS` later at most) has put it on disk: one fsync a callback, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from receiver.kernel.errors import StoreError
from receiver.kernel.observability import logs
from receiver.kernel.store.db import Db, Row, Sql
from receiver.kernel.store.sqlite.checkpoints import run_checkpoints
from receiver.kernel.store.sqlite.worklock import WorkLock
from receiver.kernel.store.store import PagesToFree, Store

T = TypeVar("T")
_MAX_BATCH = 256
_BUSY_SECONDS = 10.0  # how long BEGIN waits for another connection's write lock
_MIN_FREE_BYTES = 16 * 1024 * 1024  # below this, the next checkpoint may not fit
_FAILED_SECONDS = 10.0  # a failed write keeps /readyz at 503 this long
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
_RECLAIM_PAGES = 128  # pages given back per transaction: the writer waits only that long
_UNURGENT_SECONDS = 0.02  # how long a job nobody waits on may wait for company
_SHARED_SYNC_SECONDS = 0.01  # how long a commit waits for another's sync before its own
# How a job's commit reaches the disk: synced before it returns, not synced (a lease, an
# outcome), or synced before it returns by a sync it may share with a later commit.
_SYNCED, _UNSYNCED, _SHARED = "synced", "unsynced", "shared"


class SqliteDb:
    """The `Db` of receiver/kernel/store/db.py over one sqlite3 connection, running each
    statement's SQLite text (`Sql.sqlite`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: Sql, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql.sqlite, params).rowcount

    def execute_many(self, sql: Sql, rows: Sequence[tuple[Any, ...]]) -> None:
        self._conn.executemany(sql.sqlite, rows)

    def one(self, sql: Sql, params: tuple[Any, ...] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql.sqlite, params).fetchone()
        return row

    def all(self, sql: Sql, params: tuple[Any, ...] = ()) -> list[Row]:
        return self._conn.execute(sql.sqlite, params).fetchall()

    def script(self, sql: str) -> None:
        # executescript() would COMMIT the open transaction; run statement by statement.
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def lock_migrations(self) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock

    def array(self, values: Sequence[str]) -> object:
        return json.dumps(list(values))  # read with json_each


def dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


_Job = tuple[Callable[[Db], Any], "asyncio.Future[Any]", str]  # fn, its future, its sync


class SqliteStore(Store):
    exclusive = True  # one writer process: see Store.exclusive

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._db: SqliteDb | None = None
        self._queue: list[_Job] = []
        self._writer: asyncio.Task[None] | None = None
        self._later: asyncio.TimerHandle | None = None  # the writer's start, held for company
        self._committer: ThreadPoolExecutor | None = None
        # Committed `shared_sync` jobs not yet on disk, answered at the next sync: each
        # with its commit's number (`commits`), its future and its result.
        self._unsynced: list[tuple[int, asyncio.Future[Any], Any]] = []
        self._sync_timer: asyncio.TimerHandle | None = None
        self._syncs: set[asyncio.Task[None]] = set()
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self.commits = 0  # for the benchmarks: how many fsyncs served how many transactions
        self._failed: tuple[float, str] | None = None  # when the last transaction failed, why
        # What `receiver serve` always runs (polls, mirrors), and the deliveries (in `serve`,
        # or in `receiver deliver`): one process each (receiver/kernel/store/sqlite/worklock.py).
        self._serving = WorkLock(path, "serve", "running on")
        self._delivering = WorkLock(path, "deliveries", "delivering from")

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = dict_row
        # A new file gives the pages of pruned rows back (an older one is converted once,
        # by migrate()); it must be set before the first table is made.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: SQLite never syncs a commit itself. A commit that must be on disk before
        # we answer is followed by an fsync of the WAL (`_commit`), which is what FULL would
        # do; the jobs that may be lost on power loss (a lease, an attempt's outcome) skip
        # it, with no PRAGMA to switch between them.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # No busy wait inside SQLite: it would stall the event loop. _begin retries instead.
        conn.execute("PRAGMA busy_timeout=0")
        # Checkpoints run in their own thread (checkpoints.py): done by the committing
        # connection, one would hold up every callback queued behind it.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _open(self) -> tuple[sqlite3.Connection, SqliteDb]:
        if self._conn is None or self._db is None:
            try:
                self._conn = self._connect()
            except (OSError, sqlite3.Error) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise StoreError(f"cannot open SQLite database {self.path}: {reason}") from None
            self._db = SqliteDb(self._conn)
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
            if self.path != ":memory:":
                self._stopping.clear()
                self._checkpointer = threading.Thread(
                    target=run_checkpoints,
                    args=(self.path, self._stopping, lambda: self.commits),
                    name="sqlite-checkpoint",
                    daemon=True,
                )
                self._checkpointer.start()
        return self._conn, self._db

    async def _read_apart(self, fn: Callable[[Db], T]) -> T:
        """In a thread, on a read-only connection of its own: SQLite lets go of the GIL while
        it scans, so callbacks go on meanwhile, and WAL lets it read beside the writer."""
        if self.path == ":memory:":
            return await self.run(fn)  # no other connection sees that database
        return await asyncio.to_thread(self._read_in_thread, fn)

    def _read_in_thread(self, fn: Callable[[Db], T]) -> T:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from None
        try:
            conn.row_factory = dict_row
            conn.execute("PRAGMA query_only=1")
            conn.execute("BEGIN")  # one snapshot for the whole read
            return fn(SqliteDb(conn))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from None
        finally:
            conn.close()

    async def run(
        self,
        fn: Callable[[Db], T],
        timeout: float | None = 0.0,
        durable: bool = True,
        urgent: bool = True,
        shared_sync: bool = False,
    ) -> T:
        # One local file: a job waits only for the disk and for BEGIN's bounded retries.
        self._open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        # In memory nothing reaches a disk: a sync of its own costs nothing there.
        shared = shared_sync and self.path != ":memory:"
        sync = (_SHARED if shared else _SYNCED) if durable else _UNSYNCED
        self._queue.append((fn, future, sync))
        if self._writer is None or self._writer.done():
            if urgent:
                self._start_writer()
            elif self._later is None:
                # Another job is usually queued within a few milliseconds (the next
                # callback, the next poll's answer): this one rides in its transaction.
                self._later = loop.call_later(_UNURGENT_SECONDS, self._start_writer)
        return await future

    def _start_writer(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self._queue and (self._writer is None or self._writer.done()):
            # Started on the next turn of the loop: jobs queued meanwhile share its first
            # transaction, and those queued during each commit share the next one.
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Run the queued jobs, a transaction at a time, until none are left."""
        while self._queue:
            batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
            results: list[tuple[bool, Any]]
            try:
                results, synced = await self._transaction(batch)
                self._failed = None
            except Exception as exc:
                error = _store_error(exc)
                self._failed = (time.monotonic(), str(error))
                results = [(False, error)] * len(batch)
            except BaseException:  # the loop is going away: nobody waits any more
                for _, future, _ in batch:
                    future.cancel()
                raise
            else:
                if synced:  # on disk now, with every commit before this one
                    self._answer_unsynced(self.commits)
            for (_, future, sync), (ok, value) in zip(batch, results, strict=True):
                if future.done():  # its caller gave up; the work stands all the same
                    continue
                if ok and sync == _SHARED and not synced:
                    self._wait_for_sync(self.commits, future, value)
                elif ok:
                    future.set_result(value)
                else:
                    future.set_exception(_store_error(value))

    def _wait_for_sync(self, commit: int, future: asyncio.Future[Any], value: Any) -> None:
        """Answer `future` once a sync covers its `commit`: the next synced commit's, or the
        WAL's own sync if none comes within `_SHARED_SYNC_SECONDS`."""
        self._unsynced.append((commit, future, value))
        if self._sync_timer is None:
            loop = asyncio.get_running_loop()
            self._sync_timer = loop.call_later(_SHARED_SYNC_SECONDS, self._sync_soon)

    def _answer_unsynced(self, upto: int, error: Exception | None = None) -> None:
        """The commits up to number `upto` are on disk (or, with `error`, may not be):
        answer the callers waiting for their sync."""
        done = [job for job in self._unsynced if job[0] <= upto]
        self._unsynced = [job for job in self._unsynced if job[0] > upto]
        for _, future, value in done:
            if future.done():
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
        if not self._unsynced and self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None

    def _sync_soon(self) -> None:
        self._sync_timer = None
        if self._unsynced:
            task = asyncio.get_running_loop().create_task(self._sync_wal())
            self._syncs.add(task)
            task.add_done_callback(self._syncs.discard)

    async def _sync_wal(self) -> None:
        """fsync the WAL, which holds every commit made so far (a synced commit's own sync is
        the same call), on the committer's thread, after any commit queued there."""
        upto = self.commits  # what the WAL holds as the sync starts
        if not self._unsynced or self._committer is None:
            return
        try:
            await asyncio.wrap_future(self._committer.submit(_fsync, f"{self.path}-wal"))
        except OSError as exc:
            self._answer_unsynced(upto, StoreError(f"SQLite: syncing the WAL: {exc}"))
            return
        self._answer_unsynced(upto)

    async def _transaction(self, batch: list[_Job]) -> tuple[list[tuple[bool, Any]], bool]:
        """Each job's (ok, result or error), and whether the commit was synced."""
        conn, db = self._open()
        # A batch of jobs that need no sync of their own commits without an fsync (WAL
        # keeps the commit order, so it is durable with the next synced commit).
        durable = any(sync == _SYNCED for _, _, sync in batch)
        await self._begin(conn)
        try:
            try:
                # Usually no job fails: run them all without per-job savepoints.
                results = [(True, fn(db)) for fn, _, _ in batch]
            except Exception:
                # One did: undo the batch and run it again with a savepoint per job, so only
                # the failing job's work is lost (jobs only read and write the store).
                conn.execute("ROLLBACK")
                await self._begin(conn)
                results = [_in_savepoint(conn, db, fn) for fn, _, _ in batch]
            if durable:
                await self._commit(conn)
            else:
                conn.execute("COMMIT")  # no fsync to wait for: no thread to wait in
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return results, durable

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting without blocking the loop while another connection (the
        checkpointer, or an operator's CLI) holds the write lock."""
        deadline = time.monotonic() + _BUSY_SECONDS
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.001)

    async def _commit(self, conn: sqlite3.Connection) -> None:
        assert self._committer is not None
        done = self._committer.submit(self._commit_synced, conn)
        try:
            await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            # The COMMIT goes on in its thread; wait for it rather than touch the
            # connection under it.
            with contextlib.suppress(Exception):
                done.result()
            raise

    def _commit_synced(self, conn: sqlite3.Connection) -> None:
        """COMMIT, then the WAL's fsync that puts it on disk (in memory, nothing to sync)."""
        conn.execute("COMMIT")
        if self.path == ":memory:":
            return
        try:
            _fsync(f"{self.path}-wal")
        except OSError as exc:
            raise StoreError(f"SQLite: syncing the WAL: {exc}") from None

    def take_workers(self, deliveries: bool, polls: bool) -> None:
        if self.path == ":memory:":
            return  # no other process can open it
        newly = polls and not self._serving.held
        if polls:
            self._serving.take()
        if deliveries:
            try:
                self._delivering.take()
            except StoreError:
                if newly:  # a refused process holds nothing
                    self._serving.release()
                raise

    async def migrate(self) -> list[int]:
        applied = await super().migrate()
        if self.path != ":memory:":
            await asyncio.to_thread(self._convert_to_incremental_vacuum)
        return applied

    def _convert_to_incremental_vacuum(self) -> None:
        """A file made before retention keeps every freed page for ever: switching it to
        incremental vacuum takes one VACUUM (a rewrite of the whole file, which cannot run
        inside a migration's transaction), once."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
                return
            started, size = time.monotonic(), os.path.getsize(self.path)
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            logs.get_logger("receiver").info(
                "store.converted_to_incremental_vacuum",
                seconds=round(time.monotonic() - started, 3),
                bytes_before=size,
                bytes_after=os.path.getsize(self.path),
            )
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: converting to incremental vacuum: {exc}") from None
        finally:
            conn.close()

    async def reclaim_space(
        self, pruned: int, to_free: PagesToFree, stopping: Callable[[], bool] = lambda: False
    ) -> int:
        # Whatever `pruned`: a pass cut short by a shutdown leaves its free pages to the next.
        if self.path == ":memory:":
            return 0
        return await asyncio.to_thread(self._give_back, to_free, stopping)

    def _give_back(self, to_free: PagesToFree, stopping: Callable[[], bool]) -> int:
        """Free pages back to the file system, a few at a time on a connection of its own,
        until at most a twentieth of the file is free (new rows reuse those): each chunk
        holds the write lock for milliseconds, and a pause as long lets the writer in."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=FULL")
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
                return 0
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            first = last = conn.execute("PRAGMA page_count").fetchone()[0]
            while not stopping():
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
                wanted = min(to_free(free, last), _RECLAIM_PAGES)
                if wanted == 0:
                    break
                started = time.monotonic()
                # executescript steps the pragma to its end (execute frees one page only).
                conn.executescript(f"PRAGMA incremental_vacuum({int(wanted)})")
                count = conn.execute("PRAGMA page_count").fetchone()[0]
                if count >= last:
                    break  # nothing was given back: another writer took the pages
                last = count
                time.sleep(time.monotonic() - started)
            # The file shrinks when the checkpoint reaches the end of the WAL.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return int((first - last) * page_size)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: giving free pages back: {exc}") from None
        finally:
            conn.close()

    async def ready(self, timeout: float = 1.0, schema: bool = True) -> list[int]:
        """Ready means writable: a disk that is full (or a write that just failed) is
        reported here, not only by the callbacks that get 503."""
        if self.path != ":memory:":
            stat = os.statvfs(Path(self.path).parent)
            free = stat.f_bavail * stat.f_frsize
            if free < _MIN_FREE_BYTES:
                raise StoreError(f"disk almost full where the database is: {free} bytes free")
        if self._failed is not None and time.monotonic() - self._failed[0] < _FAILED_SECONDS:
            raise StoreError(f"the last write failed: {self._failed[1]}")
        return await super().ready(timeout, schema)

    async def close(self) -> None:
        self._start_writer()  # a job held for company goes now
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
            self._writer = None
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        if self._unsynced:  # their callers wait on the sync, not on the timer
            await self._sync_wal()
        if self._syncs:
            await asyncio.gather(*self._syncs, return_exceptions=True)
        self._serving.release()
        self._delivering.release()
        if self._conn is None:
            return
        self._stopping.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        if self._committer is not None:
            self._committer.shutdown()
            self._committer = None
        self._conn.close()
        self._conn = self._db = None


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _in_savepoint(
    conn: sqlite3.Connection, db: SqliteDb, fn: Callable[[Db], Any]
) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT job")
    try:
        result: tuple[bool, Any] = (True, fn(db))
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        result = (False, exc)
    conn.execute("RELEASE job")
    return result


def _store_error(exc: BaseException) -> BaseException:
    """SQLite's errors become the one store error at this edge, with SQLite's words."""
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"SQLite: {exc}")
    return exc
