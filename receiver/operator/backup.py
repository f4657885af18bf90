"""An online backup of the SQLite store: a consistent copy taken while the relay serves,
checked, and summed up.

`VACUUM INTO` copies what one read transaction sees, so the copy is one moment of the
store however long it takes, and writers go on meanwhile (WAL readers block no one). The
copy is compact (no free pages) and a single file, with no WAL beside it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from receiver.kernel.errors import StoreError
from receiver.kernel.store.migrate import APPLIED_MIGRATIONS
from receiver.kernel.store.sqlite.store import SqliteDb, dict_row
from receiver.operator import rows


@dataclass(frozen=True)
class BackupReport:
    path: str
    bytes: int
    integrity: str  # "ok", or what SQLite's integrity_check found
    schema_version: int  # the newest migration it holds
    counts: dict[str, float]  # tasks_<state>, deliveries_<state>, ... as rows.counts


def backup(source: str, target: str) -> BackupReport:
    """Copy the store at `source` to `target` (which must not exist yet), then check it."""
    if not Path(source).exists():
        raise StoreError(f"no SQLite database at {source}")
    if Path(target).exists():
        raise StoreError(f"{target} exists already; a backup never overwrites a file")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("VACUUM INTO ?", (target,))
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite: backing up to {target}: {exc}") from None
    finally:
        conn.close()
    return inspect(target)


def inspect(path: str) -> BackupReport:
    """Check a copy of the store (read-only) and say what it holds."""
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    conn.row_factory = dict_row
    try:
        found = [r["integrity_check"] for r in conn.execute("PRAGMA integrity_check")]
        db = SqliteDb(conn)
        versions = [int(r["version"]) for r in db.all(APPLIED_MIGRATIONS)]
        counts = rows.counts(db)
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite: checking {path}: {exc}") from None
    finally:
        conn.close()
    return BackupReport(
        path=path,
        bytes=os.path.getsize(path),
        integrity="ok" if found == ["ok"] else "; ".join(found[:5]),
        schema_version=max(versions, default=0),
        counts=counts,
    )
