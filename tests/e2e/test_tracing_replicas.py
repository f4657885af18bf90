"""A task handled by two replicas on PostgreSQL is still one trace: the context is kept on
the task's row, so the replica that polls and delivers joins the trace the other began."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, MakeRelay, webhook
from tests.e2e.test_tracing import spans_until
from tests.harness import PgSchema, Simulator, Sink, settled, video2video, wait_for
from tests.otlp import Collector

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres"),
]


@pytest.fixture
def storage_url() -> Iterator[str]:
    schema = PgSchema()
    yield schema.url
    schema.drop()


def test_spans_of_two_replicas_land_in_one_trace(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, collector: Collector
) -> None:
    # CometAPI's callbacks are lost: the second replica finds the task by polling.
    sim.faults(drop_rate=1.0)
    first = make_relay(
        [webhook(sink)], env=collector.env(OTEL_RESOURCE_ATTRIBUTES="service.instance.id=a")
    )
    task_id = first.submit(**video2video()).json()["id"]
    first.wait_task(task_id, lambda t: t["submission"] == "sent")
    spans_until(collector, task_id, "task.submit", "comet.submit")
    first.stop()

    second = make_relay(
        [webhook(sink)], env=collector.env(OTEL_RESOURCE_ATTRIBUTES="service.instance.id=b")
    )
    task = second.wait_task(task_id, settled)
    assert task["state"] == "succeeded"
    spans = spans_until(
        collector, task_id, "task.submit", "comet.submit", "comet.poll", "delivery.attempt"
    )
    by_replica = {
        s.name: s.resource["service.instance.id"]
        for s in spans
        if s.name in ("comet.submit", "delivery.attempt")
    }
    assert by_replica == {"comet.submit": "a", "delivery.attempt": "b"}
    # The second found it by polling (the first may have polled too before it stopped, on a
    # machine slow enough for the task to come due while its spans were awaited).
    assert "b" in {s.resource["service.instance.id"] for s in spans if s.name == "comet.poll"}
    assert len({s.trace_id for s in spans}) == 1
    [hit] = wait_for(lambda: sink.received("/hook"))
    assert hit["headers"]["traceparent"].split("-")[1] == spans[0].trace_id
