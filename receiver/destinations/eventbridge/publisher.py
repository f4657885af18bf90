"""`format = "eventbridge"`: `PutEvents` to a bus, one entry per event: `source` is
`runway-relay`, `detail-type` the event's type (`task.succeeded`, `task.progress`...), the
detail the event document a webhook gets. EventBridge answers 200 even when it refused the
entry: delivered only when the entry came back with an event id.

An event carries no attributes on EventBridge: the trace context goes in `TraceHeader`
(X-Ray's form of the same trace and span ids)."""

from __future__ import annotations

from typing import Any

from receiver.destinations.aws_client import THROTTLING_CODES, AwsPublisher, Throttled
from receiver.destinations.eventbridge import xray_trace_header
from receiver.destinations.publishing import Message
from receiver.kernel.errors import DownstreamError

SOURCE = "runway-relay"


class EventBridge(AwsPublisher):
    service = "events"

    async def send(self, client: Any, message: Message) -> None:
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
