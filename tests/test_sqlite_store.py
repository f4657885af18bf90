"""The SQLite backend's group commit and its off-thread checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from receiver.persist.sqlite import SqliteStore


def _insert(value: str) -> Any:
    def job(db: Any) -> int:
        return db.execute("INSERT INTO t (v) VALUES (?)", (value,))

    return job


def _insert_then_fail(value: str) -> Any:
    def job(db: Any) -> int:
        db.execute("INSERT INTO t (v) VALUES (?)", (value,))
        raise RuntimeError("job failed after writing")

    return job


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT v FROM t"))


def test_a_failing_job_loses_only_its_own_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def run() -> list[Any]:
        store = SqliteStore(str(path))
        await store._run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        # Hold the writer on one job so that the next ones queue up and share a batch.
        release = threading.Event()
        holding = asyncio.ensure_future(store._run(lambda db: release.wait(5)))
        await asyncio.sleep(0.1)
        batch = [
            asyncio.ensure_future(store._run(job))
            for job in (_insert("a"), _insert_then_fail("b"), _insert("c"))
        ]
        await asyncio.sleep(0.1)
        release.set()
        await holding
        results = await asyncio.gather(*batch, return_exceptions=True)
        commits = store.commits
        await store.close()
        assert commits == 3  # table, the held job, then the three queued ones together
        return results

    results = asyncio.run(run())
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], RuntimeError)
    assert _rows(path) == ["a", "c"]


def test_checkpoints_keep_the_wal_bounded_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    blob = "x" * 4000

    async def run() -> int:
        store = SqliteStore(str(path))
        await store._run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        largest = 0
        for i in range(300):  # about 20 MB of commits, over about 3 s of checkpoints
            await asyncio.gather(*(store._run(_insert(f"{i}-{k}{blob}")) for k in range(16)))
            wal = Path(f"{path}-wal")
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            await asyncio.sleep(0.01)
        await store.close()
        return largest

    largest = asyncio.run(run())
    assert largest < 12 * 1024 * 1024, f"WAL grew to {largest} bytes"
    assert len(_rows(path)) == 300 * 16


def test_in_memory_store_runs_without_a_checkpointer() -> None:
    async def run() -> int:
        store = SqliteStore(":memory:")
        await store._run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        count: int = await store._run(_insert("a"))
        await store.close()
        return count

    assert asyncio.run(run()) == 1
