"""The `webhook` format: the stored event document as a signed JSON event."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from receiver.destinations.chat_message import Payload
from receiver.destinations.provider import Destination, Rendered


def webhook(p: Payload) -> Payload:
    # Standard Webhooks' recommended shape: a type, a timestamp and the data.
    occurred = datetime.fromtimestamp(p["occurred_at"], UTC).isoformat().replace("+00:00", "Z")
    kind = p.get("type") or f"task.{p['state']}"  # the relay's own notices carry their type
    return {"type": kind, "timestamp": occurred, "data": p}


class WebhookDestination(Destination):
    """Any HTTP endpoint: the event as JSON, signed (Standard Webhooks)."""

    format = "webhook"

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        return Rendered(orjson.dumps(webhook(payload)))


PROVIDER = WebhookDestination()
