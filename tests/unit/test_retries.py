"""The retry and backoff rules of submits, polls and deliveries, without I/O."""

from __future__ import annotations

import math

import pytest

from receiver.lifecycle.rules.polling import poll_backoff
from receiver.lifecycle.rules.queue import SubmitPolicy
from receiver.lifecycle.rules.retries import (
    Refusal,
    Refused,
    after_refusal,
    retryable_submit,
    submit_backoff,
)
from receiver.outbox.rules.delivery import Answer, Decision, RetryPolicy, decide

SUBMITS = SubmitPolicy(
    max_concurrent=2,
    give_up_seconds=3600,
    initial_backoff=2,
    max_backoff=60,
    jitter=0.2,
    max_retry_after=3600,
)
DELIVERIES = RetryPolicy(schedule=(5, 30, 120), jitter=0.2, max_retry_after=3600)
NOW = 10_000.0


def no_jitter(low: float, high: float) -> float:
    return high


def test_each_backoff_grows_to_its_ceiling() -> None:
    assert [submit_backoff(n, 2, 60) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert [poll_backoff(n, 10, 1.5, 120) for n in range(0, 8)] == [
        10,
        15,
        22.5,
        33.75,
        50.625,
        75.9375,
        113.90625,
        120,
    ]


# Submits: a send CometAPI did not take.


def refused(
    attempt: int,
    status: int | None,
    retry_after: float | None = None,
    queued_since: float = NOW,
) -> Refused:
    reason = f"HTTP {status}" if status else "CometAPI did not answer in time"
    answer = Refusal(status, reason, retry_after)
    return after_refusal(SUBMITS, attempt, queued_since, answer, NOW, uniform=no_jitter)


@pytest.mark.parametrize("status", [None, 429, 502, 503, 504])
def test_busy_answers_and_no_answer_wait_with_a_doubling_backoff(status: int | None) -> None:
    assert retryable_submit(status)
    waits = [refused(n, status).retry_at for n in range(1, 8)]
    assert [w - NOW for w in waits if w is not None] == [2, 4, 8, 16, 32, 60, 60]
    assert all(refused(n, status).outcome == "retry" for n in range(1, 8))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422, 500, 200])
def test_a_refusal_that_will_not_change_fails_at_once_with_cometapis_words(status: int) -> None:
    # 200: CometAPI answered but refused inside the envelope (a moderation refusal).
    decision = after_refusal(SUBMITS, 1, NOW, Refusal(status, "prompt rejected"), NOW)
    assert decision == Refused("failed", None, None, "prompt rejected")


def test_retry_after_lengthens_a_send_s_wait_and_holds_only_its_own_task_back() -> None:
    decision = refused(1, 503, retry_after=30)
    assert decision.retry_at == NOW + 30
    # Its request's trouble, not the account's: only this task waits (a 429 holds them all).
    assert decision.pause_until is None
    assert refused(1, 503, retry_after=0.5).retry_at == NOW + 2  # never shortens it
    assert refused(1, 503).pause_until is None
    assert refused(1, 429, retry_after=30).pause_until == NOW + 30


def test_a_429_holds_every_send_back_even_without_retry_after() -> None:
    decision = refused(3, 429)
    assert decision.retry_at == decision.pause_until == NOW + 8


def test_jitter_only_shortens_a_send_s_wait_within_its_share() -> None:
    waits = {after_refusal(SUBMITS, 4, NOW, Refusal(503, "x"), NOW).retry_at for _ in range(200)}
    assert all(w is not None and NOW + 16 * 0.8 <= w <= NOW + 16 for w in waits)
    assert len(waits) > 1


def test_a_task_fails_only_once_its_give_up_time_has_passed() -> None:
    queued = NOW - 3590  # 10 s left of the hour
    assert refused(2, 503, queued_since=queued).retry_at == NOW + 4  # in time
    last = refused(5, 503, queued_since=queued)  # 32 s would pass it: a last try at the end
    assert last.outcome == "retry" and last.retry_at == queued + 3600
    late = refused(6, 503, queued_since=NOW - 3600)
    assert late.outcome == "failed" and late.retry_at is None
    assert late.error == "CometAPI had no room for 1.0 h (6 attempts); last: HTTP 503"


@pytest.mark.parametrize("asked", [7200, 1e9, math.inf])
def test_a_huge_retry_after_is_capped_and_never_fails_a_first_refusal(asked: float) -> None:
    decision = refused(1, 429, retry_after=asked)
    assert decision.outcome == "retry"
    assert decision.pause_until == NOW + 3600  # capped at max_retry_after
    assert decision.retry_at == NOW + 3600


# Deliveries: one attempt to a downstream.


def attempt(n: int, status: int | None, retry_after: float | None = None) -> Decision:
    failure = f"HTTP {status}" if status else "cannot connect: Connection refused"
    return decide(DELIVERIES, n, Answer(status, failure, retry_after), NOW, uniform=no_jitter)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    assert attempt(1, status) == Decision("succeeded", NOW, None)


@pytest.mark.parametrize("status", [None, 408, 425, 429, 500, 502, 503, 504, 599])
def test_no_answer_timeouts_throttling_and_5xx_are_retried_on_the_schedule(
    status: int | None,
) -> None:
    for n, wait in enumerate(DELIVERIES.schedule, start=1):
        decision = attempt(n, status)
        assert (decision.outcome, decision.next_attempt_at, decision.state) == (
            "retry",
            NOW + wait,
            "pending",
        )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422])
def test_other_4xx_go_to_dead_letter_at_once_with_the_reason(status: int) -> None:
    assert attempt(1, status) == Decision("dead", NOW, f"HTTP {status}")


def test_after_the_last_scheduled_attempt_the_delivery_is_dead_with_the_last_reason() -> None:
    decision = attempt(len(DELIVERIES.schedule) + 1, 503)
    assert decision.outcome == "dead"
    assert decision.error == "gave up after 4 attempts; last: HTTP 503"


def test_retry_after_stretches_a_delivery_s_wait_up_to_the_cap_but_never_shortens_it() -> None:
    assert attempt(1, 429, retry_after=60).next_attempt_at == NOW + 60
    assert attempt(1, 429, retry_after=1).next_attempt_at == NOW + 5
    assert attempt(1, 429, retry_after=10**9).next_attempt_at == NOW + 3600


def test_jitter_only_shortens_a_delivery_s_wait_within_its_share() -> None:
    waits = [decide(DELIVERIES, 2, Answer(500, "x"), NOW).next_attempt_at - NOW for _ in range(200)]
    assert all(30 * 0.8 <= w <= 30 for w in waits)
    assert len(set(waits)) > 1
