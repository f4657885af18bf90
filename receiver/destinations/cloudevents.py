"""A delivery as a CloudEvent 1.0, a downstream's `envelope`: "relay" sends the relay's own
body as it is; "cloudevents" (structured mode) one JSON document of the context attributes
and the event's own data (the task's fields at its top, or a transform's body) as `data`;
"cloudevents-binary" that data as the body, the attributes in its protocol's own headers
(named with its `Metadata.binding` prefix). The `id` is the event's: the same on every
downstream and every retry, as consumers de-duplicate by `source` and `id`."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson

from receiver.destinations.metadata import Metadata
from receiver.expressions.rules import Shaped
from receiver.outbox.rules.delivery import DeliveryJob
from receiver.outbox.rules.event_types import type_of

Envelope = Literal["relay", "cloudevents", "cloudevents-binary"]
TYPE_PREFIX = "com.runway-relay."
STRUCTURED = "application/cloudevents+json"
JSON = "application/json"


@dataclass(frozen=True)
class Origin:
    """Where a downstream's events say they come from: their `source`, and the prefix of
    their `type` (`delivery.cloudevents_type_prefix`)."""

    source: str
    type_prefix: str = TYPE_PREFIX


def source_of(base: str, app: str | None) -> str:
    """The `source` of a downstream's events: `base` (`delivery.cloudevents_source`, else the
    relay's public URL), with `/apps/<app>` for an app's downstream."""
    base = base.rstrip("/")
    return base if app is None else f"{base}/apps/{quote(app, safe='')}"


def attributes(event: Mapping[str, Any], message_id: str, origin: Origin) -> dict[str, str]:
    """The context attributes of one delivery: its id the event's (the delivery's for a
    document without one), its subject the task."""
    occurred = datetime.fromtimestamp(float(event["occurred_at"]), UTC)
    found = {
        "specversion": "1.0",
        "id": str(event.get("event_id") or message_id),
        "source": origin.source,
        "type": origin.type_prefix + type_of(dict(event)),
        "time": occurred.isoformat().replace("+00:00", "Z"),
        "subject": str(event.get("task_id") or ""),
    }
    return {name: value for name, value in found.items() if value}


def event_data(job: DeliveryJob) -> Shaped:
    """The body of a delivery in a CloudEvent envelope, unless a transform makes its own:
    the event's own document, its task's fields at the top."""
    return Shaped(orjson.dumps(job.payload))


def structured(context: Mapping[str, str], body: bytes, content_type: str = JSON) -> bytes:
    """The event as one JSON document: the body as `data` when it is JSON, else as
    `data_base64` (a transform's text or bytes) with its own content type."""
    try:
        data: dict[str, Any] = {"datacontenttype": JSON, "data": orjson.loads(body)}
    except orjson.JSONDecodeError:
        data = {"datacontenttype": content_type, "data_base64": base64.b64encode(body).decode()}
    return orjson.dumps({**context, **data})


def binary(context: Mapping[str, str], prefix: str, content_type: str = JSON) -> dict[str, str]:
    """The headers of a binary-mode event: each attribute named with its binding's `prefix`."""
    return {prefix + name: value for name, value in context.items()} | {
        "content-type": content_type
    }


def enveloped(
    envelope: str,
    binding: str | None,
    context: Mapping[str, str],
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[bytes, dict[str, str]]:
    """The body and the headers to send in `envelope` over `binding` (None: structured only,
    which the settings' check held to)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", JSON)
    kept = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if envelope == "cloudevents-binary" and binding is not None:
        return body, kept | binary(context, binding, content_type)
    return structured(context, body, content_type), kept | {"content-type": STRUCTURED}


def refusal(envelope: str, destination: Metadata) -> str | None:
    """Why a downstream of `destination` cannot send `envelope`; None: it can."""
    fmt = destination.format
    if envelope == "relay":
        return None
    if destination.body == "chat":
        return (
            f"envelope: a {fmt} downstream sends chat messages, not events; a CloudEvent"
            " envelope is for webhook and broker downstreams"
        )
    if destination.sent == "read":
        return (
            f"envelope: a {fmt} downstream is read by its app as the relay's events; a"
            " CloudEvent envelope is for downstreams the relay sends to"
        )
    if envelope == "cloudevents-binary" and destination.binding is None:
        return (
            f"envelope: {fmt} has no CloudEvents protocol binding, so no agreed place for a"
            " binary-mode event's attributes; use cloudevents (the structured mode)"
        )
    return None
