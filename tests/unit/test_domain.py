"""The relay's rules without I/O: the public event document (the retry decision is
test_retries.py's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from receiver.lifecycle.rules.routing import event_document
from receiver.lifecycle.rules.task import Observation, shown_progress

NOW = 1_000.0


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
