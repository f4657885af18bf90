"""The submit queue's rules: room under the cap, and what follows a refused send."""

from __future__ import annotations

import math

import pytest

from receiver.lifecycle.rules.queue import (
    Refusal,
    Refused,
    SubmitPolicy,
    after_refusal,
    free_slots,
    retryable_submit,
)

POLICY = SubmitPolicy(
    max_concurrent=2,
    give_up_seconds=3600,
    initial_backoff=2,
    max_backoff=60,
    jitter=0.2,
    max_retry_after=3600,
)
NOW = 10_000.0


def no_jitter(low: float, high: float) -> float:
    return high


def refused(
    attempt: int,
    status: int | None,
    retry_after: float | None = None,
    queued_since: float = NOW,
) -> Refused:
    reason = f"HTTP {status}" if status else "CometAPI did not answer in time"
    answer = Refusal(status, reason, retry_after)
    return after_refusal(POLICY, attempt, queued_since, answer, NOW, uniform=no_jitter)


def test_no_cap_lets_every_waiting_task_go() -> None:
    assert free_slots(None, running=500, paused_until=0, now=NOW) is None


def test_the_cap_leaves_room_for_what_is_not_running_and_never_less_than_none() -> None:
    assert free_slots(2, running=0, paused_until=0, now=NOW) == 2
    assert free_slots(2, running=1, paused_until=0, now=NOW) == 1
    assert free_slots(2, running=2, paused_until=0, now=NOW) == 0
    # Lowered while more ran (a new config on a busy store): wait, do not go negative.
    assert free_slots(2, running=5, paused_until=0, now=NOW) == 0


def test_nothing_goes_while_cometapi_asked_every_sender_to_wait() -> None:
    assert free_slots(None, running=0, paused_until=NOW + 1, now=NOW) == 0
    assert free_slots(5, running=0, paused_until=NOW + 1, now=NOW) == 0
    assert free_slots(5, running=0, paused_until=NOW, now=NOW) == 5


@pytest.mark.parametrize("status", [None, 429, 502, 503, 504])
def test_busy_answers_and_no_answer_wait_with_a_doubling_backoff(status: int | None) -> None:
    assert retryable_submit(status)
    waits = [refused(n, status).retry_at for n in range(1, 8)]
    assert [w - NOW for w in waits if w is not None] == [2, 4, 8, 16, 32, 60, 60]
    assert all(refused(n, status).outcome == "retry" for n in range(1, 8))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422, 500, 200])
def test_a_refusal_that_will_not_change_fails_at_once_with_cometapis_words(status: int) -> None:
    # 200: CometAPI answered but refused inside the envelope (a moderation refusal).
    decision = after_refusal(POLICY, 1, NOW, Refusal(status, "prompt rejected"), NOW)
    assert decision == Refused("failed", None, None, "prompt rejected")


def test_retry_after_lengthens_the_wait_and_holds_every_send_back() -> None:
    decision = refused(1, 503, retry_after=30)
    assert decision.retry_at == decision.pause_until == NOW + 30
    assert refused(1, 503, retry_after=0.5).retry_at == NOW + 2  # never shortens it
    assert refused(1, 503).pause_until is None  # a gateway's trouble: only this task waits


def test_a_429_holds_every_send_back_even_without_retry_after() -> None:
    decision = refused(3, 429)
    assert decision.retry_at == decision.pause_until == NOW + 8


def test_jitter_only_shortens_the_wait_within_its_share() -> None:
    waits = {after_refusal(POLICY, 4, NOW, Refusal(503, "x"), NOW).retry_at for _ in range(200)}
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
