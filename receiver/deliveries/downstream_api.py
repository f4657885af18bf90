"""What is done to a downstream beside its settings: its secret rotated, disabled, enabled,
and a test event sent to it now (receiver/deliveries/sample_event.py); their routes and
answers. An app's key acts only on its own downstreams; another's name is no such one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from receiver.deliveries import actions as delivery_actions
from receiver.deliveries.api import RecoverParams
from receiver.deliveries.sample_event import SENDABLE, send_test
from receiver.downstreams import manage as managed
from receiver.downstreams.api import FROM_CONFIG, NO_DOWNSTREAM, Downstreams, own_name
from receiver.downstreams.manage import read_checked
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import (
    CALLS_LIMITED,
    CALLS_RETRY_AFTER,
    PathId,
    answer,
    body,
    reply,
)
from receiver.keys.guard import caller_of, operation
from receiver.wiring.dependencies import (
    Calls,
    DeliverySection,
    Logged,
    ServerSection,
    Workers,
)

MAX_TEST_BODY_BYTES = 4 * 1024


class SecretRotated(Answer):
    downstream: str
    secret: str | None = Field(
        description="The new `whsec_` signing secret, shown this once only; null with"
        " `signing: ed25519` or `rfc9421`, whose private key never leaves the relay."
    )
    public_key: str | None = Field(
        None, description="With `signing: ed25519` or `rfc9421`: the new key's `whpk_` public key."
    )
    key_id: str | None = Field(
        None, description="With `signing: rfc9421`: the new key's id (`keyid`, `kid`)."
    )
    previous_secret_until: float = Field(
        description="Until then every delivery carries both signatures, space-separated."
    )


class Disabled(Answer):
    downstream: str
    disabled: Literal[True]
    changed: bool = Field(description="False: it was disabled already.")


class Enabled(Answer):
    downstream: str
    disabled: Literal[False]
    queued: int = Field(description="Deliveries queued again: held, and failed since.")


class TestEventRequest(Answer):
    type: str = Field(
        "task.succeeded",
        max_length=64,
        description=f"The event type to send: one of {', '.join(SENDABLE)}.",
    )


class SentRequest(Answer):
    """A request as it went out: the downstream's URL template (its transform's path),
    transform, static headers, auth and signature applied."""

    method: str
    url: str = Field(description="Shown as the downstream's URL is (a chat's path hidden).")
    headers: dict[str, str] = Field(
        description="Every header sent; static ones' and `Authorization`'s values masked (`***`)."
    )
    body: str = Field(description="The body as sent, as text.")


class TestEventSent(Answer):
    type: str
    event_id: str = Field(description="Its `webhook-id`.")
    status: int | None = Field(description="The downstream's answer; null: none came.")
    seconds: float = Field(description="How long the attempt took.")
    excerpt: str = Field(description="The start of the answer's body, scrubbed of secrets.")
    error: str | None = Field(
        description="Why no answer came (timeout, refused address, the filter refused it...)."
    )
    sent: SentRequest | None = Field(
        None, description="What was sent, as a real delivery of the event would be; null: nothing."
    )


router = APIRouter(tags=["downstreams"])


@router.post(
    "/v1/downstreams/{name:downstream}/rotate-secret",
    **operation(
        "downstreams",
        "Rotate a downstream's secret",
        "A new secret, shown once. For `delivery.rotation_overlap_seconds` (24 h by default)"
        " every delivery carries both signatures, space-separated in `webhook-signature`, so"
        " a receiver that knows either secret verifies.",
        {200: answer("Rotated.", SecretRotated), 404: NO_DOWNSTREAM, 409: FROM_CONFIG},
    ),
)
async def rotate_secret(
    request: Request, workers: Workers, rules: DeliverySection, directory: Downstreams, name: PathId
) -> Response:
    kept = await own_name(request, directory, name)
    shown, until = await managed.rotate_secret(workers, rules, directory, kept)
    rotated = {"downstream": name, **shown, "previous_secret_until": until}
    return reply(SecretRotated, rotated)


@router.post(
    "/v1/downstreams/{name:downstream}/disable",
    **operation(
        "downstreams",
        "Disable a downstream",
        "Stops attempting it, on every replica; its deliveries are held until it is enabled.",
        {200: answer("Disabled.", Disabled), 404: NO_DOWNSTREAM},
    ),
)
async def disable_downstream(
    request: Request, workers: Workers, directory: Downstreams, name: PathId
) -> Response:
    kept = await own_name(request, directory, name)
    changed = await delivery_actions.disable_downstream(workers, directory, kept)
    return reply(Disabled, {"downstream": name, "disabled": True, "changed": changed})


@router.post(
    "/v1/downstreams/{name:downstream}/enable",
    **operation(
        "downstreams",
        "Enable a downstream",
        "Attempts it again, and queues what it held (and, with `recover_since`, what went"
        " to dead-letter since then).",
        {200: answer("Enabled.", Enabled), 404: NO_DOWNSTREAM},
    ),
)
async def enable_downstream(
    request: Request,
    workers: Workers,
    directory: Downstreams,
    name: PathId,
    params: Annotated[RecoverParams, Query()],
) -> Response:
    kept = await own_name(request, directory, name)
    since = params.recover_since
    queued = await delivery_actions.enable_downstream(workers, directory, kept, since)
    return reply(Enabled, {"downstream": name, "disabled": False, "queued": queued})


class Validated(Answer):
    downstream: str
    allowed: bool
    reason: str | None = None  # why it is held, or got no answer, when not allowed
    answered: bool = True  # False: its endpoint gave no answer (nothing kept or changed)
    allowed_rate: float | None = None  # requests a minute its endpoint allows (None: any)
    queued: int = 0  # deliveries its refusal held, queued again


@router.post(
    "/v1/downstreams/{name:downstream}/validate",
    **operation(
        "downstreams",
        "Validate a downstream (the CloudEvents handshake)",
        "Asks a webhook downstream with a CloudEvents envelope again whether it allows the"
        " relay's events (one `OPTIONS` with `WebHook-Request-Origin` and no body, the"
        " CloudEvents webhook spec's section 4); the answer is kept as its verdict for every"
        " process and replica. Allowed, what its refusal held is queued again, at most"
        " `WebHook-Allowed-Rate` a minute from its next attempt on; refused, it is paused"
        " (held) with why; no answer (a connection error, a timeout, a 5xx), nothing is kept"
        " and `reason` says why.",
        {
            200: answer("Asked; `allowed` is its endpoint's answer.", Validated),
            404: NO_DOWNSTREAM,
            422: answer("Not a webhook downstream with a cloudevents envelope.", ErrorAnswer),
            429: answer(CALLS_LIMITED, ErrorAnswer, headers=CALLS_RETRY_AFTER),
        },
    ),
)
async def validate_downstream(
    request: Request,
    workers: Workers,
    rules: DeliverySection,
    directory: Downstreams,
    name: PathId,
    calls: Calls,
) -> Response:
    kept = await own_name(request, directory, name)
    found = await delivery_actions.validate_downstream(
        workers, rules, directory, kept, calls, caller_of(request)
    )
    return reply(Validated, found)


@router.post(
    "/v1/downstreams/{name:downstream}/test",
    **operation(
        "downstreams",
        "Send a test event",
        "Sends a sample event of the type asked (the catalog's example, `task.succeeded` by"
        " default) now, as a real delivery of it would go (its filter, transform and path,"
        ' static headers, auth, TLS, proxy and signature), marked `"test": true` in its data'
        " and with the header `webhook-test: true`; nothing is stored or retried. Answers"
        " the attempt and what was sent (`sent`). Webhook and chat formats.",
        {
            200: answer("Sent; `status` is the downstream's answer.", TestEventSent),
            404: answer("No downstream of that name (of the caller's app).", ErrorAnswer),
            422: answer("An unknown type, or a broker's format.", ErrorAnswer),
            429: answer(CALLS_LIMITED, ErrorAnswer, headers=CALLS_RETRY_AFTER),
        },
    ),
    openapi_extra=body(TestEventRequest, "TestEventRequest", "The event type."),
)
async def test_downstream(
    request: Request,
    log: Logged,
    rules: DeliverySection,
    server: ServerSection,
    directory: Downstreams,
    name: PathId,
    calls: Calls,
) -> Response:
    kept = await own_name(request, directory, name)
    payload = await read_json(request, MAX_TEST_BODY_BYTES, server.body_timeout_seconds)
    wanted = read_checked(TestEventRequest, payload)
    sent = await send_test(log, rules, directory, kept, wanted.type, calls, caller_of(request))
    return reply(TestEventSent, sent)
