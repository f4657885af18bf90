"""Downstream outages: errors, hangs, refused connections and rate limits, then recovery.

Five downstreams fail in five ways at once; four recover while their deliveries are mid-
schedule and must then all be delivered within the retry schedule's total time. The fifth
never recovers and must end dead-lettered, saying why.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.sink import create_sink_app
from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of, size
from tests.harness import (
    Sink,
    settled,
    video2video,
    wait_for,
)
from tests.testkit import free_port

pytestmark = pytest.mark.fault

TASKS = size("FAULT_OUTAGE_TASKS", 8)
# The last step is long so that a downstream's deliveries, begun seconds apart on a loaded
# machine, are all still mid-schedule when it comes back (the first must not die before the
# last has failed twice).
SCHEDULE = [0.3, 0.6, 1.2, 4.8]
# The downstreams' timeout. The hanging sink holds each request twice as long; a sink that
# answers at once still took more than 0.5 s on a loaded machine, and those attempts failed
# after it had recovered.
TIMEOUT = 1.5
RECOVERING = ("errors", "hangs", "limited", "refused")


def test_outages_recover_within_the_schedule(
    make_relay: MakeRelay,
    make_sink: Callable[[], Sink],
    figures: Figures,
    storage_url: str,
) -> None:
    sinks = {name: make_sink() for name in ("errors", "hangs", "limited", "dead")}
    sinks["errors"].mode(status=500)
    sinks["hangs"].mode(delay_seconds=3.0)
    sinks["limited"].mode(status=429, retry_after=1)
    sinks["dead"].mode(status=503)
    refused_port = free_port()  # nothing listens here until the outage ends
    downstreams = [webhook(sinks[name], name, timeout=TIMEOUT) for name in sinks]
    downstreams.append(
        {
            "name": "refused",
            "url": f"http://127.0.0.1:{refused_port}/refused",
            "format": "webhook",
            "secret_env": "HOOK_SECRET",
            "timeout": TIMEOUT,
        }
    )
    # The retry schedule alone: breakers would pause these downstreams for their cool-off
    # (tests/fault/test_isolation.py covers them).
    for d in downstreams:
        d["breaker_min_attempts"] = 1000
    relay = make_relay(downstreams, delivery={"retry_schedule": SCHEDULE, "jitter": 0.1})
    task_ids = [relay.submit(**video2video()).json()["id"] for _ in range(TASKS)]

    def deliveries(name: str) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"downstream": name, "limit": 1000}
        found: dict[str, list[dict[str, Any]]] = relay.api.get(
            "/v1/deliveries", params=params
        ).json()
        return found["deliveries"]

    refused = BackgroundServer(create_sink_app(), port=refused_port)

    def recover(name: str) -> None:
        recovered_at[name] = time.time()  # first: no hit that succeeds is earlier than it
        if name == "refused":
            refused.start()
            sinks["refused"] = Sink(refused)
        else:
            sinks[name].mode(status=200)

    # Each downstream comes back once every delivery to it has failed twice. All at once
    # waited for the slowest (the hanging one), and meanwhile the refused one, whose attempts
    # fail at once, had used up its schedule on a loaded machine.
    recovered_at: dict[str, float] = {}

    def recover_the_retried() -> bool:
        for name in RECOVERING:
            if name in recovered_at:
                continue
            ds = deliveries(name)
            if len(ds) == TASKS and all(d["attempts"] >= 2 for d in ds):
                recover(name)
        return len(recovered_at) == len(RECOVERING)

    try:
        wait_for(recover_the_retried)
        for task_id in task_ids:
            relay.wait_task(task_id, settled, timeout=3 * sum(SCHEDULE))
        seen = {name: sinks[name].received(f"/{name}") for name in sinks}
    finally:
        refused.stop()

    completion: dict[str, float] = {}
    attempts: dict[str, int] = {}
    delivered_percent: dict[str, float] = {}
    end_to_end: dict[str, float] = {}
    for name in RECOVERING:
        rows = deliveries(name)
        delivered_percent[name] = 100.0 * sum(d["state"] == "succeeded" for d in rows) / TASKS
        assert [d["state"] for d in rows] == ["succeeded"] * TASKS, rows
        delivered = {d["id"] for d in rows}
        back = recovered_at[name]
        after = {h["headers"]["webhook-id"] for h in seen[name] if h["received_at"] >= back}
        assert after == delivered  # every one of them reached the downstream once it was back
        completion[name] = max(d["delivered_at"] for d in rows) - back
        end_to_end[name] = max(d["delivered_at"] - d["created_at"] for d in rows)
        attempts[name] = max(d["attempts"] for d in rows)
        assert completion[name] <= sum(SCHEDULE), (name, completion[name])

    # Retry-After: 1 is longer than the first retries of the schedule, and it is obeyed:
    # read from the relay's attempts, for on a loaded machine an attempt may time out
    # (TIMEOUT) before the 429 reaches the relay, and its retry then follows the schedule.
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task_id in task_ids:
        for attempt in relay.task(task_id)["attempts"]:
            if attempt["downstream"] == "limited":
                by_id[attempt["delivery_id"]].append(attempt)
    gaps = [
        b["started_at"] - a["finished_at"]
        for tried in by_id.values()
        for a, b in itertools.pairwise(sorted(tried, key=lambda a: a["number"]))
        if a["status"] == 429
    ]
    assert gaps and min(gaps) >= 0.95, gaps

    dead = deliveries("dead")
    assert [d["state"] for d in dead] == ["dead"] * TASKS
    for row in dead:
        assert row["attempts"] == len(SCHEDULE) + 1
        assert row["last_status"] == 503
        assert row["last_error"].startswith(f"gave up after {len(SCHEDULE) + 1} attempts; last: ")
        assert "HTTP 503" in row["last_error"]
    # Read once every row is dead: `seen` was taken as the tasks settled, and on a loaded
    # machine a last attempt may still have been on its way then.
    assert len(sinks["dead"].received("/dead")) == TASKS * (len(SCHEDULE) + 1)

    figures.record(
        "downstream_outages",
        backend=backend_of(storage_url),
        tasks=TASKS,
        retry_schedule=SCHEDULE,
        retry_schedule_total_seconds=sum(SCHEDULE),
        delivered_after_recovery_percent=delivered_percent,
        seconds_from_recovery_to_last_delivery={
            name: round(value, 2) for name, value in completion.items()
        },
        seconds_from_event_to_delivery_max={k: round(v, 2) for k, v in end_to_end.items()},
        max_attempts={**attempts, "dead": len(SCHEDULE) + 1},
        retry_after_min_gap_seconds=round(min(gaps), 2),
        dead_lettered=len(dead),
        dead_letter_reason=dead[0]["last_error"][:80],
    )
