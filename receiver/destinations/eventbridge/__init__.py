"""`format = "eventbridge"`: an event bus, by name or ARN. Its publisher (publisher.py) comes
with the `aws` extra."""

from __future__ import annotations

import re

from receiver.destinations.aws import ARN, AwsDestination
from receiver.destinations.publishing import BrokerTarget, Publisher

_BUS_NAME = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")


class EventBridgeDestination(AwsDestination):
    format = "eventbridge"
    wanted = "the event bus name or ARN"
    stand_in_url = "sealed"

    def valid(self, url: str) -> bool:
        arn = ARN.match(url)
        if arn is not None:
            return arn["service"] == "events" and arn["rest"].startswith("event-bus/")
        return not url.startswith("arn:") and bool(_BUS_NAME.match(url))

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.eventbridge.publisher import EventBridge

        return EventBridge(target, max_in_flight)


def xray_trace_header(traceparent: str | None) -> str | None:
    """W3C `00-<trace>-<span>-<flags>` as X-Ray's `Root=1-<8>-<24>;Parent=<span>;Sampled=1`."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace, span, flags = parts[1], parts[2], parts[3]
    sampled = int(flags, 16) & 1 if all(c in "0123456789abcdef" for c in flags) else 0
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={span};Sampled={sampled}"


PROVIDER = EventBridgeDestination()
