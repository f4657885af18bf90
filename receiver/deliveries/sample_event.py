"""A test event sent to a downstream now (`POST /v1/downstreams/{name}/test`, and the
portal's "Send a test event"): a sample of a type of the catalog, marked as a test
(`data.test`, `webhook-test: true`), otherwise what a real delivery of it would be, made by
the fan-out's own code. Sent once outside the outbox (no retry, nothing stored), through a
publisher of its own with the fan-out's guard; the attempt is answered, secrets masked."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from receiver.config import Downstream
from receiver.config.downstream import MASK, endpoint_auth
from receiver.config.sections import DeliveryConfig
from receiver.deliveries.fanout.connections import open_route, origin_of, proxy_of
from receiver.deliveries.fanout.worker import Refused, prepare
from receiver.destinations.http import EXCERPT_CHARS, Request, message_of, request_of
from receiver.destinations.publishing import Opening
from receiver.destinations.registry import open_publisher, untestable
from receiver.downstreams.directory import Directory
from receiver.downstreams.manage import shown_url
from receiver.expressions.rules import ExpressionFailed
from receiver.kernel.errors import InvalidRequest, NotFound
from receiver.kernel.net.request_calls import RequestCalls
from receiver.kernel.observability.logs import Log, scoped, scrub
from receiver.keys.rules import Caller
from receiver.outbox.rules.delivery import Delivery, DeliveryJob
from receiver.outbox.rules.event_types import DISABLED_TYPE, EVENT_TYPES, example_document

TEST_HEADER = "webhook-test"
SENDABLE = tuple(t for t in EVENT_TYPES if t != DISABLED_TYPE)


def sample(event_type: str) -> dict[str, Any]:
    """The stored document of a test event of this type: the catalog's example, now."""
    if event_type not in SENDABLE:
        raise InvalidRequest(f"type: one of {', '.join(SENDABLE)}")
    return example_document(event_type) | {
        "event_id": "evt_test_" + os.urandom(8).hex(),
        "occurred_at": time.time(),
        "test": True,
    }


def _job(name: str, document: dict[str, Any]) -> DeliveryJob:
    """The sample as the fan-out's `prepare` reads a leased delivery of it."""
    now = float(document["occurred_at"])
    event_id = str(document["event_id"])
    delivery = Delivery(
        event_id, event_id, "test", name, "pending", 0, now, None, None, now, now, None
    )
    return DeliveryJob(delivery, document)


def shown_request(d: Downstream, request: Request) -> dict[str, Any]:
    """What was sent, as an answer may show it: the URL as the downstream's is shown (a
    chat's credential path hidden), the values of its static headers and of
    `Authorization` masked, the body as text with every known secret cut out."""
    secret = {name.lower() for name in d.headers}
    headers = {"User-Agent": "runway-relay", "Content-Type": "application/json"}
    headers |= request.headers
    if endpoint_auth(d) is not None:
        secret.add("authorization")
        headers["Authorization"] = MASK
    return {
        "method": request.method,
        "url": shown_url(d.model_copy(update={"url": request.url})),
        "headers": {k: MASK if k.lower() in secret else v for k, v in headers.items()},
        "body": scrub(request.body.decode("utf-8", "replace")),
    }


async def send_test(
    log: Log,
    rules: DeliveryConfig,
    directory: Directory,
    name: str,
    event_type: str,
    calls: RequestCalls,
    caller: Caller,
) -> dict[str, Any]:
    """Send a test event of `event_type` to the downstream kept under `name` now, its way
    out opened as the fan-out's by the delivery settings `rules`, within the caller's room
    of `calls` (429 past it)."""
    found = (await directory.usable([name])).get(name)
    if found is None:
        raise NotFound("no usable downstream of that name")
    d, secrets = found
    if (refused := untestable(d.format)) is not None:
        raise InvalidRequest(refused)
    document = sample(event_type)
    message_id = str(document["event_id"])
    job = _job(name, document)
    started = time.monotonic()
    status: int | None = None
    excerpt, error, sent = "", None, None
    try:
        shaped = await prepare(d, job, lambda: d.default_body(job))
    except ExpressionFailed as exc:
        shaped = Refused(str(exc), failed=True)
    if isinstance(shaped, Refused):
        # What a real delivery of this event would do: end filtered (or dead), unsent.
        error = scrub(f"not sent, as a real delivery would not be: {shaped.reason}", EXCERPT_CHARS)
    else:
        message = message_of(d, job, shaped, origin_of(directory, rules, name))
        message = replace(message, headers=message.headers | {TEST_HEADER: "true"})
        sent = shown_request(d, request_of(message, d.url, proxy_of(rules, d)))
        guarded = d.managed and not rules.allow_private_networks
        opening = Opening(name, 1, route=lambda: open_route(rules, directory, d, guarded))
        # Its own secrets are cut out of what this attempt logs and answers, as a delivery's.
        with scoped(*directory.scope_of(name, secrets)), calls.call(caller.asker, d.timeout):
            publisher = open_publisher(d, opening)
            try:
                outcome = await publisher.publish(message)
            finally:
                await publisher.close()
            status, excerpt = outcome.answer.status, outcome.excerpt or ""
            if status is None:
                error = scrub(outcome.answer.failure or "", EXCERPT_CHARS)
    seconds = round(time.monotonic() - started, 3)
    log.info("downstream.tested", downstream=name, type=event_type, status=status)
    return {
        "type": event_type,
        "event_id": message_id,
        "status": status,
        "seconds": seconds,
        "excerpt": excerpt,
        "error": error,
        "sent": sent,
    }
