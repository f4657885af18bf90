"""A send's body, built: a task with N small `data:` URIs kept in a SQLite store, and the
time `outgoing_request` takes to put them back (its length, then every byte, as a send
reads it), no HTTP.

    python bench/bodybench.py --uris 20000 [--db PATH | --postgres URL]

Prints one JSON line: the task's intake (the store writing its URIs) and the body's build.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

from receiver.kernel.store import Store
from receiver.kernel.store.sqlite import SqliteStore
from receiver.keys.rules import NO_LIMITS
from receiver.lifecycle.rules.records import NewTask
from receiver.tasks import transactions as task_transactions
from receiver.tasks.rules.inputs import TakenOut
from receiver.tasks.submitter import outgoing_request


async def run(db: Path | str, uris: int) -> dict[str, float]:
    store: Store
    if isinstance(db, str):
        from receiver.kernel.store.postgres.store import PostgresStore

        store = PostgresStore(db, timeout=60)
    else:
        store = SqliteStore(str(db))
    await store.migrate()
    images = [
        {"uri": "data:image/png;base64," + base64.b64encode(i.to_bytes(9, "big")).decode()}
        for i in range(uris)
    ]
    taken = TakenOut()
    fields = taken.references(taken.take({"model": "gen4_image", "referenceImages": images}))
    started = time.perf_counter()
    new = NewTask("text_to_image", fields, inputs=taken.uris)
    task, _ = await task_transactions.queue(store, new, NO_LIMITS)
    stored = time.perf_counter() - started
    started = time.perf_counter()
    body = await outgoing_request(store, task.id, fields)
    sent = 0
    assert not isinstance(body, dict)
    async for chunk in body.chunks():
        sent += len(chunk)
    built = time.perf_counter() - started
    assert sent == body.length
    await store.close()
    return {
        "uris": uris,
        "body_bytes": sent,
        "intake_seconds": round(stored, 3),
        "build_and_read_seconds": round(built, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uris", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (its search_path)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = args.postgres or args.db or Path(folder) / "body.db"
        print(json.dumps(asyncio.run(run(db, args.uris))))


if __name__ == "__main__":
    main()
