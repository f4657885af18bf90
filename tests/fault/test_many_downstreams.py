"""Many downstreams share the fan-out's slots: none is starved by its place in the config.

With the default 64 slots and 8 a downstream, a round once reserved every lane's whole
allowance before claiming, so the first eight lanes took all slots even with nothing due
and the rest were never attempted. And the fan-out starts whatever the apps made: at its
start it writes rows for the config file's downstreams alone; when even that outruns the
store's deadline, it is started again by itself.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import Relay, Simulator, image_to_video, wait_for

pytestmark = pytest.mark.fault

DOWNSTREAMS = 12
TASKS = 3
DEADLINE = {"answer_within_seconds": 2.0}  # production's: the tests' own is 15 s


def test_every_downstream_after_the_eighth_is_served(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, figures: Figures, storage_url: str
) -> None:
    sink = make_sink()
    names = [f"d{i:02d}" for i in range(DOWNSTREAMS)]
    relay = make_relay(
        [webhook(sink, name, events=["succeeded"]) for name in names],
        polling={"initial_delay_seconds": 0.5},
    )
    started = time.monotonic()
    for _ in range(TASKS):
        assert relay.submit(**image_to_video()).status_code == 202

    def everyone_served() -> bool:
        return all(len(sink.accepted(f"/{name}")) >= TASKS for name in names)

    wait_for(everyone_served, timeout=60, interval=0.2)
    figures.record(
        "many_downstreams",
        backend=backend_of(storage_url),
        downstreams=DOWNSTREAMS,
        tasks=TASKS,
        served=sum(1 for name in names if sink.accepted(f"/{name}")),
        seconds=round(time.monotonic() - started, 2),
    )


@pytest.mark.postgres
def test_the_fan_out_starts_without_writing_the_apis_downstreams(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, storage_url: str
) -> None:
    """The API makes a downstream's row with it: the fan-out's start once wrote one again for
    each, one statement each in one job under the store's deadline (2 s in production), and
    with 1,000 apps of 10 endpoints on PostgreSQL a busy machine ran past it: the fan-out
    stopped before its first claim, every event's deliveries left pending (issue 91). A row
    another transaction is changing stands for that slow write: the start must not wait on
    it."""
    sink = make_sink()
    configured = [webhook(sink, "hook", events=["succeeded"])]
    relay = make_relay(configured)
    body = {"name": "made", "url": f"{sink.url}/made", "events": ["failed"]}
    assert relay.api.post("/v1/downstreams", json=body).status_code == 201
    relay.stop()
    with psycopg.connect(storage_url) as changing:  # its transaction open until the end
        changing.execute("UPDATE downstreams SET spec = spec WHERE name = 'made'")
        again = make_relay(configured, polling={"initial_delay_seconds": 0.5})
        assert again.submit(**image_to_video()).status_code == 202
        wait_for(lambda: sink.accepted("/hook"), interval=0.2)
        changing.rollback()


def _fan_out_failed(relay: Relay) -> bool:
    return any(
        line.get("event") == "worker.failed" and line.get("worker") == "fanout"
        for line in relay.log_lines()
    )


def _not_ready(relay: Relay) -> str:
    """/readyz's answer while it is 503 ("" while ready or not listening yet)."""
    try:
        answer = relay.anon.get("/readyz")
    except httpx.HTTPError:
        return ""
    return answer.text if answer.status_code == 503 else ""


@pytest.mark.postgres
def test_a_fan_out_that_failed_at_its_start_is_started_again_by_itself(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, storage_url: str
) -> None:
    """The config file's downstreams' rows are written at the fan-out's start, under the
    store's deadline: a row another transaction holds outruns it (StoreSlow). The fan-out
    once stopped there for the life of the process, every delivery left pending and /readyz
    still ready. Now it is down (/readyz 503, naming it) until it is started again, after a
    backoff, by itself, and the deliveries go out."""
    sink = make_sink()
    configured = [webhook(sink, "hook", events=["succeeded"])]
    make_relay(configured).stop()  # the row of `hook` is written
    with psycopg.connect(storage_url) as changing:  # its transaction open until released
        held = changing.execute("UPDATE downstreams SET spec = spec WHERE name = 'hook'")
        assert held.rowcount == 1
        relay = make_relay(
            configured, start=False, storage=DEADLINE, polling={"initial_delay_seconds": 0.5}
        )
        relay.proc = relay._spawn("serve", relay.log_path)  # not ready while it is down
        wait_for(lambda: _fan_out_failed(relay), interval=0.2)
        assert "fanout" in wait_for(lambda: _not_ready(relay), interval=0.1)
        assert relay.submit(**image_to_video()).status_code == 202
        changing.rollback()
    wait_for(lambda: sink.accepted("/hook"), interval=0.2)
    wait_for(lambda: relay.anon.get("/readyz").status_code == 200)
    assert 'relay_worker_failures_total{worker="fanout"}' in relay.scrape()
    assert any(line.get("event") == "worker.restarted" for line in relay.log_lines())


@pytest.mark.postgres
def test_a_deliver_process_whose_fan_out_failed_starts_it_again_by_itself(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, storage_url: str
) -> None:
    """`receiver deliver` keeps its fan-out as `serve` keeps its own: once it exited at the
    first fault, for whatever runs it to restart; now the worker is started again in the
    process, after a backoff, and the deliveries go out."""
    sink = make_sink()
    configured = [webhook(sink, "hook", events=["succeeded"])]
    separate = {"in_process": False, "tick_seconds": 0.1}
    make_relay(configured).stop()  # the row of `hook` is written
    relay = make_relay(
        configured, delivery=separate, storage=DEADLINE, polling={"initial_delay_seconds": 0.5}
    )
    with psycopg.connect(storage_url) as changing:  # its transaction open until released
        held = changing.execute("UPDATE downstreams SET spec = spec WHERE name = 'hook'")
        assert held.rowcount == 1
        worker = relay.start_worker()
        wait_for(lambda: _fan_out_failed(relay), interval=0.2)
        assert relay.submit(**image_to_video()).status_code == 202
        changing.rollback()
    wait_for(lambda: sink.accepted("/hook"), interval=0.2)
    assert worker.poll() is None
    assert any(line.get("event") == "worker.restarted" for line in relay.log_lines())
