"""Traces over OTLP/HTTP, read back by a real receiver on loopback: one trace per task, from
the caller's request through the send to CometAPI, its callback and polls, to every
delivery attempt, with the context passed on to the downstream and into the log lines."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    SECRETS,
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)
from tests.otlp import Collector, Span

EXPORT_TOKEN = "otlp-" + "5e3f7a9c1b2d4e6f8a0b"


def caller_context() -> tuple[str, str, str]:
    """A caller's traceparent, with its trace and span ids."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def spans_until(collector: Collector, task_id: str, *names: str) -> list[Span]:
    """The task's spans once every name in `names` is among them (a name given twice: at
    least two such spans)."""

    seen: list[str] = []

    def check() -> list[Span] | None:
        spans = collector.of_task(task_id)
        seen[:] = [s.name for s in spans]
        return spans if all(seen.count(n) >= names.count(n) for n in names) else None

    try:
        return wait_for(check)
    except AssertionError:
        raise AssertionError(f"spans of {task_id}: {seen}, wanted {names}") from None


def traceparent_ids(header: str) -> tuple[str, str]:
    _, trace_id, parent_id, _ = header.split("-")
    return trace_id, parent_id


def assert_no_secrets(spans: list[Span]) -> None:
    text = json.dumps([s.attributes for s in spans] + [s.error for s in spans])
    assert not [s for s in SECRETS if s in text]
    assert "eyJ" not in text, "a callback token in a span"


def test_a_called_back_task_is_one_trace_under_its_caller(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector
) -> None:
    relay = make_relay(
        [webhook(sink)],
        env=collector.env(OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer {EXPORT_TOKEN}"),
    )
    traceparent, trace_id, caller_span = caller_context()
    answer = relay.api.post(
        "/v1/tasks", json=video2video(model="gen4"), headers={"traceparent": traceparent}
    )
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["id"]
    task = relay.wait_task(task_id, settled)
    assert task["deliveries"][0]["state"] == "succeeded"

    spans = spans_until(
        collector,
        task_id,
        "task.submit",
        "comet.submit",
        "callback",
        "comet.poll",
        "delivery.attempt",
    )
    assert {s.trace_id for s in spans} == {trace_id}
    [submit] = [s for s in spans if s.name == "task.submit"]
    assert submit.parent_id == caller_span
    assert all(s.parent_id == submit.span_id for s in spans if s is not submit)
    [send] = [s for s in spans if s.name == "comet.submit"]
    assert send.attr("upstream_task_id") == task["upstream_task_id"]
    assert send.attr("model") == "gen4" and send.attr("kind") == "video2video"
    assert send.attributes["http.response.status_code"] == 200
    callbacks = [s for s in spans if s.name == "callback"]
    assert {s.attr("claimed_state") for s in callbacks} >= {"succeeded"}
    verdicts = [s.attr("verdict") for s in spans if s.name == "comet.poll"]
    # The poll that judged the callback says so; on a loaded machine the task may have
    # ended by a poll before the callback came, and the callback is judged by the answer
    # already stored (its event says so).
    judged = [e["verdict"] for e in relay.task(task_id)["events"] if e["source"] == "callback"]
    assert "confirmed" in verdicts or judged == ["confirmed"], (verdicts, judged)
    [delivery] = [s for s in spans if s.name == "delivery.attempt"]
    assert delivery.attr("downstream") == "hook" and delivery.attr("attempt") == 1
    assert delivery.attr("state") == "succeeded" and delivery.attr("outcome") == "succeeded"
    assert all(s.resource["service.name"] == "relay-under-test" for s in spans)
    assert all(h.get("authorization") == f"Bearer {EXPORT_TOKEN}" for h in collector.headers)
    assert_no_secrets(collector.spans)

    # The downstream's own tracing goes on from the delivery attempt.
    [hit] = sink.received("/hook")
    assert traceparent_ids(hit["headers"]["traceparent"]) == (trace_id, delivery.span_id)
    # The log lines written in a span name it.
    lines = [line for line in relay.log_lines() if line.get("task_id") == task_id]
    received = [line for line in lines if line.get("event") == "callback.received"]
    assert received and all(line["trace_id"] == trace_id for line in received)
    assert {line["span_id"] for line in received} <= {s.span_id for s in callbacks}


def test_a_polled_task_starts_its_own_trace_and_a_retried_delivery_stays_in_it(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector
) -> None:
    sink.mode(status=503, count=2)
    relay = make_relay([webhook(sink)], env=collector.env())
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    assert task["deliveries"][0]["attempts"] == 3

    spans = spans_until(
        collector,
        task_id,
        "task.submit",
        "comet.submit",
        "comet.poll",
        *["delivery.attempt"] * 3,
    )
    [submit] = [s for s in spans if s.name == "task.submit"]
    assert submit.parent_id == ""  # no caller's context: a trace of its own
    assert {s.trace_id for s in spans} == {submit.trace_id}
    polls = [s for s in spans if s.name == "comet.poll"]
    assert polls[-1].attr("state") == "succeeded"
    assert "callback" not in {s.name for s in spans}
    attempts = sorted(
        (s for s in spans if s.name == "delivery.attempt"), key=lambda s: s.attr("attempt")
    )
    assert [
        (s.attr("attempt"), s.attributes.get("http.response.status_code")) for s in attempts
    ] == [
        (1, 503),
        (2, 503),
        (3, 200),
    ]
    assert [s.attr("outcome") for s in attempts] == ["retry", "retry", "succeeded"]
    assert attempts[0].error is not None and attempts[2].error is None
    # Each attempt's traceparent names its own span, in the task's one trace.
    hits = sink.received("/hook")
    assert [traceparent_ids(h["headers"]["traceparent"]) for h in hits] == [
        (submit.trace_id, s.span_id) for s in attempts
    ]
    # A replay, hours later as far as the relay knows, is a fourth attempt in the same trace.
    delivery_id = task["deliveries"][0]["id"]
    assert relay.api.post(f"/v1/deliveries/{delivery_id}/replay").status_code < 300
    spans = spans_until(collector, task_id, *["delivery.attempt"] * 4)
    replayed = [s for s in spans if s.name == "delivery.attempt" and s.attr("attempt") == 4]
    assert [s.trace_id for s in replayed] == [submit.trace_id]
    assert_no_secrets(collector.spans)


def test_a_front_door_create_joins_the_callers_trace(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector
) -> None:
    relay = make_relay([webhook(sink)], env=collector.env())
    traceparent, trace_id, caller_span = caller_context()
    created = relay.api.post(
        "/runwayml/v1/image_to_video",
        json={"promptImage": "https://example.invalid/cat.jpg", "model": "gen3a_turbo"},
        headers={"traceparent": traceparent, "X-Runway-Version": "2024-11-06"},
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    relay.wait_task(task_id, settled)
    spans = spans_until(collector, task_id, "task.submit", "comet.poll", "delivery.attempt")
    assert {s.trace_id for s in spans} == {trace_id}
    [submit] = [s for s in spans if s.name == "task.submit"]
    assert submit.parent_id == caller_span and submit.attr("model") == "gen3a_turbo"


def test_without_the_variables_no_context_is_kept_or_passed_on(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)])
    traceparent, _, _ = caller_context()
    answer = relay.api.post(
        "/v1/tasks", json=image_to_video(), headers={"traceparent": traceparent}
    )
    relay.wait_task(answer.json()["id"], settled)
    [hit] = wait_for(lambda: sink.received("/hook"))
    assert "traceparent" not in hit["headers"]
    assert not any("trace_id" in line for line in relay.log_lines())


def test_an_exporter_the_relay_cannot_run_stops_start_up_in_one_line(
    make_relay: MakeRelay, collector: Collector
) -> None:
    relay = make_relay(start=False, env=collector.env(OTEL_EXPORTER_OTLP_PROTOCOL="grpc"))
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve", "--config", str(relay.config_path)],
        env=relay.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported" in done.stderr


def test_a_media_copy_is_in_the_task_trace(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True}
    relay = make_relay([webhook(sink)], media=media, env=collector.env())
    task_id = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(task_id, settled)
    spans = spans_until(collector, task_id, "task.submit", "media.copy", "delivery.attempt")
    [submit] = [s for s in spans if s.name == "task.submit"]
    [copy] = [s for s in spans if s.name == "media.copy"]
    assert (copy.trace_id, copy.parent_id) == (submit.trace_id, submit.span_id)
    assert copy.error is None and copy.attr("files") >= 1
    # The delivery waited for the copy and went out after it, in the same trace.
    [delivery] = [s for s in spans if s.name == "delivery.attempt"]
    assert delivery.trace_id == submit.trace_id


def test_a_failed_attempts_status_keeps_no_path_or_query_of_the_downstream(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector
) -> None:
    # Express's error page quotes the path as sent: a path that is the credential.
    sink.mode(status=404, express=True, count=1)
    url = f"{sink.url}/hook-path-7f3a9c?token=query-7f3a9c"
    relay = make_relay([webhook(sink, url=url)], env=collector.env())
    task_id = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(task_id, settled)

    def failed() -> list[Span] | None:
        spans = [s for s in collector.of_task(task_id) if s.name == "delivery.attempt"]
        return [s for s in spans if s.error] or None

    [attempt, *_] = wait_for(failed)
    assert attempt.error is not None and "HTTP 404" in attempt.error
    assert "Cannot POST /…" in attempt.error, attempt.error
    [hit, *_] = sink.received("/hook-path-7f3a9c")  # the path it was sent to, and answered
    assert hit["status"] == 404
    text = json.dumps([(s.attributes, s.error) for s in collector.spans])
    assert "7f3a9c" not in text
