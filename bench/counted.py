"""A server with counters around what a callback may cost beyond its three exchanges:
`python bench/counted.py OUT.json -m receiver serve ...` or `... OUT.json bench/servers.py
floor ...` runs the program as it is, with these counted from SIGUSR1 to SIGUSR2 (which
writes them to OUT.json):

- JSON encodes and decodes (orjson's and the json module's),
- the store's jobs, transactions, fsynced commits and SQL statements (BEGIN and COMMIT
  too), and the bytes its commit and checkpoint threads wrote (their `wchar`),
- log records (structlog's lines and the logging module's) and their bytes,
- asyncio Tasks made and the steps they ran (each step is a coroutine run until it waits
  again, an await that suspended: the loop's turns that did the program's work),
- each thread's CPU,
- the Python functions the event loop's thread called (cProfile's count: a call of a
  function written in Python, not of a builtin), by where each is written (a library, a
  folder of the relay, the standard library); the counters' own wrappers left out. The
  counted Tasks run in Python, so each Task's steps count as calls of asyncio's own, in
  the floor as in the relay.

The counters make the process slower (a Task in Python, a call per statement): its CPU is
not a figure, its counts are. Used by bench/stages/counts.py.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import re
import runpy
import signal
import sqlite3
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

counts: Counter[str] = Counter()
statements: Counter[str] = Counter()  # each statement's text, how often it ran
CLK_TCK = os.sysconf("SC_CLK_TCK")
STORE_THREADS = ("sqlite-commit", "sqlite-checkpoint")


sites: Counter[str] = Counter()  # where each JSON encode and decode was called, Tasks made


def _counting(name: str, fn: Any) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        caller = sys._getframe(1).f_code
        # A string's split, not pathlib: the counters' own calls stay out of `python_calls`.
        sites[f"{name} {caller.co_filename.rsplit('/', 1)[-1]}:{caller.co_name}"] += 1
        return fn(*args, **kwargs)

    return counted


def _patch_json() -> None:
    orjson.dumps = _counting("json_encodes", orjson.dumps)
    orjson.loads = _counting("json_decodes", orjson.loads)
    json.dumps = _counting("json_encodes", json.dumps)
    json.loads = _counting("json_decodes", json.loads)


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def _trace(statement: str) -> None:
    counts["sql_statements"] += 1
    # SQLite traces each statement with its values filled in: counted by shape.
    statements[_LITERAL.sub("?", " ".join(statement.split()))[:120]] += 1


def _patch_store() -> None:
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(*args, **kwargs)
        if threading.current_thread() is threading.main_thread():
            conn.set_trace_callback(_trace)  # the writer's statements, not the checkpoints'
        return conn

    sqlite3.connect = traced  # type: ignore[assignment]
    try:
        from receiver.kernel.store.sqlite.store import SqliteStore
    except ImportError:
        return  # the floor has no store
    run, transaction = SqliteStore.run, SqliteStore._transaction

    async def counted_run(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counts["store_jobs"] += 1
        return await run(self, fn, *args, **kwargs)

    async def counted_transaction(self: Any, batch: list[Any]) -> Any:
        counts["transactions"] += 1
        # A job's third field: whether it wants a synced commit (True, or "synced").
        counts["fsynced_commits"] += any(sync in (True, "synced") for _, _, sync in batch)
        return await transaction(self, batch)

    if hasattr(SqliteStore, "_sync_wal"):  # a sync of the WAL alone, for a shared sync
        sync_wal = SqliteStore._sync_wal

        async def counted_sync(self: Any) -> None:
            counts["wal_syncs"] += 1
            await sync_wal(self)

        SqliteStore._sync_wal = counted_sync  # type: ignore[method-assign]
    SqliteStore.run = counted_run  # type: ignore[method-assign]
    SqliteStore._transaction = counted_transaction  # type: ignore[method-assign]


def _patch_logs() -> None:
    import logging

    import structlog

    write = structlog.WriteLogger.msg

    def counted_msg(self: Any, message: str) -> None:
        counts["log_records"] += 1
        counts["log_bytes"] += len(message) + 1
        write(self, message)

    for name in ("msg", "log", "debug", "info", "warn", "warning", "err", "error"):
        setattr(structlog.WriteLogger, name, counted_msg)
    for name in ("fatal", "failure", "exception", "critical"):
        if hasattr(structlog.WriteLogger, name):
            setattr(structlog.WriteLogger, name, counted_msg)
    handle = logging.Logger.handle

    def counted_handle(self: logging.Logger, record: logging.LogRecord) -> None:
        counts["log_records"] += 1
        handle(self, record)

    logging.Logger.handle = counted_handle  # type: ignore[method-assign]


class _CountedTask(asyncio.tasks._PyTask):  # type: ignore[name-defined,misc]
    """The pure-Python Task, its steps counted (its `__step` is mangled `_Task__step`)."""

    def _Task__step(self, exc: BaseException | None = None) -> None:
        counts["task_steps"] += 1
        super()._Task__step(exc)


def _task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
    counts["tasks_created"] += 1
    sites[f"task {getattr(coro, '__qualname__', type(coro).__name__)}"] += 1
    return _CountedTask(coro, loop=loop, **kwargs)


def _threads() -> dict[str, dict[str, float]]:
    """Each thread's name, CPU seconds and bytes written."""
    out: dict[str, dict[str, float]] = {}
    names = {t.native_id: t.name for t in threading.enumerate()}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name)) or (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            io = dict(line.split(": ") for line in (task / "io").read_text().splitlines())
        except OSError:
            continue
        key = name if name not in out else f"{name}-{task.name}"
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        out[key] = {"cpu": cpu, "wchar": float(io["wchar"])}
    return out


def _area(filename: str) -> str | None:
    """Where a function is written: a library's package, a folder of the relay, or the
    standard library's module; None for the counters' own wrappers here."""
    if filename == __file__:
        return None
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/receiver/" in filename:
        return "receiver/" + filename.split("/receiver/", 1)[1].rsplit("/", 1)[0]
    return "stdlib " + Path(filename).stem


def _python_calls(profile: cProfile.Profile) -> Counter[str]:
    calls: Counter[str] = Counter()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, called, *_) in stats.items():
        area = _area(filename) if filename != "~" else None
        if area is not None:
            calls[area] += called
    return calls


class _Window:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.threads: dict[str, dict[str, float]] = {}
        self.profile = cProfile.Profile()

    def start(self, *_: Any) -> None:
        counts.clear()
        statements.clear()
        sites.clear()
        self.threads = _threads()
        # Run here, in a signal handler: it profiles the main thread, the event loop's.
        self.profile = cProfile.Profile()
        self.profile.enable()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.set_task_factory(_task_factory)

    def write(self, *_: Any) -> None:
        self.profile.disable()
        calls = _python_calls(self.profile)
        counts["python_calls"] = sum(calls.values())
        now = _threads()
        cpu = {
            name: round(v["cpu"] - self.threads.get(name, {"cpu": 0.0})["cpu"], 3)
            for name, v in now.items()
        }
        store_bytes = sum(
            v["wchar"] - self.threads.get(name, {"wchar": 0.0})["wchar"]
            for name, v in now.items()
            if name.startswith(STORE_THREADS)
        )
        got = {**counts, "store_bytes": store_bytes, "thread_cpu": cpu}
        got["statements"] = dict(statements.most_common())
        got["sites"] = dict(sites.most_common())
        got["python_areas"] = dict(calls.most_common())
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(got))
        tmp.replace(self.out)


def main() -> None:
    out, *argv = sys.argv[1:]
    window = _Window(Path(out))
    _patch_json()
    _patch_store()
    _patch_logs()
    signal.signal(signal.SIGUSR1, window.start)
    signal.signal(signal.SIGUSR2, window.write)
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, str(Path(argv[0]).resolve().parent))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
