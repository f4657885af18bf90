"""A SQLite store gives pruned space back: files are made (or converted once) with
incremental vacuum, and after a prune the file shrinks and keeps few free pages."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

from receiver.kernel.store.sqlite import SqliteStore
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observe
from receiver.retention import worker as retention
from receiver.retention.rules import DAY, RetentionPolicy, pages_to_free
from tests.testkit import listed
from tests.transactions import make_task

BODY = "x" * 8000  # a raw callback body of a size seen in the wild, with its outputs


async def fill(store: SqliteStore, tasks: int) -> None:
    async def one(i: int) -> None:
        task, _ = await make_task(store, NewTask("video2video", {"prompt": f"t{i}"}))
        answer = Observation(state="succeeded", upstream_task_id=f"up-{i}", outputs=("https://x",))
        await observe(store, task.id, Report("callback", "cb", answer, BODY), Audience(listed({})))

    for start in range(0, tasks, 200):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 200, tasks))))


def pragma(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        value: int = conn.execute(f"PRAGMA {name}").fetchone()[0]
        return value


def test_a_prune_gives_the_space_back_and_the_file_shrinks(tmp_path: Path):
    path = tmp_path / "relay.db"
    policy = RetentionPolicy(task_days=1, dead_letter_days=1, batch_size=100)

    async def run() -> tuple[int, int, int]:
        store = SqliteStore(str(path))
        try:
            await store.migrate()
            await fill(store, 1500)
            with sqlite3.connect(path) as conn:  # all of them ended two days ago
                conn.execute("UPDATE tasks SET terminal_at = ?", (time.time() - 2 * DAY,))
            full = pragma(path, "page_count")
            removed = await retention.prune(store, policy, "test")
            assert removed is not None and removed["tasks"] == 1500
            freed = pragma(path, "freelist_count")
            given_back = await store.reclaim_space(removed["tasks"], pages_to_free)
            return full, freed, given_back
        finally:
            await store.close()

    full, freed, given_back = asyncio.run(run())
    assert pragma(path, "auto_vacuum") == 2  # INCREMENTAL, from the first table on
    assert freed > full * 0.8  # the prune alone frees pages, and keeps them in the file
    pages, free = pragma(path, "page_count"), pragma(path, "freelist_count")
    print(
        f"pages: {full} full, {pages} after the prune ({free} free); gave {given_back} bytes back"
    )
    assert free / pages < 0.10
    assert pages < full * 0.2
    assert os.path.getsize(path) == pages * pragma(path, "page_size")
    assert given_back == (full - pages) * pragma(path, "page_size")


def test_a_file_made_before_retention_is_converted_once(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # as the previous release made them: no auto_vacuum
        conn.execute("CREATE TABLE kept (x TEXT)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    assert pragma(path, "auto_vacuum") == 0

    async def run() -> list[int]:
        store = SqliteStore(str(path))
        try:
            return await store.migrate()
        finally:
            await store.close()

    assert asyncio.run(run())  # the schema was made too
    assert pragma(path, "auto_vacuum") == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [("still here",)]
