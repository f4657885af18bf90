"""The tracing switch and what a span may carry (receiver/kernel/observability/tracing.py)."""

from __future__ import annotations

import sys

import pytest

from receiver.kernel.errors import ConfigError
from receiver.kernel.observability import logs, tracing

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "relay"}, False),
    ],
)
def test_the_standard_variables_switch_it(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


def test_off_it_changes_nothing_and_every_span_is_one_null_object() -> None:
    assert tracing.configure({}) is False
    assert not tracing.enabled()
    with tracing.span("a", None, task_id="t") as one, tracing.span("b", '{"x": 1}') as two:
        assert one is two
        assert one.context() is None and one.headers() == {}
    assert tracing.caller({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_TRACES_EXPORTER", "console"),
    ],
)
def test_what_it_cannot_do_is_one_line(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tracing.configure({**ENDPOINT, variable: value})
    assert value in str(caught.value) and "\n" not in str(caught.value)
    assert not tracing.enabled()


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as it does where the extra is not installed.
    module = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError) as caught:
        tracing.configure(ENDPOINT)
    assert "pip install -c constraints.txt -e '.[otel]'" in str(caught.value)
    assert not tracing.enabled()


def test_attributes_and_failures_are_scrubbed_like_log_lines() -> None:
    # The otel extra: on the core install alone (.ci/run's second venv) this one skips.
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    secret = "https://hooks.slack.com/services/T000/B000/" + "s3cr3tW3bh00kP4th"
    logs.add_secrets([secret])
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    token = "eyJ0IjoidHNrXzEifQ.aBcDeF.gHiJkLmNoPqRsTuV"
    with provider.get_tracer("test").start_as_current_span("x") as raw:
        live = tracing._Live(raw)
        live.set(url=secret, path=f"/callbacks/runway/{token}", status=503, missing=None)
        live.failed(f"cannot POST {secret}")
        assert live.headers()["traceparent"].startswith("00-")
    [span] = exported.get_finished_spans()
    text = repr(dict(span.attributes or {})) + str(span.status.description)
    assert "s3cr3tW3bh00kP4th" not in text and token not in text
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 503
    assert "relay.missing" not in span.attributes


@pytest.mark.parametrize(
    ("why", "said"),
    [
        # Express's error page, as a downstream answers a path it does not know.
        (
            "HTTP 404: <pre>Cannot POST /hooks/s3cr3t-path</pre>",
            "HTTP 404: <pre>Cannot POST /…</…>",
        ),
        (
            "refused: https://user:pw@h.example:8443/a/b?token=t0k",
            "refused: https://h.example:8443/…",
        ),
        ('HTTP 400: {"path": "/in?token=t0k"}', 'HTTP 400: {"path": "/…"}'),
        ("HTTP 400: ?sig=t0k", "HTTP 400: ?…"),
        ("https://h.example", "https://h.example"),
        # What is not an address stays.
        ("timed out after 2s; text/html and/or 1/2, HTTP/1.1, what? yes", None),
    ],
)
def test_a_status_keeps_no_path_or_query(why: str, said: str | None) -> None:
    assert tracing.status_text(why) == (why if said is None else said)
