"""An API key's own limits: whether one more task fits, which limit refuses it, and when a
place frees."""

from __future__ import annotations

from receiver.keys.rules import (
    DAY_SECONDS,
    NO_LIMITS,
    QUEUED_RETRY_SECONDS,
    KeyLimits,
    Usage,
    day_start,
    freeing_offset,
    over_limit,
)

NOW = 1_000_000.0


def test_no_limit_never_refuses() -> None:
    assert not NO_LIMITS.any
    assert over_limit(NO_LIMITS, Usage(10**6, 10**6), NOW) is None


def test_max_queued_counts_the_open_tasks() -> None:
    limits = KeyLimits(max_queued=5)
    assert limits.any
    assert over_limit(limits, Usage(4, 400), NOW) is None
    refused = over_limit(limits, Usage(5, 5), NOW)
    assert refused is not None
    assert refused.limit == "max_queued"
    assert refused.retry_after == QUEUED_RETRY_SECONDS
    assert "max_queued" in refused.reason and "5" in refused.reason


def test_max_per_day_waits_until_the_oldest_leaves_the_window() -> None:
    limits = KeyLimits(max_per_day=3)
    assert day_start(NOW) == NOW - DAY_SECONDS
    assert freeing_offset(limits, 2) is None
    assert over_limit(limits, Usage(0, 2), NOW) is None
    # Three made: the oldest of them (offset 0), made an hour ago, frees a place in 23 h.
    assert freeing_offset(limits, 3) == 0
    refused = over_limit(limits, Usage(0, 3, NOW - 3600), NOW)
    assert refused is not None and refused.limit == "max_per_day"
    assert refused.retry_after == DAY_SECONDS - 3600
    assert "max_per_day" in refused.reason and f"{DAY_SECONDS - 3600:.0f} s" in refused.reason


def test_over_the_day_limit_the_place_frees_when_enough_have_left() -> None:
    # Five in the window under a limit of three: the third oldest (offset 2) must leave.
    assert freeing_offset(KeyLimits(max_per_day=3), 5) == 2


def test_the_wait_is_a_whole_second_at_least() -> None:
    limits = KeyLimits(max_per_day=1)
    almost_gone = NOW - DAY_SECONDS + 0.2
    refused = over_limit(limits, Usage(0, 1, almost_gone), NOW)
    assert refused is not None and refused.retry_after == 1
    unknown = over_limit(limits, Usage(0, 1, None), NOW)
    assert unknown is not None and unknown.retry_after == DAY_SECONDS


def test_the_day_is_named_first_when_both_are_reached() -> None:
    refused = over_limit(KeyLimits(2, 2), Usage(2, 2, NOW - 60), NOW)
    assert refused is not None and refused.limit == "max_per_day"
    only_queued = over_limit(KeyLimits(2, 3), Usage(2, 2, None), NOW)
    assert only_queued is not None and only_queued.limit == "max_queued"
