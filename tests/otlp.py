"""An OTLP/HTTP trace receiver on loopback for the tests: what a collector is to the relay.

It takes `POST /v1/traces` as the official exporter sends it (protobuf), decodes it with
opentelemetry-proto's own classes and keeps every span with its resource, so a test reads
what an operator's Jaeger or Tempo would show.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a trace's root
    name: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    error: str | None  # the status message of a span that failed

    def attr(self, name: str) -> Any:
        return self.attributes.get(f"relay.{name}")


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class Collector:
    """The receiver, with the spans it has been sent and the headers of each export."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        self.server = BackgroundServer(app)
        self.server.start()
        self.url = self.server.url

    async def _traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        spans = [
            Span(
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_id=span.parent_span_id.hex(),
                name=span.name,
                attributes=_attributes(list(span.attributes)),
                resource=_attributes(list(group.resource.attributes)),
                error=span.status.message if span.status.code == 2 else None,
            )
            for group in export.resource_spans
            for scope in group.scope_spans
            for span in scope.spans
        ]
        with self._lock:
            self.spans.extend(spans)
            self.headers.append(dict(request.headers))
        answer = ExportTraceServiceResponse().SerializeToString()
        return Response(answer, media_type="application/x-protobuf")

    def of_task(self, task_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.attr("task_id") == task_id]

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def env(self, **extra: str) -> dict[str, str]:
        """The standard variables that send a relay's traces here, sent every 50 ms."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "relay-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            **extra,
        }

    def close(self) -> None:
        self.server.stop()
