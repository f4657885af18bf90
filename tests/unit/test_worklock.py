"""The SQLite relay's one-process-per-work lock: a second holder is refused, naming the
first one's pid, and the lock is free again once released (as when its process ends)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from receiver.kernel.errors import StoreError
from receiver.kernel.store.sqlite.worklock import WorkLock


def test_a_second_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    database = str(tmp_path / "relay.db")
    first, second = WorkLock(database, "serve", "running on"), WorkLock(database, "serve", "x")
    first.take()
    first.take()  # taking it again is a no-op
    refusal = f"another relay process \\(pid {os.getpid()}\\) is already x {database}$"
    with pytest.raises(StoreError, match=refusal):
        second.take()
    assert not second.held
    first.release()
    second.take()
    assert second.held
    second.release()


def test_each_kind_of_work_has_its_own_lock(tmp_path: Path) -> None:
    database = str(tmp_path / "relay.db")
    serving, delivering = WorkLock(database, "serve", "a"), WorkLock(database, "deliveries", "b")
    serving.take()
    delivering.take()
    assert serving.held and delivering.held
    serving.release()
    delivering.release()


def test_a_lock_file_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    lock = WorkLock(str(tmp_path / "missing" / "relay.db"), "serve", "a")
    with pytest.raises(StoreError, match=r"cannot open the lock file .*relay\.db-serve\.lock"):
        lock.take()
