"""What one delivery attempt hands its downstream's publisher: the format's own body, and
the message, signed over the body as sent (the publisher sends it: an HTTP request by
receiver/destinations/http.py, or a broker's publish)."""

from __future__ import annotations

import time

from receiver.config import Downstream
from receiver.config.downstream import BasicAuth, BearerAuth, endpoint_auth
from receiver.destinations import signing as sign
from receiver.destinations.credentials import basic_authorization
from receiver.destinations.publishing import Message
from receiver.destinations.registry import render
from receiver.kernel.expressions import Shaped
from receiver.kernel.observability import tracing
from receiver.lifecycle.rules.records import DeliveryJob


def signed_headers(downstream: Downstream, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every secret in use now (two during
    a rotation's overlap), and the attempt's `traceparent`: the receiver's own tracing goes
    on in the task's trace."""
    now = time.time()
    signed = sign.headers(downstream.signing_secrets(now), message_id, int(now), body)
    return signed | tracing.current_headers()


def default_body(downstream: Downstream, job: DeliveryJob) -> Shaped:
    """The format's own body: the `webhook` event (every broker publishes it too), or a chat
    platform's message, with the path to append (Telegram's Bot API method)."""
    rendered = render(downstream.format, job.payload, downstream.url, job.posted)
    return Shaped(rendered.body, path=rendered.path)


def message_of(downstream: Downstream, job: DeliveryJob, shaped: Shaped) -> Message:
    """The delivery as its publisher takes it: the shaped body, method and path, its headers
    (static, the transform's) signed over the body as sent, to the task's own webhook or the
    downstream's URL."""
    message_id, body = job.delivery.id, shaped.body
    headers = shaped.headers | signed_headers(downstream, message_id, body)
    event = job.payload
    return Message(message_id, body, event, headers, shaped.method, shaped.path, job.webhook)


def fixed_authorization(downstream: Downstream) -> str | None:
    """The `Authorization` value of a downstream's `basic` or `bearer` auth; None for none,
    and for `oauth2` (its token changes)."""
    auth = endpoint_auth(downstream)
    if isinstance(auth, BasicAuth):
        return basic_authorization(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.token}"
    return None
