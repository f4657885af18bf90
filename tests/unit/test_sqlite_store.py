"""The SQLite backend's group commit and its off-thread checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from receiver.kernel.store.db import Sql
from receiver.kernel.store.sqlite import SqliteStore
from receiver.lifecycle.rows.tasks.intake import create_task
from receiver.lifecycle.rows.tasks.submits import END_SUBMIT, START_SUBMIT, due_lines, orphaned
from receiver.lifecycle.rows.tasks.tracking import RELEASE_POLL_LEASES, claim_polls
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import NewTask, Recorded
from receiver.lifecycle.rules.task import ClaimPolicy, Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observed
from receiver.lifecycle.transactions.polls import SET_POLL_BUDGET, arrived
from receiver.outbox.rows.outbox import claim_deliveries
from receiver.outbox.rules.delivery import Subscription
from receiver.tasks.transactions import Accepted, bind
from tests.testkit import listed, migrated_sqlite


def _insert(value: str) -> Any:
    def job(db: Any) -> int:
        return db.execute(Sql("INSERT INTO t (v) VALUES (?)"), (value,))

    return job


def _insert_then_fail(value: str) -> Any:
    def job(db: Any) -> int:
        db.execute(Sql("INSERT INTO t (v) VALUES (?)"), (value,))
        raise RuntimeError("job failed after writing")

    return job


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT v FROM t"))


def test_jobs_queued_together_share_one_commit_and_a_failing_one_loses_only_its_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"

    async def run() -> list[Any]:
        store = SqliteStore(str(path))
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        before = store.commits
        jobs = (_insert("a"), _insert_then_fail("b"), _insert("c"))
        results = await asyncio.gather(*(store.run(job) for job in jobs), return_exceptions=True)
        commits = store.commits - before
        await store.close()
        assert commits == 1  # queued in one turn of the loop: one transaction, one fsync
        return results

    results = asyncio.run(run())
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], RuntimeError)
    assert _rows(path) == ["a", "c"]


def test_a_job_nobody_waits_on_rides_in_the_next_transaction(tmp_path: Path) -> None:
    async def run() -> tuple[int, int, bool]:
        store = SqliteStore(str(tmp_path / "s.db"))
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        before = store.commits
        outcome = asyncio.ensure_future(store.run(_insert("outcome"), urgent=False))
        await asyncio.sleep(0)  # it is queued, and held for company
        held = not outcome.done()
        # The next job, queued a turn later, takes it along: one transaction for both.
        await store.run(_insert("callback"))
        await outcome
        shared = store.commits - before
        # Alone, it still commits once its wait is over.
        await store.run(_insert("alone"), urgent=False)
        alone = store.commits - before - shared
        await store.close()
        return shared, alone, held

    shared, alone, held = asyncio.run(run())
    assert held
    assert (shared, alone) == (1, 1)
    assert _rows(tmp_path / "s.db") == ["alone", "callback", "outcome"]


def test_only_a_batch_of_jobs_that_may_be_lost_commits_without_an_fsync(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """SQLite never syncs on its own (synchronous=NORMAL): a commit that must be on disk is
    followed by one fsync of the WAL, and a batch holding such a job gets it."""
    from receiver.kernel.store.sqlite import store as sqlite_store

    synced: list[str] = []
    fsync = sqlite_store._fsync
    monkeypatch.setattr(sqlite_store, "_fsync", lambda path: (synced.append(path), fsync(path)))

    def mode(db: Any) -> int:
        row = db.one(Sql("PRAGMA synchronous"))
        return int(next(iter(row.values())))

    async def run() -> list[tuple[int, int]]:
        store = SqliteStore(str(tmp_path / "s.db"))
        seen = []
        for jobs in ([False], [True], [False, True], [False, False]):
            before = len(synced)
            # Queued in one turn: one transaction, durable as its most demanding job wants.
            modes = await asyncio.gather(*(store.run(mode, durable=d) for d in jobs))
            seen.append((max(modes), len(synced) - before))
        await store.close()
        return seen

    normal_mode = 1  # SQLite's number for NORMAL
    assert asyncio.run(run()) == [
        (normal_mode, 0),
        (normal_mode, 1),
        (normal_mode, 1),
        (normal_mode, 0),
    ]
    assert set(synced) == {str(tmp_path / "s.db") + "-wal"}


def test_a_shared_sync_job_returns_once_the_next_synced_commit_or_its_own_sync_covers_it(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A poll's answer commits without a sync of its own and waits for the next callback's:
    one fsync for both; alone, the WAL is synced for it within milliseconds."""
    from receiver.kernel.store.sqlite import store as sqlite_store

    synced: list[str] = []
    fsync = sqlite_store._fsync
    monkeypatch.setattr(sqlite_store, "_fsync", lambda path: (synced.append(path), fsync(path)))
    # The wait for another commit's sync, long enough that a loaded machine reaches the
    # callback's commit first (at 10 ms, a CI run's timer fired before it).
    monkeypatch.setattr(sqlite_store, "_SHARED_SYNC_SECONDS", 30.0)

    async def run() -> tuple[bool, bool, int, list[str], bool]:
        store = SqliteStore(str(tmp_path / "s.db"))
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        synced.clear()  # the table's own commit
        answer = asyncio.ensure_future(store.run(_insert("answer"), shared_sync=True))
        for _ in range(3):
            await asyncio.sleep(0)  # committed (no sync of its own), its caller not told
        waited = not answer.done()
        before = store.commits
        await store.run(_insert("callback"))  # its sync covers the answer's commit
        told = answer.done()
        await answer
        commits = store.commits - before
        wal_synced = list(synced)
        monkeypatch.setattr(sqlite_store, "_SHARED_SYNC_SECONDS", 0.01)
        alone = await store.run(_insert("alone"), shared_sync=True)
        await store.close()
        return waited, told, commits, wal_synced, alone == 1

    waited, told, commits, wal_synced, alone = asyncio.run(run())
    assert waited and told and commits == 1 and alone
    wal = str(tmp_path / "s.db") + "-wal"
    assert wal_synced == [wal]  # the callback's commit's one sync covered both
    assert synced == [wal, wal]  # alone: the WAL synced for it
    assert _rows(tmp_path / "s.db") == ["alone", "answer", "callback"]


def test_a_held_write_lock_delays_jobs_without_blocking_the_loop(tmp_path: Path) -> None:
    """An operator's CLI (another connection) holding the write lock: the service's event loop
    keeps running, and the job commits once the lock is free."""
    path = tmp_path / "s.db"

    async def run() -> None:
        store = SqliteStore(str(path))
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        job = asyncio.ensure_future(store.run(_insert("late")))
        for _ in range(20):  # the loop keeps turning while the lock is held elsewhere
            await asyncio.sleep(0.01)
        assert not job.done()
        other.execute("COMMIT")
        other.close()
        await job
        await store.close()

    asyncio.run(run())
    assert _rows(path) == ["late"]


def test_checkpoints_keep_the_wal_bounded_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    blob = "x" * 4000

    async def run() -> int:
        store = SqliteStore(str(path))
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        largest = 0
        for i in range(300):  # about 20 MB of commits, over about 3 s of checkpoints
            await asyncio.gather(*(store.run(_insert(f"{i}-{k}{blob}")) for k in range(16)))
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
        await store.run(lambda db: db.script("CREATE TABLE t (v TEXT)"))
        count: int = await store.run(_insert("a"))
        await store.close()
        return count

    assert asyncio.run(run()) == 1


def test_finding_cut_off_submits_does_not_read_every_queued_task(tmp_path: Path) -> None:
    # The poller asks this every tick; with thousands of tasks waiting for their callbacks,
    # and thousands waiting in the submit queue, it must cost about the same as with none.
    conn, db = migrated_sqlite(tmp_path / "o.db")
    conn.execute("BEGIN")
    cut_off = []
    for i in range(6000):
        new = NewTask("image_to_video", {"promptImage": f"https://x.invalid/{i}.jpg"})
        task, _ = create_task(db, new, now=1000.0 + i)
        if i >= 3000:
            continue  # still waiting to be sent
        db.execute(START_SUBMIT, ("owner", 1000.0 + i, task.id))
        if i % 1000 == 7:
            cut_off.append(task.id)  # its send never got CometAPI's answer
        else:
            db.execute(END_SUBMIT, (None, 2000.0, task.id, "owner"))
            bind(
                db, task.id, Accepted(f"up-{i}", "{}", 9e9), Audience(listed({})), "submit", 2000.0
            )
    conn.execute("COMMIT")

    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 100)  # called every 100 virtual machine instructions
    found = orphaned(db, started_before=5000.0, limit=100)
    conn.set_progress_handler(None, 0)
    assert sorted(found) == sorted(cut_off)
    # Reading every queued task took over 300 calls here; the partial index takes a few.
    assert steps < 20, steps


def test_a_submit_claim_reads_the_queue_not_every_task_stored(tmp_path: Path) -> None:
    # Every replica claims at each tick and whenever a task ends under a cap: the apps'
    # lines are read from the queue's own index, not from every task the store keeps.
    conn, db = migrated_sqlite(tmp_path / "q.db")
    conn.execute("BEGIN")
    waiting = []
    for i in range(3005):
        new = NewTask("image_to_video", {"promptImage": f"https://x.invalid/{i}.jpg"})
        task, _ = create_task(db, new, now=1000.0 + i)
        if i >= 3000:
            waiting.append(task.id)
            continue
        db.execute(START_SUBMIT, ("owner", 1000.0 + i, task.id))
        db.execute(END_SUBMIT, (None, 2000.0, task.id, "owner"))
        bind(db, task.id, Accepted(f"up-{i}", "{}", 9e9), Audience(listed({})), "submit", 2000.0)
    conn.execute("COMMIT")

    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 100)  # called every 100 virtual machine instructions
    lines, _ = due_lines(db, now=9000.0, depth=8)
    conn.set_progress_handler(None, 0)
    assert lines == {"": waiting}
    # Walking every stored task took 153 calls here; the queue's index a few.
    assert steps < 20, steps


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
def test_a_downstream_with_a_long_queue_does_not_slow_the_others_claims(
    tmp_path: Path, ordered: bool
) -> None:
    # One hung downstream with 10,000 due rows: the claim for another reads its own rows
    # through the per-downstream index, as many steps as with no queue behind it, whether
    # it checks each task's earlier rows (`ordering = "task"`) or not.
    conn, db = migrated_sqlite(tmp_path / "c.db")
    subscriptions = {
        "hung": Subscription(frozenset({"succeeded"})),
        "ok": Subscription(frozenset({"succeeded"})),
    }

    def fill(tasks: int, only: dict[str, Subscription]) -> None:
        conn.execute("BEGIN")
        for i in range(tasks):
            task, _ = create_task(db, NewTask("image_to_video", {"i": i}), now=1.0)
            obs = Observation(state="succeeded", upstream_task_id=f"up-{i}-{len(only)}")
            observed(db, task.id, Report("poll", "k", obs, "{}"), Audience(listed(only)), 2.0)
        conn.execute("COMMIT")

    def claim_steps() -> tuple[int, int]:
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        conn.execute("BEGIN")
        conn.set_progress_handler(count, 100)
        jobs = claim_deliveries(db, "owner", 10.0, 60.0, 10, "ok", ordered)
        conn.set_progress_handler(None, 0)
        conn.execute("ROLLBACK")
        return len(jobs), steps

    fill(10, subscriptions)
    alone = claim_steps()
    fill(10_000, {"hung": subscriptions["hung"]})
    behind_a_queue = claim_steps()
    assert alone[0] == behind_a_queue[0] == 10
    assert behind_a_queue[1] <= alone[1] + 2, (alone, behind_a_queue)
    # Nor does its own long queue: each due row's earlier deliveries (per-task order) are
    # looked up by task, not by reading the downstream's pending rows again.
    fill(2_000, {"ok": subscriptions["ok"]})
    own_queue = claim_steps()
    assert own_queue[0] == 10
    assert own_queue[1] <= alone[1] + 2, (alone, own_queue)


def test_a_callback_leases_its_due_poll_in_its_own_transaction_once(tmp_path: Path) -> None:
    _, db = migrated_sqlite(tmp_path / "h.db")
    policy = ClaimPolicy(False, 600.0, 0.5, 100, 1_000_000)
    task, _ = create_task(db, NewTask("video2video", {"video": "https://x.invalid/v.mp4"}), 100.0)
    bind(db, task.id, Accepted("up-1", "{}", 9e9), Audience(listed({})), "submit", 100.0)
    claim = Observation(state="succeeded", upstream_task_id="up-1")

    def callback(key: str, now: float, take: PollLease | None) -> Recorded:
        report = Report("callback", key, claim, "{}")
        return arrived(db, task.id, report, Audience(listed({})), policy, take, now)

    first = callback("callback:1", 200.0, PollLease("me", 30.0, 60.0, None))
    assert first.verdict == "pending" and first.poll is not None
    assert (first.poll.task_id, first.poll.upstream_task_id) == (task.id, "up-1")
    # Leased already: no one claims it.
    assert claim_polls(db, "other", 200.0, 30.0, 60.0, 10) == []
    # Another callback while the poll is leased brings nothing to run twice.
    assert callback("callback:2", 200.1, PollLease("me", 30.0, 60.0, None)).poll is None
    # Without the offer, the poll is left to the poller's claim, as before.
    db.execute(RELEASE_POLL_LEASES, ("me",))
    assert callback("callback:3", 300.0, None).poll is None
    [claimed] = claim_polls(db, "other", 300.0, 30.0, 60.0, 10)
    assert claimed.task_id == task.id
    db.execute(RELEASE_POLL_LEASES, ("other",))
    # Under a budget, or while a 429 holds every poll, the claim takes it in its turn.
    assert callback("callback:4", 400.0, PollLease("me", 30.0, 60.0, 5.0)).poll is None
    db.execute(SET_POLL_BUDGET, (0.0, 500.0))
    assert callback("callback:5", 450.0, PollLease("me", 30.0, 60.0, None)).poll is None
    assert callback("callback:6", 501.0, PollLease("me", 30.0, 60.0, None)).poll is not None
