"""The relay's rules without I/O: the retry decision and the public event document."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from receiver.lifecycle.rules.reports import Observation
from receiver.lifecycle.rules.retries import Answer, Decision, RetryPolicy, decide
from receiver.lifecycle.rules.routing import event_document
from receiver.lifecycle.rules.task import shown_progress

POLICY = RetryPolicy(schedule=(5, 30, 120), jitter=0.2, max_retry_after=3600)
NOW = 1_000.0


def no_jitter(low: float, high: float) -> float:
    return high


def attempt(n: int, status: int | None, retry_after: float | None = None) -> Decision:
    failure = f"HTTP {status}" if status else "cannot connect: Connection refused"
    return decide(POLICY, n, Answer(status, failure, retry_after), NOW, uniform=no_jitter)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    assert attempt(1, status) == Decision("succeeded", NOW, None)


@pytest.mark.parametrize("status", [None, 408, 425, 429, 500, 502, 503, 504, 599])
def test_no_answer_timeouts_throttling_and_5xx_are_retried_on_the_schedule(
    status: int | None,
) -> None:
    for n, wait in enumerate(POLICY.schedule, start=1):
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
    decision = attempt(len(POLICY.schedule) + 1, 503)
    assert decision.outcome == "dead"
    assert decision.error == "gave up after 4 attempts; last: HTTP 503"


def test_retry_after_stretches_the_wait_up_to_the_cap_but_never_shortens_it() -> None:
    assert attempt(1, 429, retry_after=60).next_attempt_at == NOW + 60
    assert attempt(1, 429, retry_after=1).next_attempt_at == NOW + 5
    assert attempt(1, 429, retry_after=10**9).next_attempt_at == NOW + 3600


def test_jitter_only_shortens_the_wait_within_its_share() -> None:
    waits = [decide(POLICY, 2, Answer(500, "x"), NOW).next_attempt_at - NOW for _ in range(200)]
    assert all(30 * 0.8 <= w <= 30 for w in waits)
    assert len(set(waits)) > 1


@dataclass
class FakeTask:
    id: str = "tsk_1"
    kind: str = "video2video"
    upstream_task_id: str | None = "up-1"
    outputs: list[str] = field(default_factory=lambda: ["https://cdn.invalid/old.mp4"])
    thumbnail: str | None = "https://cdn.invalid/old.png"
    point: float | None = 320.0
    refund: float | None = None
    metadata: dict[str, str] | None = None


def test_the_event_document_is_the_observation_over_what_the_task_already_knew() -> None:
    obs = Observation(state="succeeded", upstream_status="SUCCESS", refund=0.0)
    doc = event_document(FakeTask(), "evt_1", obs, "poll", NOW)
    assert doc == {
        "event_id": "evt_1",
        "task_id": "tsk_1",
        "upstream_task_id": "up-1",
        "kind": "video2video",
        "state": "succeeded",
        "upstream_status": "SUCCESS",
        "outputs": ["https://cdn.invalid/old.mp4"],
        "output_type": "video",
        "thumbnail": "https://cdn.invalid/old.png",
        "error": None,
        "point": 320.0,
        "refund": 0.0,
        "upstream_created_at": None,
        "upstream_updated_at": None,
        "source": "poll",
        "occurred_at": NOW,
        "failure_code": None,
        "failure_message": None,
        "metadata": None,
    }
    fresh = Observation(state="succeeded", outputs=("https://cdn.invalid/new.mp4",))
    assert event_document(FakeTask(), "evt_2", fresh, "poll", NOW)["outputs"] == [
        "https://cdn.invalid/new.mp4"
    ]


def test_a_failed_event_carries_runways_code_and_a_message_safe_for_end_users() -> None:
    obs = Observation(
        state="failed",
        upstream_status="FAILED",
        error="NSFW classifier score 0.98 on frame 12",
        failure_code="SAFETY.OUTPUT.VIDEO",
    )
    doc = event_document(FakeTask(), "evt_3", obs, "poll", NOW)
    assert doc["error"] == "NSFW classifier score 0.98 on frame 12"  # the raw reason, kept
    assert doc["failure_code"] == "SAFETY.OUTPUT.VIDEO"
    assert doc["failure_message"] == "The result was withheld by content moderation."
    assert "NSFW" not in doc["failure_message"]
    unknown = event_document(FakeTask(), "evt_4", Observation(state="failed"), "poll", NOW)
    assert unknown["failure_code"] is None
    assert unknown["failure_message"] == "The render could not be completed."


def test_a_succeeded_task_shows_whole_progress_and_no_other_ended_task_a_figure() -> None:
    assert shown_progress("succeeded", 0.75) == 1.0
    assert shown_progress("succeeded", None) == 1.0
    assert shown_progress("failed", 0.4) is None
    assert shown_progress("cancelled", 0.1) is None
    assert shown_progress("running", 0.73) == 0.73
    assert shown_progress("queued", None) is None
