"""The poll budget's token bucket (receiver/lifecycle/rules/polling.py)."""

from __future__ import annotations

import pytest

from receiver.lifecycle.rules.polling import Bucket, burst, give_back, held, take


def test_a_fresh_bucket_gives_a_seconds_worth() -> None:
    granted, after = take(Bucket(0.0, 0.0), 1000.0, 20.0, 50)
    assert granted == 20
    assert after == Bucket(0.0, 1000.0)


@pytest.mark.parametrize(
    ("tokens", "elapsed", "rate", "want", "granted"),
    [
        (0.0, 0.1, 20.0, 50, 2),  # two polls' worth in a tenth of a second
        (0.0, 0.04, 20.0, 50, 0),  # not yet a whole poll
        (0.5, 0.03, 20.0, 50, 1),  # the halves add up
        (5.0, 0.0, 20.0, 3, 3),  # fewer wanted than there are
        (0.0, 10.0, 0.5, 50, 1),  # a slow budget still gives one poll at a time
        (0.0, 0.0, 0.5, 50, 0),
    ],
)
def test_tokens_come_at_the_rate(
    tokens: float, elapsed: float, rate: float, want: int, granted: int
) -> None:
    got, after = take(Bucket(tokens, 100.0), 100.0 + elapsed, rate, want)
    assert got == granted
    assert after.tokens == pytest.approx(min(burst(rate), tokens + elapsed * rate) - granted)


def test_over_a_long_run_no_more_than_the_rate_goes() -> None:
    bucket, sent, now = Bucket(0.0, 0.0), 0, 50.0
    first = now
    for _ in range(2000):  # a claim every 13 ms, each wanting a whole batch
        now += 0.013
        got, bucket = take(bucket, now, 20.0, 50)
        sent += got
    assert sent <= 20.0 * (now - first) + burst(20.0)
    assert sent >= 20.0 * (now - first) - 1


def test_without_a_rate_everything_goes_unless_held() -> None:
    assert take(Bucket(0.0, 0.0), 10.0, None, 50) == (50, Bucket(0.0, 0.0))
    stopped = held(Bucket(0.0, 0.0), 10.0, 30.0)
    assert take(stopped, 39.9, None, 50)[0] == 0
    assert take(stopped, 40.0, None, 50)[0] == 50


def test_a_429_empties_the_bucket_until_its_retry_after() -> None:
    stopped = held(Bucket(20.0, 100.0), 100.0, 5.0)
    assert stopped == Bucket(0.0, 105.0)
    assert take(stopped, 104.0, 20.0, 50)[0] == 0
    # After the wait, it fills again from empty: no burst saved up while held.
    assert take(stopped, 105.1, 20.0, 50)[0] == 2


def test_a_later_429_never_shortens_an_earlier_hold() -> None:
    assert held(Bucket(0.0, 200.0), 100.0, 5.0).at == 200.0


def test_a_clock_behind_the_bucket_takes_nothing() -> None:
    # Another replica counted the bucket at 100.0; this one's clock says 99.5.
    assert take(Bucket(3.0, 100.0), 99.5, 20.0, 50) == (0, Bucket(3.0, 100.0))


def test_unused_tokens_go_back_up_to_the_burst() -> None:
    assert give_back(Bucket(2.0, 1.0), 3, 20.0) == Bucket(5.0, 1.0)
    assert give_back(Bucket(19.0, 1.0), 3, 20.0) == Bucket(20.0, 1.0)
    assert give_back(Bucket(2.0, 1.0), 3, None) == Bucket(2.0, 1.0)
