"""The media copier's claim with a backlog, the apps in turn against oldest first, as JSON.

    python bench/mirrorclaimbench.py --db FILE --copies 5000 --apps 50 --rounds 200

Fills a fresh SQLite store with `copies` pending copies spread over `apps` apps, then reads
a claim's rows (8 slots, 4 an app) `rounds` times with today's statement (each app's
oldest, the apps in turn) and with the previous one (oldest first, LIMIT 8) as the
reference, in the same run; prints the median and p95 of each in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.sqlite import SqliteStore
from receiver.keys.rules import KeyLimits
from receiver.lifecycle.rows import mirrors
from receiver.lifecycle.rules.records import NewTask
from receiver.tasks import transactions as task_transactions

SLOTS, PER_APP = 8, 4
OLDEST_FIRST = Sql(
    "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
    " t.kind, t.upstream_task_id, t.trace_context"
    " FROM mirrors m JOIN tasks t ON t.id = m.task_id"
    " WHERE m.state = 'pending' AND m.next_attempt_at <= ?"
    " AND (m.lease_until IS NULL OR m.lease_until < ?) ORDER BY m.next_attempt_at LIMIT ?"
)
SOURCES = [{"role": "video", "url": "https://cdn.test/v.mp4"}]
# The succeeded event a copy belongs to, as bare as the schema allows.
SUCCEEDED = Sql(
    "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
    " payload) VALUES (?, ?, 'poll', 'done', 'succeeded', 1, ?, '{}', '{}')"
)


async def fill(store: SqliteStore, copies: int, apps: int) -> None:
    now = time.time()
    for i in range(copies):
        new = NewTask("image_to_video", {"i": i}, owner_key=f"app-{i % apps}")
        task, _ = await task_transactions.queue(store, new, KeyLimits())

        def start(db: Db, task_id: str = task.id, at: float = now - copies + i) -> None:
            db.execute(SUCCEEDED, (f"evt-{task_id}", task_id, at))
            mirrors.start_copy(db, f"evt-{task_id}", task_id, SOURCES, at)

        await store.run(start)


async def timed(
    store: SqliteStore, sql: Sql, params: tuple[object, ...], rounds: int
) -> list[float]:
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        await store.read(lambda db: db.all(sql, params))
        took.append((time.perf_counter() - started) * 1000)
    return took


def summary(took: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(took), 3),
        "p95_ms": round(statistics.quantiles(took, n=20)[-1], 3),
    }


async def run(db: Path, copies: int, apps: int, rounds: int) -> dict[str, object]:
    store = SqliteStore(str(db))
    await store.migrate()
    await fill(store, copies, apps)
    now = time.time()
    in_turn = await timed(store, mirrors.DUE_MIRRORS, (now, now, PER_APP, SLOTS), rounds)
    oldest = await timed(store, OLDEST_FIRST, (now, now, SLOTS), rounds)
    await store.close()
    return {
        "copies": copies,
        "apps": apps,
        "apps_in_turn": summary(in_turn),
        "oldest_first_reference": summary(oldest),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=5000)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if args.db.exists():
        parser.error(f"{args.db} exists: the bench fills a fresh store")
    print(json.dumps(asyncio.run(run(args.db, args.copies, args.apps, args.rounds))))


if __name__ == "__main__":
    main()
