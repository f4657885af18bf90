"""A task as the API answers it and the query parameters that pick tasks, as pydantic
models: what the routes answer through and FastAPI describes (one truth). Rules of the
feature, since the live stream's read (receiver/stream/reads.py) shapes its changes with
them too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from receiver.kernel.http.models import (
    Answer,
    Id,
    Limit,
    Moment,
    Params,
    Text,
    answerable_metadata,
)
from receiver.lifecycle.rules.task import (
    KIND_NAMES,
    PASSED_PATTERN,
    State,
    is_passed_through,
    is_route_name,
)


def _known_kind(value: str) -> str:
    if not is_route_name(value):  # every kind of the table is shaped so too
        raise ValueError(f"must be one of {', '.join(KIND_NAMES)}, or a route passed through")
    return value


# Every kind of the table (receiver/lifecycle/rules/task.py), or a Runway route it does
# not know, passed through.
_KIND_SCHEMA = {"type": "string", "pattern": PASSED_PATTERN, "examples": list(KIND_NAMES)}
Kind = Annotated[str, AfterValidator(_known_kind), WithJsonSchema(_KIND_SCHEMA)]
DeliveryState = Literal[
    "pending", "mirroring", "held", "succeeded", "dead", "superseded", "filtered"
]


class Submitted(Answer):
    id: str
    upstream_task_id: str | None
    kind: Kind
    state: State
    callback_url: str | None = Field(
        None, description="Callback kinds only: the signed URL CometAPI calls back."
    )
    queue_position: int | None = Field(
        None, description="Its place in the submit queue (1: sent next), while it waits."
    )


class TaskSummary(Answer):
    id: str
    kind: Kind | Literal["relay"] = Field(
        description="`relay`: the relay's own notices (task `tsk_relay`), never listed."
    )
    state: State
    app: str | None = Field(
        description="The name of the app whose key made it; null: the operator's own (the"
        " admin token's)."
    )
    upstream_task_id: str | None
    upstream_status: str | None

    @pydantic.computed_field(description="A Runway route its table lacks, passed through.")
    def passed_through(self) -> bool:
        return is_passed_through(self.kind)

    outputs: list[str] = Field(description="CometAPI's links to the renders (they expire).")
    thumbnail: str | None
    error: str | None
    created_at: float = Field(description="Epoch seconds, as every time here.")
    updated_at: float
    terminal_at: float | None
    next_poll_at: float | None
    poll_attempts: int
    point: float | None = Field(description="Credits charged, as CometAPI reported.")
    refund: float | None
    progress: float | None = Field(
        description="0 to 1, as CometAPI last reported while the task ran; 1 once it"
        " succeeded, null once it failed or was cancelled."
    )
    expected_end_at: float | None = Field(
        description="When the relay expects CometAPI to end it (from its progress, or how long"
        " tasks of its kind, model and duration took), which its polls aim at; null: no estimate."
    )
    prompt: str | None
    submission: Literal["waiting", "sending", "sent", "not_sent"] = Field(
        description="On its way to CometAPI: waiting in the submit queue, being sent now,"
        " sent (CometAPI took it), or never sent (cancelled or refused first)."
    )
    queue_position: int | None = Field(
        description="Its place in the submit queue (1: sent next); null: not waiting."
    )
    next_submit_at: float | None = Field(description="While waiting: when it is sent next.")
    metadata: Annotated[dict[str, Any] | None, BeforeValidator(answerable_metadata)] = Field(
        description="The caller's own data, as submitted; every event of the task carries it"
        " as `data.metadata`."
    )
    channels: list[str] = Field(description="The channels it was submitted with.")
    webhook: str | None = Field(
        description="Its own webhook's scheme and host (the path is never shown: it may hold"
        " the receiver's token); null: none."
    )
    submit_attempts: int = Field(description="Sends to CometAPI so far (see `submits`).")
    resubmits: int = Field(
        description="New upstream tasks made after a failure worth another try"
        " (`upstream.resubmit_failed`)."
    )


class EventSummary(Answer):
    id: str
    source: str = Field(examples=["callback", "poll", "submit", "cancel", "relay"])
    state: str | None = Field(description="The task state it reports, or the notice's type.")
    upstream_status: str | None
    applied: bool = Field(description="False: kept in the history only (late, or a claim).")
    received_at: float
    verdict: Literal["pending", "confirmed", "contradicted", "unconfirmed"] | None = Field(
        description="Callbacks only: what CometAPI's own answer made of the claim."
    )
    verdict_at: float | None


class DeliverySummary(Answer):
    id: str
    event_id: str
    task_id: str
    downstream: str
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None


class AttemptSummary(Answer):
    id: str
    delivery_id: str
    task_id: str
    downstream: str
    number: int = Field(description="1 for a delivery's first attempt.")
    started_at: float
    finished_at: float
    latency_ms: float
    status: int | None = Field(description="The downstream's HTTP status; null: no answer.")
    error: str | None
    outcome: Literal["succeeded", "retry", "dead", "filtered"]
    excerpt: str | None = Field(
        None,
        description="The start of the downstream's answer body (at most 500 characters),"
        " scrubbed of secrets; null: no answer (or an attempt from before excerpts were kept).",
    )


class SubmitAttemptSummary(Answer):
    id: str
    task_id: str
    number: int = Field(description="1 for the task's first send.")
    started_at: float
    finished_at: float
    status: int | None = Field(description="CometAPI's HTTP status; null: no answer.")
    error: str | None = Field(description="CometAPI's words, or why there was no answer.")
    outcome: Literal["accepted", "retry", "failed"] = Field(
        description="`retry`: back in the queue until `retry_at`."
    )
    retry_at: float | None


class MediaFile(Answer):
    role: str = Field(examples=["video", "poster"])
    source: str = Field(description="CometAPI's link it was copied from.")
    url: str = Field(description="The relay's signed link to its copy (`GET /media/{token}`).")
    sha256: str
    bytes: int
    content_type: str


class Media(Answer):
    """Copies of a succeeded task's files ([media] on); `pending`: being made (deliveries wait)."""

    status: Literal["pending", "mirrored", "failed"]
    files: list[MediaFile] = Field(default_factory=list)
    reason: str | None = Field(None, description="Why no copy could be made.")


class TaskPage(Answer):
    tasks: list[TaskSummary] = Field(description="Newest first.")
    next: str | None = Field(description="Pass as `before` for the next page; null: no more.")
    search_window_reached: bool | None = Field(
        None,
        description="A text search (`q`) reads at most `server.search_window` tasks (5,000)"
        " a page, from `before` down; true when it stopped there before the page filled:"
        " pass `next` as `before` to search on.",
    )


# Parameters: the query's, read by FastAPI through these models (and by the agents' tools).


class TaskListParams(Limit):
    state: State | None = None
    kind: Kind | None = None
    since: Moment | None = Field(None, description="Created at or after (epoch or ISO 8601).")
    q: Text | None = Field(None, description="Text in the submitted request (the prompt).")
    before: Id | None = Field(None, description="The `next` of the previous page.")
    app: Id | None = Field(
        None,
        description="Only this live app's tasks, by its name (a key without the `admin`"
        " scope sees only its own app's tasks: another name is refused).",
    )


class TaskIdParams(Params):
    task_id: Id
