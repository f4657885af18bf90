"""A downstream that fails one attempt in two is served, not paused.

The breaker once opened after five failures in a row; at that failure rate such runs come
by chance every few dozen attempts, and each paused the downstream for its whole cool-off:
in a soak it was paused most of the time and got a fraction of its events. The breaker now
weighs the failure rate over a window (Convoy's rule), which a flaky downstream stays under.

Its 503s come at once and its 200s late, with many attempts in flight: the first outcomes
to end are nearly all failures. Counted as they ended, the first twenty opened the breaker;
each failure is now weighed with the attempts begun no later that are still out.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, image_to_video, wait_for

pytestmark = pytest.mark.fault

EVENTS = 120


def test_a_flaky_downstream_gets_every_event_and_is_never_paused(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, figures: Figures, storage_url: str
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the breaker is in-process and the same on both backends: once is enough")
    sink = make_sink()
    sink.mode(flaky=0.5, delay_seconds=0.3)  # the delay is its 200s' alone
    relay = make_relay(
        [webhook(sink, "flaky", events=["succeeded"], max_in_flight=64, timeout=10.0)],
        # Polled a hundred at a time: one burst of deliveries.
        polling={"initial_delay_seconds": 0.5, "batch_size": 100},
        delivery={"retry_schedule": [0.2] * 12, "jitter": 0.0},
    )
    started = time.monotonic()
    for _ in range(EVENTS):
        assert relay.submit(**image_to_video()).status_code == 202

    wait_for(lambda: len(sink.accepted("/flaky")) >= EVENTS, timeout=90, interval=0.2)
    seconds = time.monotonic() - started
    attempts = sink.received("/flaky")
    failed = sum(1 for hit in attempts if hit["status"] != 200)
    opened = [
        line
        for line in relay.log_lines()
        if line.get("event") == "downstream.breaker" and line.get("state") == "open"
    ]
    figures.record(
        "flaky_downstream",
        backend=backend_of(storage_url),
        events=EVENTS,
        attempts=len(attempts),
        failed_attempts=failed,
        breaker_opened=len(opened),
        seconds=round(seconds, 2),
    )
    assert failed > EVENTS / 3  # it really was flaky
    assert opened == []
