"""A downstream's health read from the store (`receiver/downstreams/rows.py`'s
`health`, what the console's overview and `GET /v1/downstreams` read), paired with what it
read before its dead letters since the last success were counted (the downstreams' rows and
the deliveries by state), on a store of N deliveries to 10 downstreams, 2 of them failing:

    python bench/healthbench.py 100000                       # SQLite, a file in the temp dir
    python bench/healthbench.py 100000 postgresql://127.0.0.1:5432/an_empty_database

Prints the median of 15 rounds of each, in ms. Bench data only: rows written directly."""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from receiver.downstreams import rows as downstreams
from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.migrate import migrate
from receiver.kernel.store.sqlite import SqliteDb, dict_row

BEFORE = Sql("SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state")
NAMES = [f"d{k}" for k in range(10)]
# Of 100 deliveries: 90 delivered, 4 dead, 4 pending, 2 filtered.
STATES = ["succeeded"] * 90 + ["dead"] * 4 + ["pending"] * 4 + ["filtered"] * 2
COLUMNS = "id, event_id, task_id, downstream, state, attempts, next_attempt_at, created_at"
COLUMNS += ", updated_at"
NOW = 1.7e9


def _rows(n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    return [
        (
            *(f"{p}_{i:012d}" for p in ("msg", "evt", "tsk")),
            NAMES[i % len(NAMES)],
            rng.choice(STATES),
            rng.randint(0, 3),
            NOW,
            NOW - rng.random() * 86400,
            NOW - rng.random() * 86400,
        )
        for i in range(n)
    ]


def _downstreams(db: Db) -> None:
    for name in NAMES:
        db.execute(Sql("INSERT INTO downstreams (name) VALUES (?)"), (name,))
    failing = Sql("UPDATE downstreams SET failing_since = ? WHERE name IN ('d1', 'd2')")
    db.execute(failing, (NOW - 3600,))


def _timed(db: Db, rounds: int = 15) -> dict[str, float]:
    runs: dict[str, Callable[[], object]] = {
        "before": lambda: (db.all(downstreams.DOWNSTREAMS), db.all(BEFORE)),
        "now": lambda: downstreams.health(db, NAMES),
    }
    took: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            took[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(t), 1) for name, t in took.items()}


def on_sqlite(n: int) -> dict[str, float]:
    path = Path(tempfile.gettempdir()) / "healthbench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = dict_row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    db = SqliteDb(conn)
    conn.execute("BEGIN")
    migrate(db)
    _downstreams(db)
    conn.executemany(f"INSERT INTO deliveries ({COLUMNS}) VALUES ({', '.join('?' * 9)})", _rows(n))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return _timed(db)


def on_postgres(n: int, url: str) -> dict[str, float]:
    import psycopg
    from psycopg.rows import dict_row as pg_dict_row

    from receiver.kernel.store.postgres.store import PostgresDb

    conn = psycopg.connect(url, autocommit=True, row_factory=pg_dict_row)
    db = PostgresDb(conn)
    with conn.transaction():
        migrate(db)
        _downstreams(db)
    # Deliveries of no event: bench rows, copied in bulk.
    conn.execute("ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_event_id_fkey")
    with conn.cursor() as cursor, cursor.copy(f"COPY deliveries ({COLUMNS}) FROM STDIN") as copy:
        for row in _rows(n):
            copy.write_row(row)
    conn.execute("ANALYZE deliveries")
    return _timed(db)


if __name__ == "__main__":
    count = int(sys.argv[1])
    found = on_postgres(count, sys.argv[2]) if len(sys.argv) > 2 else on_sqlite(count)
    print("postgres" if len(sys.argv) > 2 else "sqlite", count, found)
