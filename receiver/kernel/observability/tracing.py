"""OpenTelemetry traces, one per task, exported over OTLP/HTTP when the standard variables
ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).

Without them nothing of OpenTelemetry is imported and every span does nothing. A task's
context (W3C headers, as JSON) is stored on its row, so that later work on any replica (a
callback, a poll, a delivery) is its child: a task's life is one trace. Attributes and
statuses are scrubbed like log lines, and a status keeps no URL's path, query or user part
(a downstream's answer may echo its address, whose path may be the credential).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from structlog.typing import EventDict, WrappedLogger

from receiver.kernel.errors import ConfigError
from receiver.kernel.observability.logs import Log, scrub

EXTRA = "otel"
# The attribute names that have a standard spelling; the others are the relay's own.
_STANDARD = {"status": "http.response.status_code"}
_HEADERS = ("traceparent", "tracestate")
# In a status: a URL (its scheme and host are kept), or a path or query standing alone, as
# a server's error page quotes the request ("Cannot POST /hooks/<token>").
_ADDRESS = re.compile(
    r"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*)|(?P<bare>(?<![\w.~/-])[/?][^\s\"'<>]+)"
)
CUT = "…"

_tracer: Any = None  # the SDK's tracer once configured; None: tracing is off
_provider: Any = None
_exports_to: str | None = None
# The longest a stopping process waits for its last spans to be sent (or its shutdown grace,
# when shorter): a collector that is down or never answers must not hold the exit.
FLUSH_SECONDS = 5.0


def _address(found: re.Match[str]) -> str:
    url = found["url"]
    if url is None:
        return found["bare"][0] + CUT
    scheme, rest = url.split("://", 1)
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = netloc.rpartition("@")[2]
    return f"{scheme}://{host}" + (f"/{CUT}" if rest != host else "")


def status_text(why: str) -> str:
    """What a span's status may say of `why`: scrubbed of secrets, each URL cut to its
    scheme and host, each path or query standing alone cut to its first character."""
    return _ADDRESS.sub(_address, scrub(why))


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for traces to be exported."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    return bool(endpoint) and not disabled and exporter != "none"


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Export traces if the environment asks for it (True); else change nothing. A
    ConfigError names what is wrong: a protocol other than http/protobuf, or the extra
    not installed."""
    global _tracer, _provider, _exports_to
    environ = os.environ if environ is None else environ
    if not wanted(environ):
        return False
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; use http/protobuf"
        )
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER: {exporter!r} is not supported; use otlp")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: install"
            f" the relay with its `{EXTRA}` extra (in the relay's clone: pip install -c"
            f" constraints.txt -e '.[{EXTRA}]')"
        ) from None
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "runway-relay"}))
    # The sampler comes from OTEL_TRACES_SAMPLER, the endpoint and headers from the
    # exporter's own variables.
    # No exit handler: the SDK's waits up to 30 s on a collector that does not answer.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer, _provider = provider.get_tracer("runway-relay"), provider
    _exports_to = _where(environ)
    return True


def _where(environ: Mapping[str, str]) -> str:
    """Where spans go, as the exporter reads the variables, without any user, password or
    query the address may hold."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint:
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        endpoint = base if base.endswith("/v1/traces") else base.rstrip("/") + "/v1/traces"
    try:
        parts = urlsplit(endpoint.strip())
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an address that could not be read)"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def exports_to() -> str | None:
    """Where spans are exported (None: tracing is off), safe to log."""
    return _exports_to if _tracer is not None else None


def flush(timeout_seconds: float = FLUSH_SECONDS) -> bool:
    """Send the spans still waiting, for at most `timeout_seconds` (capped at
    FLUSH_SECONDS): a stopping process calls it last. True when they went (or none were
    waiting); False when the time ran out and they were left behind. The SDK's own flush
    takes no notice of its timeout (each export retries for up to 10 s), so it runs in a
    daemon thread that the exit does not wait for."""
    if _provider is None:
        return True
    done = threading.Event()
    provider = _provider

    def send() -> None:
        try:
            provider.force_flush()
        finally:
            done.set()

    threading.Thread(target=send, name="trace-flush", daemon=True).start()
    return done.wait(max(0.0, min(timeout_seconds, FLUSH_SECONDS)))


async def flush_at_exit(grace_seconds: float, log: Log) -> None:
    """The last spans sent within a stopping process's shutdown grace (at most
    FLUSH_SECONDS), then the exit, whether the collector answered or not: what `receiver
    serve` and `receiver deliver` do last."""
    if not enabled():
        return
    grace = min(grace_seconds, FLUSH_SECONDS)
    if await asyncio.to_thread(flush, grace):
        log.info("tracing.flushed")
    else:
        log.warning(
            "tracing.flush_cut_off",
            detail=f"the trace collector took more than {grace:g} s; the last spans are dropped",
            exports_to=exports_to(),
        )


def enabled() -> bool:
    return _tracer is not None


def caller(headers: Mapping[str, str]) -> str | None:
    """The caller's context from a request's headers, in the form a task keeps it."""
    if _tracer is None or "traceparent" not in headers:
        return None
    return orjson.dumps({name: headers[name] for name in _HEADERS if name in headers}).decode()


class _Null:
    """The span when tracing is off: every call does nothing."""

    def set(self, **attributes: object) -> None:
        pass

    def failed(self, why: str) -> None:
        pass

    def context(self) -> str | None:
        return None

    def headers(self) -> dict[str, str]:
        return {}

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NULL = _Null()


class _Live:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set(self, **attributes: object) -> None:
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, str):
                value = scrub(value)
            elif not isinstance(value, bool | int | float):
                value = scrub(str(value))
            self._span.set_attribute(_STANDARD.get(key, f"relay.{key}"), value)

    def failed(self, why: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, status_text(why)))

    def context(self) -> str | None:
        return orjson.dumps(self.headers()).decode()

    def headers(self) -> dict[str, str]:
        from opentelemetry import trace

        return _injected(trace.set_span_in_context(self._span))


Span = _Null | _Live


def span(
    name: str, parent: str | None, started: float | None = None, /, **attributes: object
) -> AbstractContextManager[Span]:
    """A span, current while the block runs, as a child of `parent` (a stored context; None:
    a trace of its own); `started` (epoch seconds) backdates it to work already done."""
    if _tracer is None:
        return _NULL
    return _live(name, parent, started, attributes)


@contextmanager
def _live(
    name: str, parent: str | None, started: float | None, attributes: dict[str, object]
) -> Iterator[Span]:
    from opentelemetry.context import Context
    from opentelemetry.trace import Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    # The stored context was written by this module; a caller's bad traceparent was
    # dropped by the propagator then, so the task started a trace of its own.
    context = TraceContextTextMapPropagator().extract(orjson.loads(parent)) if parent else Context()
    start = int(started * 1e9) if started is not None else time.time_ns()
    with _tracer.start_as_current_span(
        name,
        context=context,
        start_time=start,
        record_exception=False,
        set_status_on_exception=False,
    ) as raw:
        live = _Live(raw)
        live.set(**attributes)
        try:
            yield live
        except BaseException as exc:
            # The exception's text may quote a URL or a key: its type and scrubbed words only.
            raw.set_attribute("exception.type", type(exc).__name__)
            raw.set_status(Status(StatusCode.ERROR, status_text(str(exc))))
            raise


def current_headers() -> dict[str, str]:
    """The current span's context as W3C headers, to send on ({} when tracing is off)."""
    return {} if _tracer is None else _injected(None)


def _injected(context: Any) -> dict[str, str]:
    """`context` (None: the current one) as W3C headers."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context)
    return carrier


def log_ids(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """structlog processor: the current span's trace and span ids on every line."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event
