"""The rules that weigh callbacks: history bounds, when a claim's poll is due, settling."""

from __future__ import annotations

from receiver.lifecycle.rules.task import (
    Claim,
    ClaimPolicy,
    Observation,
    judge_on_ended,
    next_poll,
    over_history_bound,
    poll_due,
    settle,
)

POLICY = ClaimPolicy(False, window=120.0, min_poll_gap=2.0, max_count=3, max_bytes=100)
VIDEO = "https://cdn.example/v.mp4"


def test_the_history_bound_counts_bodies_and_bytes() -> None:
    assert not over_history_bound(2, 50, 50, POLICY)
    assert over_history_bound(3, 0, 1, POLICY)
    assert over_history_bound(0, 60, 41, POLICY)


def test_a_claims_poll_is_due_now_but_never_within_the_gap_after_the_last_poll() -> None:
    assert poll_due(100.0, None, POLICY) == 100.0
    assert poll_due(100.0, 99.5, POLICY) == 101.5
    assert poll_due(100.0, 90.0, POLICY) == 100.0


def test_a_claim_on_an_ended_task_is_judged_at_once() -> None:
    same = Observation(state="succeeded", outputs=(VIDEO,))
    other = Observation(state="succeeded", outputs=("https://evil.example/x.mp4",))
    assert judge_on_ended("succeeded", [VIDEO], same, 5.0) == "confirmed"
    assert judge_on_ended("succeeded", [VIDEO], other, 5.0) == "contradicted"
    assert judge_on_ended("failed", [], same, 5.0) == "contradicted"


def test_settle_judges_what_it_can_and_keeps_the_oldest_unsettled_claim() -> None:
    fresh = Claim("e1", "succeeded", (VIDEO,), received_at=99.0)
    older = Claim("e2", "succeeded", (VIDEO,), received_at=95.0)
    running = Observation(state="running")
    out = settle([fresh, older], running, now=100.0, window=120.0, polled_again=True)
    assert out.verdicts == [] and out.waiting_since == 99.0
    last = settle([fresh], running, now=100.0, window=120.0, polled_again=False)
    assert last.verdicts == [(fresh, "unconfirmed")]
    done = settle([fresh], Observation(state="succeeded", outputs=(VIDEO,)), 100.0, 120.0, True)
    assert done.verdicts == [(fresh, "confirmed")]


def test_the_next_poll_comes_sooner_for_an_unsettled_claim_and_never_for_an_ended_task() -> None:
    assert next_poll(100.0, 160.0, waiting_since=99.0, ended=False) == 100.5
    assert next_poll(100.0, 160.0, waiting_since=None, ended=False) == 160.0
    assert next_poll(100.0, 160.0, waiting_since=None, ended=True) is None
    assert next_poll(100.0, 160.0, waiting_since=99.0, ended=True) == 100.5
