"""The event catalog (`GET /v1/event-types`), the AsyncAPI document (`GET /asyncapi.json`)
and the preview of a filter and transform (`POST /v1/downstreams/preview`): their
routes and answers."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field
from starlette.responses import Response

from receiver.catalog import asyncapi
from receiver.catalog.events import catalog
from receiver.deliveries import preview as previews
from receiver.downstreams import manage as managed
from receiver.downstreams.api import Downstreams
from receiver.kernel.http.answers import Json
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import answer, body, media, reply
from receiver.keys.guard import caller_of, operation
from receiver.outbox.rules.delivery import shown_name
from receiver.wiring.dependencies import ServerSection, Stored

MAX_BODY_BYTES = 64 * 1024


class EventType(Answer):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    type: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema 2020-12.")
    example: dict[str, Any]


class EventTypes(Answer):
    event_types: list[EventType]


class PreviewedRequest(Answer):
    method: str = Field(description="`PUBLISH` for a broker.")
    path: str = Field(description="Appended to the downstream's URL.")
    headers: dict[str, str] = Field(description="Given values masked; no signature.")
    body: Any


class Preview(Answer):
    event: dict[str, Any] = Field(description="What the expressions saw as `event`.")
    source: Literal["downstream", "task", "example"] = Field(
        description="The event tried: the downstream's newest (`downstream` named), a task's"
        " newest (`task_id`, else the caller's newest task), or an example (`type` asked, or"
        " no real event yet; an example carries no metadata)."
    )
    matched: bool
    reason: str | None = Field(description="Why the filter did not take it.")
    request: PreviewedRequest | None = Field(description="What would be sent.")
    transform_error: str | None


router = APIRouter()
_ERR = ErrorAnswer


@router.get(
    "/v1/event-types",
    tags=["events"],
    **operation(
        "tasks:read",
        "The event catalog",
        "Every type of event a downstream may receive, with its JSON Schema (made from"
        " the relay's models) and an example, as the `webhook` format delivers it.",
        {200: answer("Every event type.", EventTypes)},
        params=False,
    ),
)
async def event_types() -> Response:
    return reply(EventTypes, {"event_types": catalog()})


@router.get(
    "/asyncapi.json",
    tags=["events"],
    **operation(
        "downstreams",
        "The AsyncAPI 3 document",
        "The webhook channel and each broker downstream's channel, with every event type"
        " as a message and its schema. Servers show a host and port, never a credential."
        " An app's key sees its own downstreams only; the admin sees every one.",
        {200: media("The document.", "application/json", schema={"type": "object"})},
        params=False,
    ),
)
async def asyncapi_json(request: Request, directory: Downstreams) -> Response:
    caller = caller_of(request)
    if caller.sees_all:
        every = await directory.every_one()
    else:  # its own, through the index of the apps'
        every = await directory.owned(caller.app_id) if caller.app_id else []
    downstreams = [d for d in every if managed.sees(caller, d.name)]
    if not caller.sees_all:  # an app knows its own by the names it gave them
        downstreams = [d.model_copy(update={"name": shown_name(d.name)}) for d in downstreams]
    return Json(asyncapi.document(downstreams, version("runway-relay")))


# Before /v1/downstreams/{name}, which would take "preview".
@router.post(
    "/v1/downstreams/preview",
    tags=["downstreams"],
    **operation(
        "downstreams",
        "Preview a filter and transform",
        "Runs `filter` and `transform` (checked as they would be when stored) on a real"
        " event: the newest offered to `downstream`, a task's newest (`task_id`, else the"
        " caller's newest task's), or an example of `type` (`relay.test` when there is no"
        " real event), and answers whether it matches and the request that would go: the header"
        " values given are masked, and nothing is sent.",
        {
            200: answer("The verdict and the request.", Preview),
            400: answer("The body is not JSON.", _ERR),
            404: answer("No such task.", _ERR),
            413: answer("The body is over 64 KiB.", _ERR),
            422: answer("An expression breaks a rule; `detail` says where.", _ERR),
        },
        params=False,
    ),
    openapi_extra=body(
        previews.PreviewRequest,
        "PreviewRequest",
        "A filter, a transform and headers, with the format and the event to try.",
    ),
)
async def preview(request: Request, store: Stored, server: ServerSection) -> Response:
    payload = await read_json(request, MAX_BODY_BYTES, server.body_timeout_seconds)
    return reply(Preview, await previews.preview(store, payload, caller_of(request)))
