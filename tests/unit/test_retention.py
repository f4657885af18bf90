"""The prune rules: what goes, what stays, how the walk over ended tasks moves on, and how
much free space a SQLite file gives back."""

from __future__ import annotations

import pytest

from receiver.retention.rules import (
    DAY,
    START,
    Candidate,
    Cursor,
    RetentionPolicy,
    next_batch,
    pages_to_free,
    prunable,
)

NOW = 1_000 * DAY
POLICY = RetentionPolicy(task_days=90, dead_letter_days=180, batch_size=3)


def ended(days_ago: float, state: str = "succeeded", **extra: object) -> Candidate:
    fields: dict[str, object] = {
        "task_id": f"tsk_{days_ago}",
        "state": state,
        "ended_at": NOW - days_ago * DAY,
        "unfinished": 0,
        "last_dead_at": None,
        **extra,
    }
    return Candidate(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("state", ["succeeded", "failed", "cancelled"])
def test_a_task_that_ended_past_the_retention_goes(state: str) -> None:
    assert prunable(ended(91, state), POLICY, NOW)


def test_a_task_that_ended_within_the_retention_stays() -> None:
    assert not prunable(ended(89), POLICY, NOW)
    assert not prunable(ended(90), POLICY, NOW)  # exactly at the line: not yet past it


@pytest.mark.parametrize("state", ["queued", "running"])
def test_a_task_that_has_not_ended_never_goes_however_old(state: str) -> None:
    assert not prunable(ended(10_000, state), POLICY, NOW)
    assert not prunable(ended(10_000, "succeeded", ended_at=None), POLICY, NOW)


def test_a_task_with_a_delivery_still_to_do_stays() -> None:
    assert not prunable(ended(400, unfinished=1), POLICY, NOW)


def test_a_dead_letter_keeps_its_task_for_dead_letter_days_after_it_died() -> None:
    assert not prunable(ended(400, last_dead_at=NOW - 179 * DAY), POLICY, NOW)
    assert prunable(ended(400, last_dead_at=NOW - 181 * DAY), POLICY, NOW)


def test_dead_letter_days_shorter_than_task_days_keeps_nothing_longer() -> None:
    short = RetentionPolicy(task_days=90, dead_letter_days=7, batch_size=3)
    assert not prunable(ended(30, last_dead_at=NOW - 30 * DAY), short, NOW)
    assert prunable(ended(91, last_dead_at=NOW - 91 * DAY), short, NOW)


def test_a_batch_picks_the_prunable_and_steps_past_the_kept() -> None:
    kept = ended(300, unfinished=2)
    read = [ended(500), kept, ended(200)]
    batch = next_batch(read, POLICY, NOW, START)
    assert batch.task_ids == ["tsk_500", "tsk_200"]
    assert batch.cursor == Cursor(NOW - 200 * DAY, "tsk_200")
    assert not batch.last  # a full batch was read: there may be more


def test_a_short_read_ends_the_walk_and_an_empty_one_keeps_the_cursor() -> None:
    at = Cursor(5.0, "tsk_x")
    assert next_batch([ended(100)], POLICY, NOW, at).last
    empty = next_batch([], POLICY, NOW, at)
    assert empty == type(empty)([], at, True)


def test_free_pages_are_given_back_down_to_a_twentieth_of_the_file() -> None:
    assert pages_to_free(0, 1000) == 0
    assert pages_to_free(50, 1000) == 0
    freed = pages_to_free(600, 1000)
    assert (600 - freed) / (1000 - freed) <= 0.05
    assert (600 - freed + 1) / (1000 - freed + 1) > 0.05  # no more than needed
    assert pages_to_free(1000, 1000) == 1000
