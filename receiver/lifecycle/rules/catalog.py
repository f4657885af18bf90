"""The event catalog: every type of event a downstream may receive, its JSON Schema (made
from the models below, never written by hand) and an example.

What is described is the `webhook` format's event, as a webhook receives it and a broker
message carries it: `{type, timestamp, data}`, `data` being the event document
(receiver/lifecycle/rules/routing.py). Chat formats render the same document into a message.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from receiver.lifecycle.rules.task import State

TASK_TYPES = (
    "task.queued",
    "task.running",
    "task.progress",
    "task.succeeded",
    "task.failed",
    "task.cancelled",
)
DISABLED_TYPE = "downstream.disabled"
# What `POST /v1/downstreams/preview` sends through a filter and a transform when asked for
# no task: a made-up task that succeeded, marked as a test.
TEST_TYPE = "relay.test"
EVENT_TYPES = (*TASK_TYPES, DISABLED_TYPE, TEST_TYPE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaFile(BaseModel):
    role: str = Field(description="`video`, `poster`...")
    source: str | None = Field(None, description="The URL it was copied from.")
    url: str = Field(description="The relay's own signed link to its copy.")
    sha256: str | None = None
    bytes: int | None = None
    content_type: str | None = None


class Media(BaseModel):
    """The relay's own copies of the renders (`[media]` on), or why there are none."""

    status: Literal["mirrored", "failed"]
    files: list[MediaFile] = []
    reason: str | None = None


class TaskEventData(_Strict):
    """The event document of a task: the same for every delivery of one event."""

    event_id: str = Field(description="One per event; every delivery of it carries it.")
    task_id: str
    upstream_task_id: str | None = Field(description="CometAPI's id of the task.")
    kind: str = Field(description="The kind of task (receiver/lifecycle/rules/task.py).")
    state: State
    upstream_status: str | None = Field(description="CometAPI's own word for the state.")
    outputs: list[str] = Field(description="The renders' URLs.")
    output_type: str = Field(description="`video`, `image` or `audio`.")
    thumbnail: str | None
    error: str | None = Field(description="CometAPI's raw failure text: not for end users.")
    point: float | None = Field(description="Credits charged.")
    refund: float | None = Field(description="Credits refunded.")
    upstream_created_at: float | None
    upstream_updated_at: float | None
    source: str = Field(description="What told the relay: `poll`, `callback`, `submit`...")
    occurred_at: float = Field(description="Epoch seconds.")
    failure_code: str | None = Field(description="Runway's failure code, on `failed`.")
    failure_message: str | None = Field(description="Safe to show to end users.")
    metadata: dict[str, Any] | None = Field(description="The caller's own data, as submitted.")
    media: Media | None = None
    # A progress event, and the test event, say their type.
    type: Literal["task.progress", "relay.test"] | None = None
    progress: float | None = Field(None, description="0 to 1, on `task.progress`.")
    test: bool | None = Field(
        None,
        description="`true` on a test event (`POST /v1/downstreams/{name}/test`, with the"
        " header `webhook-test: true`): a sample, of no real task.",
    )
    estimated_end: str | None = Field(None, description="ISO 8601, on `task.progress`.")


class DisabledData(_Strict):
    """The relay's notice that it stopped delivering to a downstream."""

    event_id: str
    type: Literal["downstream.disabled"]
    task_id: str = Field(description="`tsk_relay`: the relay's own notices.")
    kind: Literal["relay"]
    state: Literal["downstream.disabled"]
    downstream: str
    reason: str
    failing_since: float | None
    occurred_at: float


def _envelope(event_type: str, data: type[BaseModel]) -> type[BaseModel]:
    class Event(_Strict):
        type: Literal[event_type]  # type: ignore[valid-type]
        timestamp: str = Field(description="When it occurred, ISO 8601 in UTC.")
        data: data  # type: ignore[valid-type]

    Event.__name__ = Event.__qualname__ = (
        "".join(p.title() for p in event_type.split(".")) + "Event"
    )
    return Event


MODELS: dict[str, type[BaseModel]] = {
    event_type: _envelope(
        event_type, DisabledData if event_type == DISABLED_TYPE else TaskEventData
    )
    for event_type in EVENT_TYPES
}

DESCRIPTIONS = {
    "task.queued": "The relay took the task; it is sent to CometAPI next.",
    "task.running": "CometAPI started the task.",
    "task.progress": "The running task moved on (throttled; `progress` from 0 to 1).",
    "task.succeeded": "The task ended with its renders in `outputs`.",
    "task.failed": "The task ended without renders; `failure_message` is safe to show.",
    "task.cancelled": "The task was cancelled.",
    DISABLED_TYPE: "The relay stopped delivering to a downstream, and why.",
    TEST_TYPE: "A made-up succeeded task, to try a filter or transform on (the preview).",
}


def example_document(event_type: str) -> dict[str, Any]:
    """An event document of this type, as the relay would store it."""
    now = 1767225600.0
    if event_type == DISABLED_TYPE:
        return {
            "event_id": "evt_example",
            "type": DISABLED_TYPE,
            "task_id": "tsk_relay",
            "kind": "relay",
            "state": DISABLED_TYPE,
            "downstream": "crm",
            "reason": "every attempt failed for 120.0 h",
            "failing_since": now - 432000,
            "occurred_at": now,
        }
    state = "succeeded" if event_type == TEST_TYPE else event_type.split(".", 1)[1]
    state = "running" if state == "progress" else state
    ended = state == "succeeded"
    document: dict[str, Any] = {
        "event_id": "evt_example",
        "task_id": "tsk_example",
        "upstream_task_id": "c0ffee00-0000-4000-8000-000000000000",
        "kind": "image_to_video",
        "state": state,
        "upstream_status": {"queued": "PENDING", "running": "RUNNING"}.get(state, state.upper()),
        "outputs": ["https://cdn.example.com/render.mp4"] if ended else [],
        "output_type": "video",
        "thumbnail": "https://cdn.example.com/render.jpg" if ended else None,
        "error": "content moderation" if state == "failed" else None,
        "point": 2.5 if ended else None,
        "refund": None,
        "upstream_created_at": now - 60,
        "upstream_updated_at": now,
        "source": "poll",
        "occurred_at": now,
        "failure_code": "SAFETY.INPUT.TEXT" if state == "failed" else None,
        "failure_message": "The prompt was refused by moderation." if state == "failed" else None,
        "metadata": {"customer": "acme", "tier": "gold"},
    }
    if event_type == "task.progress":
        document |= {"type": "task.progress", "progress": 0.4, "estimated_end": None}
    if event_type == TEST_TYPE:
        document |= {"type": TEST_TYPE}
    return document


def envelope(document: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """The `webhook` format's event around a document (receiver/destinations/webhook.py)."""
    kind = document.get("type") or f"task.{document['state']}"
    return {"type": kind, "timestamp": timestamp, "data": document}


def example(event_type: str) -> dict[str, Any]:
    return envelope(example_document(event_type), "2026-01-01T00:00:00Z")


@cache
def schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one type's event, self-contained."""
    return MODELS[event_type].model_json_schema(ref_template="#/$defs/{model}")


def catalog() -> list[dict[str, Any]]:
    return [
        {
            "type": event_type,
            "description": DESCRIPTIONS[event_type],
            "schema": schema(event_type),
            "example": example(event_type),
        }
        for event_type in EVENT_TYPES
    ]
