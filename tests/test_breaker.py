"""The circuit breaker and the rate limit of one downstream, with time passed in."""

from __future__ import annotations

from receiver.domain.breaker import Breaker, TokenBucket


def test_the_breaker_opens_after_failures_in_a_row_and_a_success_resets_the_count() -> None:
    b = Breaker(failures=3, cool_off=10)
    for _ in range(2):
        b.failed(0)
    b.succeeded()
    for _ in range(2):
        b.failed(1)
    assert b.state(1) == "closed" and b.allowance(1) is None
    b.failed(2)
    assert b.state(2) == "open" and b.allowance(5) == 0


def test_after_the_cool_off_one_probe_goes_and_decides() -> None:
    b = Breaker(failures=1, cool_off=10)
    b.failed(0)
    assert b.allowance(9.9) == 0
    assert b.state(10) == "half_open" and b.allowance(10) == 1
    b.started(10)
    assert b.allowance(10.5) == 0  # one probe at a time
    b.failed(11)  # the probe failed: open again, for a whole cool-off
    assert b.state(20) == "open" and b.state(21) == "half_open"
    b.started(21)
    b.succeeded()
    assert b.state(21) == "closed" and b.allowance(21) is None


def test_the_bucket_allows_its_rate_with_a_burst() -> None:
    bucket = TokenBucket(rate=2, burst=2)
    assert bucket.available(0) == 2
    bucket.take(2)
    assert bucket.available(0.2) == 0
    assert bucket.available(0.5) == 1
    bucket.take(1)
    assert bucket.available(10) == 2  # never more than the burst
