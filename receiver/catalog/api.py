"""The event catalog (`GET /v1/event-types`), the AsyncAPI document (`GET /asyncapi.json`)
and the preview of a filter and transform (`POST /v1/downstreams/preview`): their
handlers, answers and how the route table describes them."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from pydantic import ConfigDict, Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api.answer import Answer
from receiver.app.api.models import ErrorAnswer, NoParams
from receiver.app.api.openapi import Body, Doc, Operation, Reply, admin_op, reply
from receiver.catalog import asyncapi
from receiver.deliveries import preview as previews
from receiver.deliveries import trials
from receiver.downstreams.directory import directory_of
from receiver.kernel.events.rules.catalog import catalog
from receiver.kernel.http.answers import Json
from receiver.kernel.http.body import read_json
from receiver.kernel.service import Service

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
    matched: bool
    reason: str | None = Field(description="Why the filter did not take it.")
    request: PreviewedRequest | None = Field(description="What would be sent.")
    transform_error: str | None


async def event_types(request: Request, service: Service, params: NoParams) -> Response:
    return reply(EventTypes, {"event_types": catalog()})


async def preview(request: Request, service: Service, params: NoParams) -> Response:
    timeout = service.config.settings.server.body_timeout_seconds
    payload = await read_json(request, MAX_BODY_BYTES, timeout)
    return reply(Preview, await previews.preview(service, payload))


async def asyncapi_json(request: Request, service: Service, params: NoParams) -> Response:
    downstreams = list(directory_of(service).every.values())
    return Json(asyncapi.document(downstreams, version("runway-relay")))


_ERR = ErrorAnswer
OPERATIONS: tuple[Operation, ...] = (
    admin_op(
        "/v1/event-types",
        "GET",
        event_types,
        NoParams,
        Doc(
            "events",
            "The event catalog",
            "Every type of event a downstream may receive, with its JSON Schema (made from"
            " the relay's models) and an example, as the `webhook` format delivers it.",
            (Reply(200, "Every event type.", EventTypes),),
        ),
        scope="tasks:read",
    ),
    admin_op(
        "/asyncapi.json",
        "GET",
        asyncapi_json,
        NoParams,
        Doc(
            "events",
            "The AsyncAPI 3 document",
            "The webhook channel and each broker downstream's channel, with every event type"
            " as a message and its schema. Servers show a host and port, never a credential.",
            (
                Reply(
                    200,
                    "The document.",
                    media_types=("application/json",),
                    schema={"type": "object"},
                ),
            ),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/preview",
        "POST",
        preview,
        NoParams,
        Doc(
            "downstreams",
            "Preview a filter and transform",
            "Runs `filter` and `transform` (checked as they would be when stored) on an"
            " example event of `type` (`relay.test` when none) or on a task's newest event,"
            " and answers whether it matches and the request that would go: the header"
            " values given are masked, and nothing is sent.",
            (
                Reply(200, "The verdict and the request.", Preview),
                Reply(400, "The body is not JSON.", _ERR),
                Reply(404, "No such task.", _ERR),
                Reply(413, "The body is over 64 KiB.", _ERR),
                Reply(422, "An expression breaks a rule; `detail` says where.", _ERR),
            ),
        ),
        body=Body(
            TypeAdapter(previews.PreviewRequest),
            "PreviewRequest",
            "A filter, a transform and headers, with the format and the event to try.",
        ),
        scope="downstreams",
    ),
    *trials.OPERATIONS,  # a sample event of the catalog sent to a downstream
)
