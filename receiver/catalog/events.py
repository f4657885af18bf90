"""The event types' models, and the JSON Schema made from them: what `GET /v1/event-types`
serves and the AsyncAPI document describes (receiver/outbox/rules/event_types.py holds the
types themselves and their examples). Apart from them: only the API uses these models, and a
relay's start builds none of them."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from receiver.lifecycle.rules.task import State
from receiver.outbox.rules.event_types import (
    ALERT_TYPES,
    DESCRIPTIONS,
    DISABLED_TYPE,
    EVENT_TYPES,
    example,
)


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


class AlertedDownstream(_Strict):
    """One downstream an alert names."""

    downstream: str = Field(description="The downstream's name (an app's: the name it gave).")
    reason: str = Field(description="What happened to it, in words (at most 200 characters).")
    failing_since: float | None = Field(description="Every attempt since then has failed.")


class AlertData(_Strict):
    """An operator alert about one app's downstreams (or the relay's own): one message a
    kind per app per quiet window, for the whole relay, naming every downstream told in it;
    at most one alert about a downstream per window, whatever its kind, a change within the
    window told, as the downstream's state then, when it ends."""

    event_id: str
    type: Literal["endpoint.failing", "endpoint.recovered", "endpoint.disabled"]
    task_id: str = Field(description="`tsk_relay`: the relay's own notices.")
    kind: Literal["relay"]
    state: Literal["endpoint.failing", "endpoint.recovered", "endpoint.disabled"]
    downstream: str | None = Field(
        description="The downstream's name (an app's: the name it gave) when the alert is"
        " about one; null when it is about several (see `downstreams`)."
    )
    app: str | None = Field(description="The app the downstreams belong to; null: global.")
    reason: str = Field(description="What happened, in words; about several: how many.")
    failing_since: float | None = Field(
        description="Every attempt since then has failed (about several: the earliest)."
    )
    downstreams: list[AlertedDownstream] = Field(
        description="Every downstream the alert is about, in the order they were told, at"
        " most 20; `more` counts the rest."
    )
    more: int = Field(ge=0, description="How many more downstreams than `downstreams` lists.")
    occurred_at: float
    test: bool | None = Field(None, description="`true` on a test event: a sample alert.")


def _data(event_type: str) -> type[BaseModel]:
    if event_type == DISABLED_TYPE:
        return DisabledData
    return AlertData if event_type in ALERT_TYPES else TaskEventData


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
    event_type: _envelope(event_type, _data(event_type)) for event_type in EVENT_TYPES
}


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
