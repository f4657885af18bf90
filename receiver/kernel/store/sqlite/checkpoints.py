"""SQLite's checkpoints, in a thread of their own beside the writer: done by the committing
connection, one would hold up every callback queued behind it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

CHECKPOINT_SECONDS = 1.0
# The WAL is cut back to this once checkpointed: a large write (a data URI of tens of MiB)
# would otherwise leave a second copy of itself on disk, in a WAL file SQLite reuses but
# never shrinks.
WAL_KEEP_BYTES = 4 * 1024 * 1024


def run_checkpoints(path: str, stopping: threading.Event, commits: Callable[[], int]) -> None:
    """Move committed WAL frames into the database file, once a second after commits.

    PASSIVE copies and syncs the bulk without holding anyone up; RESTART then copies
    the few frames committed meanwhile, holding the writer only for that, so that the
    next transaction starts the WAL over (under steady load it would grow forever); after a
    large write, TRUNCATE does the same and cuts the file to nothing, giving its copy in
    the WAL back at once. Commits are durable either way: each one fsyncs the WAL.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        done = commits()
        while not stopping.wait(CHECKPOINT_SECONDS):
            if commits() != done:
                done = commits()
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    mode = "TRUNCATE" if wal_bytes(path) > WAL_KEEP_BYTES else "RESTART"
                    conn.execute(f"PRAGMA wal_checkpoint({mode})")
    finally:
        conn.close()


def wal_bytes(path: str) -> int:
    """The size of the database's WAL file (0: none)."""
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0
