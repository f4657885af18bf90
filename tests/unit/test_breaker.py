"""The circuit breaker (a failure rate over a window) and the rate limit of one downstream,
with time passed in."""

from __future__ import annotations

from receiver.outbox.rules.delivery import Breaker
from receiver.outbox.rules.pacing import TokenBucket


def test_the_breaker_opens_on_a_failure_rate_over_enough_attempts_in_the_window() -> None:
    b = Breaker(failure_rate=0.7, min_attempts=4, window=60, cool_off=10)
    for at in range(3):
        b.failed(at)
    assert b.state(3) == "closed"  # three attempts are not enough for a verdict
    b.failed(3)
    assert b.state(3) == "open" and b.allowance(5) == 0


def test_a_downstream_that_fails_one_attempt_in_two_is_never_paused() -> None:
    b = Breaker(failure_rate=0.7, min_attempts=10, window=60, cool_off=10)
    for at in range(1000):
        # Runs of five failures in a row, which once opened the breaker, among successes.
        if at % 10 < 5:
            b.failed(at * 0.1)
        else:
            b.succeeded(at * 0.1)
        assert b.state(at * 0.1) == "closed"


def test_a_bursts_fast_failures_wait_for_its_slow_successes() -> None:
    """120 attempts begun at once, one in two failing: the 503s end first. Each failure
    weighs the attempts begun before it that are still out, so the burst's verdict is its
    whole rate, not that of its first 20 to end."""
    b = Breaker(failure_rate=0.8, min_attempts=20, window=60, cool_off=10)
    # Begun in turn, every other one fails; the failures end first, in the order they began:
    # the one begun k-th has its k // 2 successes begun before it still out.
    for k in range(1, 120, 2):
        b.failed(k * 0.01, older_in_flight=k // 2)
        assert b.state(k * 0.01) == "closed"
    for k in range(0, 120, 2):
        b.succeeded(1.2 + k * 0.01)
    assert b.state(1.2) == "closed"
    # Not weighed so, the same burst opened it on its 20th failure.
    naive = Breaker(failure_rate=0.8, min_attempts=20, window=60, cool_off=10)
    for at in range(20):
        naive.failed(at * 0.01)
    assert naive.state(0.2) == "open"


def test_a_dead_downstream_still_opens_as_its_attempts_end_in_turn() -> None:
    """Attempts begun one after another, each failing: those begun later do not count
    against the verdict, so it opens on the twentieth as before."""
    b = Breaker(failure_rate=0.8, min_attempts=20, window=60, cool_off=10)
    for at in range(19):
        b.failed(at, older_in_flight=0)
    assert b.state(19) == "closed"
    b.failed(19, older_in_flight=2)  # two begun with it are still out: 20 of 22 weighed
    assert b.state(19) == "open"


def test_only_the_window_counts() -> None:
    b = Breaker(failure_rate=0.5, min_attempts=4, window=10, cool_off=10)
    for at in range(8):
        b.succeeded(at)
    for at in (20, 21, 22):
        b.failed(at)
    assert b.state(22) == "closed"  # the old successes no longer count, but three is too few
    b.failed(23)
    assert b.state(23) == "open"


def test_after_the_cool_off_one_probe_goes_and_decides() -> None:
    b = Breaker(failure_rate=1.0, min_attempts=1, window=60, cool_off=10)
    b.failed(0)
    assert b.allowance(9.9) == 0
    assert b.state(10) == "half_open" and b.allowance(10) == 1
    b.started(10)
    assert b.allowance(10.5) == 0  # one probe at a time
    b.failed(11)  # the probe failed: open again, for a whole cool-off
    assert b.state(20) == "open" and b.state(21) == "half_open"
    b.started(21)
    b.succeeded(21)
    assert b.state(21) == "closed" and b.allowance(21) is None


def test_the_bucket_allows_its_rate_with_a_burst() -> None:
    bucket = TokenBucket(rate=2, burst=2)
    assert bucket.available(0) == 2
    bucket.take(2)
    assert bucket.available(0.2) == 0
    assert bucket.available(0.5) == 1
    bucket.take(1)
    assert bucket.available(10) == 2  # never more than the burst
