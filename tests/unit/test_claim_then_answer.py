"""A callback's claim and CometAPI's answer in one transaction: the task as the claim left it
is kept in memory for the answer (polls.py's `claimed`), so it must be the row the store
holds after the claim's statement (tracking.py's BRING_POLL_FORWARD)."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.kernel.store.sqlite import SqliteDb
from receiver.lifecycle.rows.tasks.intake import create_task
from receiver.lifecycle.rows.tasks.tracking import Locked, PollEnd, finish_poll, lock_task
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import ClaimPolicy, Observation
from receiver.lifecycle.transactions.observe import Audience, Report, lock
from receiver.lifecycle.transactions.polls import claimed, keep_claim
from receiver.tasks.transactions import Accepted, bind
from tests.testkit import listed, migrated_sqlite

POLICY = ClaimPolicy(False, 600.0, 0.5, 100, 1_000_000)


def _db(path: Path) -> SqliteDb:
    return migrated_sqlite(path)[1]


def _claim(db: SqliteDb, task_id: str, key: str, now: float, body: str = "{}") -> None:
    """One callback's claim kept, and the row as `claimed` says it is against the store's."""
    obs = Observation(state="succeeded", upstream_task_id="up-1")
    report = Report("callback", key, obs, body)
    locked = lock(db, task_id, obs)
    assert isinstance(locked, Locked), locked
    kept = keep_claim(db, locked, report, Audience(listed({})), POLICY, None, now)
    assert kept.verdict == "pending"
    assert claimed(locked, report, kept, POLICY, now) == lock_task(db, task_id)


@pytest.mark.parametrize("polled_at", [None, 199.9, 150.0])
def test_the_row_a_claim_leaves_is_the_one_kept_in_memory(
    tmp_path: Path, polled_at: float | None
) -> None:
    db = _db(tmp_path / "h.db")
    task, _ = create_task(db, NewTask("video2video", {"video": "https://x.invalid/v.mp4"}), 100.0)
    bind(db, task.id, Accepted("up-1", "{}", 9e9), Audience(listed({})), "submit", 100.0)
    if polled_at is not None:  # asked lately: the claim's poll waits for the gap
        finish_poll(db, PollEnd(task.id, None, 9e9, polled_at, None))
    _claim(db, task.id, "callback:1", 200.0, '{"status": "SUCCEEDED"}')
    # A second claim while the first waits: its time and an earlier poll are kept.
    _claim(db, task.id, "callback:2", 200.2, '{"status": "SUCCEEDED", "more": "é"}')


def test_a_claim_that_takes_a_task_out_of_the_queue_has_it_read_again(tmp_path: Path) -> None:
    db = _db(tmp_path / "h.db")
    task, _ = create_task(db, NewTask("video2video", {"video": "https://x.invalid/v.mp4"}), 100.0)
    obs = Observation(state="succeeded", upstream_task_id="up-9")
    report = Report("callback", "callback:1", obs, "{}")
    locked = lock_task(db, task.id)
    assert locked is not None and locked.task.next_submit_at is not None
    kept = keep_claim(db, locked, report, Audience(listed({})), POLICY, None, 200.0)
    assert kept.verdict == "pending"
    assert claimed(locked, report, kept, POLICY, 200.0) is None
