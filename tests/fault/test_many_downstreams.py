"""Many downstreams share the fan-out's slots: none is starved by its place in the config.

With the default 64 slots and 8 a downstream, a round once reserved every lane's whole
allowance before claiming, so the first eight lanes took all slots even with nothing due
and the rest were never attempted.
"""

from __future__ import annotations

import time
from typing import Any

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
