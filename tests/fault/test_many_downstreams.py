"""Many downstreams share the fan-out's slots: none is starved by its place in the config.

With the default 64 slots and 8 a downstream, a round once reserved every lane's whole
allowance before claiming, so the first eight lanes took all slots even with nothing due
and the rest were never attempted. And the fan-out starts whatever the apps made: at its
start it writes rows for the config file's downstreams alone.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, image_to_video, wait_for

pytestmark = pytest.mark.fault

DOWNSTREAMS = 12
TASKS = 3


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
