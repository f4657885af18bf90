"""`format = "eventbridge"`: `PutEvents` to an event bus, by name or ARN, one entry per
event. EventBridge answers 200 even when it refused the entry: delivered only when the entry
came back with an event id. An entry carries no attributes: the trace context goes in
`TraceHeader`."""

from __future__ import annotations

import re
from typing import Any

from receiver.destinations.aws import AwsDestination, arn_problem
from receiver.destinations.aws_client import THROTTLING_CODES, AwsPublisher, Throttled
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage
from receiver.kernel.errors import DownstreamError

_BUS_NAME = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")
_BUS = re.compile(r"^event-bus/")
SOURCE = "runway-relay"


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


class EventBridge(AwsPublisher):
    service = "events"

    async def send(self, client: Any, message: BrokerMessage) -> None:
        entry: dict[str, Any] = {
            "Source": SOURCE,
            "DetailType": message.headers.get("webhook-type") or "task.event",
            "Detail": message.body.decode(),
            "EventBusName": self.target.url,
        }
        if (trace := xray_trace_header(message.headers.get("traceparent"))) is not None:
            entry["TraceHeader"] = trace
        answer = await client.put_events(Entries=[entry])
        [result] = answer.get("Entries") or [{}]
        if answer.get("FailedEntryCount", 0) == 0 and result.get("EventId"):
            return
        code = result.get("ErrorCode") or "no event id"
        if code in THROTTLING_CODES:
            raise Throttled(code)
        why = str(result.get("ErrorMessage") or "")[:160]
        raise DownstreamError(f"not delivered: {code}: {why}".rstrip(": "))


class EventBridgeDestination(AwsDestination):
    metadata = METADATA["eventbridge"]
    wanted = "the event bus name or ARN"
    publisher = EventBridge

    def problem(self, url: str) -> str:
        if url.startswith("arn:"):
            return arn_problem(url, "events", _BUS, "resource", "an event bus (event-bus/NAME)")
        if not _BUS_NAME.match(url):
            return f"its name {url!r} is not 1 to 256 letters, digits and . _ - /"
        return ""


PROVIDER = EventBridgeDestination()
