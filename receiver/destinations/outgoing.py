"""What one delivery attempt hands its downstream's publisher: the format's own body, and
the message, signed over the body as sent (the publisher sends it: an HTTP request by
receiver/destinations/http.py, or a broker's publish). The fan-out calls in here once it
knows the body is the format's own or its transform's, and leaves only with the answer."""

from __future__ import annotations

import time
from typing import Protocol

from receiver.destinations import message_signatures
from receiver.destinations import signing as sign
from receiver.destinations.http import with_path
from receiver.destinations.publishing import Message
from receiver.destinations.registry import render
from receiver.expressions.rules import Shaped
from receiver.kernel.observability import tracing
from receiver.lifecycle.rules.records import DeliveryJob


class Sender(sign.Rotating, Protocol):
    """What a message's downstream holds for it (receiver/config/load.py's `Downstream`)."""

    @property
    def format(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def signing(self) -> str: ...


def signed_headers(
    downstream: Sender,
    message_id: str,
    body: bytes,
    sent: tuple[str, str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every secret in use now (two during
    a rotation's overlap), and the attempt's `traceparent`: the receiver's own tracing goes
    on in the task's trace. `signing = "rfc9421"` signs the request (`sent`: its method, URL
    and other headers) with RFC 9421 signatures instead, with its `whsk_` keys; a `whsec_`
    one (until a rotation brings the key) still signs Standard Webhooks' signature."""
    now = time.time()
    secrets = sign.secrets_in_use(downstream, now)
    keys = message_signatures.keys_of(secrets) if downstream.signing == "rfc9421" else []
    signed = sign.headers([s for s in secrets if s not in keys], message_id, int(now), body)
    if keys and sent is not None:
        method, url, headers = sent
        signed |= message_signatures.signature_headers(
            method, url, headers | signed, body, keys, int(now)
        )
    return signed | tracing.current_headers()


def default_body(downstream: Sender, job: DeliveryJob) -> Shaped:
    """The format's own body: the `webhook` event (every broker publishes it too), or a chat
    platform's message, with the path to append (Telegram's Bot API method)."""
    rendered = render(downstream.format, job.payload, downstream.url, job.posted)
    return Shaped(rendered.body, path=rendered.path)


def message_of(downstream: Sender, job: DeliveryJob, shaped: Shaped) -> Message:
    """The delivery as its publisher takes it: the shaped body, method and path, its headers
    (static, the transform's) signed over the body as sent, to the task's own webhook or the
    downstream's URL."""
    message_id, body = job.delivery.id, shaped.body
    # The URL as it is sent (RFC 9421 signs it): Telegram's method after the token.
    target = with_path(job.webhook or downstream.url, shaped.path)
    sent = (shaped.method, target, shaped.headers)
    headers = shaped.headers | signed_headers(downstream, message_id, body, sent)
    event = job.payload
    return Message(message_id, body, event, headers, shaped.method, shaped.path, job.webhook)
