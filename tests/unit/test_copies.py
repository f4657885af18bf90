"""When a copy of a render is tried, for how long, and when it is given up
(receiver/lifecycle/rules/retries.py)."""

from __future__ import annotations

import pytest

from receiver.lifecycle.rules.retries import (
    copy_attempt_seconds,
    copy_overdue_reason,
    copy_retry_in,
)

pytestmark = pytest.mark.unit

WAIT, TIMEOUT = 600.0, 900.0


def test_an_attempt_gets_the_download_timeout_while_the_deliveries_can_wait_that_long() -> None:
    assert copy_attempt_seconds(started_at=0, now=0, wait=1000, download_timeout=300) == 300


def test_an_attempt_is_cut_short_where_the_deliveries_stop_waiting() -> None:
    # The defaults: a 900 s timeout, deliveries that wait 600 s.
    assert copy_attempt_seconds(started_at=100, now=100, wait=WAIT, download_timeout=TIMEOUT) == 600
    assert copy_attempt_seconds(started_at=100, now=550, wait=WAIT, download_timeout=TIMEOUT) == 150
    assert copy_attempt_seconds(started_at=100, now=800, wait=WAIT, download_timeout=TIMEOUT) <= 0


@pytest.mark.parametrize(
    ("attempts", "delay"), [(0, 1), (1, 2), (3, 8), (5, 32), (6, 60), (40, 60)]
)
def test_failed_attempts_back_off_doubling_up_to_a_minute(attempts: int, delay: float) -> None:
    assert copy_retry_in(attempts, started_at=0, now=10, wait=WAIT, final=False) == delay


def test_a_failure_that_trying_again_cannot_help_gives_the_copy_up() -> None:
    assert copy_retry_in(0, started_at=0, now=1, wait=WAIT, final=True) is None


def test_no_retry_is_planned_past_the_moment_the_deliveries_stop_waiting() -> None:
    # A timed-out attempt (a trickling source) at 590 s: the next would start past 600 s.
    assert copy_retry_in(4, started_at=0, now=590, wait=WAIT, final=False) is None
    assert copy_retry_in(4, started_at=0, now=580, wait=WAIT, final=False) == 16


def test_the_reason_for_an_overdue_copy_names_the_setting_and_the_last_error() -> None:
    assert copy_overdue_reason(600, None) == "not copied within media.wait_seconds (600 s)"
    assert copy_overdue_reason(16.5, "HTTP 503") == (
        "not copied within media.wait_seconds (16.5 s); last error: HTTP 503"
    )
