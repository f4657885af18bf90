"""`/v1/stream`: the live changes a key may see, as Server-Sent Events (route.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import Field
from starlette.responses import Response

from receiver.kernel.http import models as m
from receiver.kernel.http.models import Epoch, Id, Params
from receiver.kernel.http.openapi import media
from receiver.keys.guard import caller_of, operation
from receiver.stream.changes import ChangeHub
from receiver.stream.route import stream_response
from receiver.tasks import actions as task_actions
from receiver.wiring.dependencies import Stored, on_app


class StreamParams(Params):
    task_id: Id | None = Field(None, description="Only this task's changes.")
    since: Epoch | None = Field(None, description="Start here (epoch seconds); unset: now.")


# A route's live changes: the process's one reader of the change feed.
Changes = Annotated[ChangeHub, Depends(on_app("changes", ChangeHub))]
live = APIRouter(tags=["live"])


LastEventId = Annotated[
    m.Text | None,
    Header(
        alias="Last-Event-ID",
        description="Resume after this event (browsers send it when they reconnect).",
    ),
]


@live.get(
    "/v1/stream",
    **operation(
        "tasks:read",
        "Live changes (Server-Sent Events)",
        "Never ends. `event: task` carries a task summary as it changes, `event: attempt` a"
        " delivery attempt as it ends; each `id` is where a reconnecting client resumes"
        " (`Last-Event-ID`), also after a restart of the relay. A `: keep-alive` comment"
        " comes every 15 s.",
        {200: media("The stream.", "text/event-stream")},
    ),
    response_class=Response,
)
async def stream(
    request: Request,
    store: Stored,
    changes: Changes,
    params: Annotated[StreamParams, Query()],
    last_event_id: LastEventId = None,
) -> Response:
    caller = caller_of(request)
    if params.task_id is not None:
        await task_actions.task_of(store, params.task_id, caller)
    return stream_response(request, changes, params.task_id, caller)
