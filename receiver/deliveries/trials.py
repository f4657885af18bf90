"""`POST /v1/downstreams/{name}/test`: a signed sample event of a catalog type sent to a
downstream now, and the attempt answered (receiver/deliveries/sample_event.py). An app's key
tests only its own downstreams; another's name is no such downstream."""

from __future__ import annotations

from pydantic import Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api import models as m
from receiver.app.api.answer import Answer
from receiver.app.api.openapi import Body, Doc, Operation, Reply, admin_op, reply
from receiver.deliveries.sample_event import SENDABLE, send_test
from receiver.downstreams.api import own_name
from receiver.downstreams.manage import read_checked
from receiver.kernel.http.body import read_json
from receiver.kernel.service import Service

MAX_TEST_BODY_BYTES = 4 * 1024


class TestEventRequest(Answer):
    type: str = Field(
        "task.succeeded",
        max_length=64,
        description=f"The event type to send: one of {', '.join(SENDABLE)}.",
    )


class TestEventSent(Answer):
    type: str
    event_id: str = Field(description="Its `webhook-id`.")
    status: int | None = Field(description="The downstream's answer; null: none came.")
    seconds: float = Field(description="How long the attempt took.")
    excerpt: str = Field(description="The start of the answer's body, scrubbed of secrets.")
    error: str | None = Field(description="Why no answer came (timeout, refused address...).")


async def test_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    kept = own_name(request, service, params.name)
    timeout = service.config.settings.server.body_timeout_seconds
    payload = await read_json(request, MAX_TEST_BODY_BYTES, timeout)
    wanted = read_checked(TestEventRequest, payload)
    return reply(TestEventSent, await send_test(service, kept, wanted.type))


OPERATIONS: tuple[Operation, ...] = (
    admin_op(
        "/v1/downstreams/{name}/test",
        "POST",
        test_downstream,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "Send a test event",
            "Sends a sample event of the type asked (the catalog's example, `task.succeeded` by"
            ' default) now, signed as every delivery, marked `"test": true` in its data and'
            " with the header `webhook-test: true`; nothing is stored or retried. Answers the"
            " attempt. Webhook and chat formats.",
            (
                Reply(200, "Sent; `status` is the downstream's answer.", TestEventSent),
                Reply(404, "No downstream of that name (of the caller's app).", m.ErrorAnswer),
                Reply(422, "An unknown type, or a broker's format.", m.ErrorAnswer),
            ),
        ),
        Body(TypeAdapter(TestEventRequest), "TestEventRequest", "The event type."),
        scope="downstreams",
    ),
)
