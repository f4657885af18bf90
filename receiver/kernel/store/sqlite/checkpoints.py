"""SQLite's checkpoints, in a thread of their own beside the writer: done by the committing
connection, one would hold up every callback queued behind it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

CHECKPOINT_SECONDS = 1.0
# The WAL is cut back to nothing once checkpointed when it holds more than this after a
# quiet second or a sudden large write: a data URI of tens of MiB would otherwise leave a
# second copy of itself on disk, in a WAL file SQLite reuses but never shrinks. Under a
# steady load the file is reused as it is: cut back every second, it was grown again by
# every commit after, each one syncing the file's new size too (3-4 % of a callback's CPU).
WAL_KEEP_BYTES = 4 * 1024 * 1024
# Fewer commits than this in a second is a quiet second.
_QUIET_COMMITS = 100


def run_checkpoints(path: str, stopping: threading.Event, commits: Callable[[], int]) -> None:
    """Move committed WAL frames into the database file, once a second after commits.

    PASSIVE copies and syncs the bulk without holding anyone up; RESTART then copies
    the few frames committed meanwhile, holding the writer only for that, so that the
    next transaction starts the WAL over (under steady load it would grow forever); when
    `cut_back` says so, TRUNCATE does the same and cuts the file to nothing, giving a large
    write's copy in the WAL back at once. Commits are durable either way: each one fsyncs
    the WAL.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        done, last = commits(), wal_bytes(path)
        while not stopping.wait(CHECKPOINT_SECONDS):
            now = commits()
            if now != done:
                made, done = now - done, now
                wal = wal_bytes(path)
                mode = "TRUNCATE" if cut_back(wal, last, made) else "RESTART"
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    conn.execute(f"PRAGMA wal_checkpoint({mode})")
                last = wal
    finally:
        conn.close()


def cut_back(wal: int, last: int, commits: int) -> bool:
    """Whether a WAL of `wal` bytes is cut back, `last` at the last checkpoint, with
    `commits` made since: when it is over WAL_KEEP_BYTES after a quiet second, or has at
    least doubled since (a large write, not the load's own)."""
    if wal <= WAL_KEEP_BYTES:
        return False
    return commits < _QUIET_COMMITS or wal >= 2 * last


def wal_bytes(path: str) -> int:
    """The size of the database's WAL file (0: none)."""
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0
