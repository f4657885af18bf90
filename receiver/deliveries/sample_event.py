"""A test event sent to a downstream now (`POST /v1/downstreams/{name}/test`): a sample
event of a type of the catalog (receiver/lifecycle/rules/catalog.py), signed as every delivery
is,
marked as a test in its body (`data.test`) and in a header (`webhook-test: true`), sent once
outside the outbox (no retry, nothing stored), and the attempt answered: its status, how
long it took, and the start of the answer, scrubbed of secrets.

It goes through a session of its own with the same guard as the fan-out's: a URL that came
through the API reaches public addresses only, unless the operator allows private ones."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp

from receiver.deliveries.fanout.outgoing import (
    EXCERPT_CHARS,
    Request,
    judge_target,
    post,
    signed_headers,
)
from receiver.destinations.registry import render, with_path
from receiver.downstreams.directory import Directory
from receiver.kernel.errors import DownstreamError, InvalidRequest, NotFound
from receiver.kernel.net import guard
from receiver.kernel.net.outbound import Failure, tls_context, transport_errors
from receiver.kernel.observability.logs import scrub
from receiver.lifecycle.rules.catalog import DISABLED_TYPE, EVENT_TYPES, example_document
from receiver.wiring.service import Service

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


def _undelivered(failure: Failure) -> DownstreamError:
    return DownstreamError(failure.reason)


async def send_test(
    service: Service, directory: Directory, name: str, event_type: str
) -> dict[str, Any]:
    """Send a test event of `event_type` to the downstream kept under `name` now."""
    d = directory.get(name)
    if d is None:
        raise NotFound("no usable downstream of that name")
    if d.broker is not None:
        raise InvalidRequest("format: test events go to HTTP downstreams (webhook and chats)")
    document = sample(event_type)
    rendered = render(d.format, document, d.url)
    body = rendered.body
    message_id = str(document["event_id"])
    headers = signed_headers(d, message_id, body) | {TEST_HEADER: "true"}
    rules = service.config.settings.delivery
    guarded = d.managed and not rules.allow_private_networks
    proxy = rules.proxy or None
    url = with_path(d.url, rendered.path)  # Telegram's method after its token
    started = time.monotonic()
    status: int | None = None
    excerpt, error = "", None
    try:
        if guarded:
            await judge_target(url, proxy is not None)
        # Through the proxy it connects only to that; the target was judged above.
        resolver = guard.resolver(not guarded or proxy is not None)
        connector = aiohttp.TCPConnector(ssl=tls_context(), resolver=resolver)
        async with (
            aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": "runway-relay", "Content-Type": "application/json"},
                auto_decompress=False,
            ) as session,
            asyncio.timeout(d.timeout),
        ):
            with transport_errors(_undelivered):
                reply = await post(session, Request("POST", url, body, headers, proxy))
            status, excerpt = reply.status, scrub(reply.start, EXCERPT_CHARS)
    except TimeoutError:
        error = f"timed out after {d.timeout:g}s"
    except (DownstreamError, guard.PrivateAddress) as exc:
        error = scrub(str(exc), EXCERPT_CHARS)
    seconds = round(time.monotonic() - started, 3)
    service.log.info("downstream.tested", downstream=name, type=event_type, status=status)
    return {
        "type": event_type,
        "event_id": message_id,
        "status": status,
        "seconds": seconds,
        "excerpt": excerpt,
        "error": error,
    }
