"""When the next poll comes: tables of what CometAPI said and when, and the gap that follows."""

from __future__ import annotations

import random

import pytest

from receiver.lifecycle.rules.polling import (
    HISTORY_TRIM_EVERY,
    PollRule,
    Seen,
    Window,
    end_from_progress,
    lost_callback_check,
    next_poll,
    timing_key,
    trims_history,
    usual_window,
)

RULE = PollRule()


def gap(seen: Seen, rule: PollRule = RULE) -> float:
    return round(next_poll(seen, rule).at - seen.now, 3)


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0.0, 5.0), (30.0, 5.0), (400.0, 5.0)],
)
def test_a_task_not_begun_is_polled_sparsely_whatever_its_age(age: float, expected: float) -> None:
    seen = Seen(now=1000.0 + age, created_at=1000.0, started=False)
    assert gap(seen) == expected


# (seconds running, progress) -> gap: the task started at 0, submitted at 0.
# Progress 0.25 at 25 s: the end is expected at 100 s, the window 95-105 s.
@pytest.mark.parametrize(
    ("running", "progress", "expected"),
    [
        (25.0, 0.25, 12.0),  # far from the end: the longest running gap
        (80.0, 0.80, 7.5),  # half the way to the window's start (95 s)
        (92.0, 0.92, 2.0),  # close: no gap below near_gap
        (97.0, 0.97, 2.0),  # in the window
        (104.0, 1.0, 2.0),  # 1.0 but still RUNNING: the end is now
    ],
)
def test_progress_makes_polls_dense_around_the_end_it_points_to(
    running: float, progress: float, expected: float
) -> None:
    seen = Seen(now=running, created_at=0.0, started=True, started_at=0.0, progress=progress)
    assert gap(seen) == expected


def test_each_answer_refines_the_estimate() -> None:
    slow = next_poll(Seen(50.0, 0.0, True, 0.0, 0.25), RULE).expected_end
    fast = next_poll(Seen(50.0, 0.0, True, 0.0, 0.5), RULE).expected_end
    assert slow == pytest.approx(200.0)
    assert fast == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("started_at", "now", "progress", "end"),
    [
        (0.0, 10.0, 0.5, 20.0),
        (100.0, 130.0, 0.3, 200.0),
        (0.0, 10.0, 0.01, None),  # a first tick says nothing of the rate
        (10.0, 10.0, 0.5, None),
    ],
)
def test_end_from_progress(
    started_at: float, now: float, progress: float, end: float | None
) -> None:
    assert end_from_progress(started_at, now, progress) == end


# No progress: the history says tasks of this kind end 60-90 s after their submit.
@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (10.0, 12.0),  # far before: capped by the running gap
        (50.0, 5.0),  # half the way to 60 s
        (70.0, 2.0),  # inside the usual window
        (98.0, 4.0),  # overdue by 8 s: the gap grows by a quarter of that
        (400.0, 12.0),  # long overdue: never past the running gap
    ],
)
def test_history_makes_polls_dense_where_such_tasks_end(age: float, expected: float) -> None:
    seen = Seen(now=age, created_at=0.0, started=True, started_at=5.0, usual=Window(60.0, 90.0))
    assert gap(seen) == expected


@pytest.mark.parametrize(("age", "expected"), [(10.0, 5.0), (70.0, 5.6), (140.0, 6.0)])
def test_with_neither_progress_nor_history_a_running_task_is_polled_at_the_sdks_pace(
    age: float, expected: float
) -> None:
    seen = Seen(now=age, created_at=0.0, started=True, started_at=2.0)
    assert gap(seen) == pytest.approx(expected)
    assert next_poll(seen, RULE).expected_end is None


@pytest.mark.parametrize(("age", "expected"), [(10.0, 5.0), (100.0, 8.0), (140.0, 11.2)])
def test_without_that_pace_the_gap_grows_with_the_tasks_age(age: float, expected: float) -> None:
    rule = PollRule(unknown_gap=60.0)
    seen = Seen(now=age, created_at=0.0, started=True, started_at=2.0)
    assert gap(seen, rule) == pytest.approx(expected)


def test_no_gap_is_longer_than_the_ceiling() -> None:
    rule = PollRule(running_gap=1000.0, waiting_gap=1000.0, ceiling=60.0)
    rng = random.Random(7)
    for _ in range(2000):
        started = rng.random() < 0.7
        seen = Seen(
            now=rng.uniform(0, 20000),
            created_at=0.0,
            started=started,
            started_at=rng.uniform(0, 100) if started else None,
            progress=rng.choice([None, rng.random()]),
            usual=rng.choice([None, Window(rng.uniform(0, 50), rng.uniform(50, 9000))]),
        )
        assert rule.near_gap <= gap(seen, rule) <= 60.0


@pytest.mark.parametrize(
    ("durations", "window"),
    [
        ([], None),
        ([30.0, 40.0], None),
        ([30.0, 40.0, 50.0], Window(32.0, 48.0)),
        ([float(x) for x in range(100, 0, -1)], Window(10.9, 90.1)),
    ],
)
def test_usual_window_is_the_middle_of_the_history(
    durations: list[float], window: Window | None
) -> None:
    found = usual_window(durations)
    if window is None:
        assert found is None
    else:
        assert found is not None
        assert (found.low, found.high) == pytest.approx((window.low, window.high))


def test_a_lost_callback_is_looked_for_just_past_the_usual_end() -> None:
    assert lost_callback_check(1000.0, Window(40.0, 80.0), RULE) == 1083.0
    assert lost_callback_check(1000.0, None, RULE) is None


def test_tasks_of_one_kind_model_and_duration_share_a_history() -> None:
    five = timing_key("image_to_video", {"model": "gen4_turbo", "duration": 5, "seed": 1})
    assert five == timing_key("image_to_video", {"model": "gen4_turbo", "duration": 5})
    assert five != timing_key("image_to_video", {"model": "gen4_turbo", "duration": 10})
    assert timing_key("video2video", {}) == "video2video||"


def test_about_one_end_in_sixteen_trims_the_history() -> None:
    ids = [f"tsk_{i:028x}" for i in range(3200)]
    trimming = sum(trims_history(task_id) for task_id in ids)
    assert 3200 / HISTORY_TRIM_EVERY / 2 < trimming < 3200 / HISTORY_TRIM_EVERY * 2
    assert trims_history(ids[0]) == trims_history(ids[0])  # the same task, the same answer
