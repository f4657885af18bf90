"""Lost callbacks: CometAPI never calls back, and polling alone must finish every task."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of, size
from tests.harness import Simulator, Sink, settled, video2video, wait_for

pytestmark = pytest.mark.fault

TASKS = size("FAULT_LOST_TASKS", 30)
ALL_STATES = ["queued", "running", "succeeded", "failed", "cancelled"]


def test_every_dropped_callback_is_recovered_by_polling(
    make_relay: MakeRelay,
    sim: Simulator,
    make_sink: Callable[[], Sink],
    figures: Figures,
    storage_url: str,
) -> None:
    sim.faults(drop_rate=1.0, fail_rate=0.2)
    every, done = make_sink(), make_sink()
    relay = make_relay(
        [webhook(every, "every", events=ALL_STATES), webhook(done, "done")],
        polling={"callback_grace_seconds": 0.5},
    )
    submitted = {}
    for _ in range(TASKS):
        response = relay.submit(**video2video())
        assert response.status_code == 202, response.text
        submitted[response.json()["id"]] = time.time()
    tasks = {task_id: relay.wait_task(task_id, settled) for task_id in submitted}
    wait_for(lambda: len(sim.callbacks()) == TASKS)
    assert {c["kind"] for c in sim.callbacks()} == {"dropped"}
    time.sleep(0.5)  # anything late would show up now

    most_per_state = 0
    for sink, name, subscribed in ((every, "every", ALL_STATES), (done, "done", None)):
        got = Counter(
            (hit["json"]["data"]["task_id"], hit["json"]["data"]["state"])
            for hit in sink.accepted(f"/{name}")
        )
        expected = Counter(
            (task_id, e["state"])
            for task_id, task in tasks.items()
            for e in task["events"]
            if e["applied"] and (subscribed or e["state"] in ("succeeded", "failed"))
        )
        assert got == expected  # exactly one event per state per task, none missing
        most_per_state = max(most_per_state, *got.values())
        assert len(sink.received()) == sum(expected.values())  # and no retries were needed

    ended_by: Counter[str] = Counter()
    for task in tasks.values():
        assert task["state"] in ("succeeded", "failed")
        assert [e["source"] for e in task["events"] if e["applied"]][-1] == "poll"
        assert not [e for e in task["events"] if e["source"] == "callback"]
        ended_by[task["state"]] += 1
    latency = [tasks[t]["terminal_at"] - submitted[t] for t in tasks]
    figures.record(
        "lost_callbacks",
        backend=backend_of(storage_url),
        tasks=TASKS,
        callbacks_dropped=sum(c["kind"] == "dropped" for c in sim.callbacks()),
        terminal_by_poll=sum(ended_by.values()),
        succeeded=ended_by["succeeded"],
        failed=ended_by["failed"],
        upstream_polls=sim.stats()["polls"],
        seconds_submit_to_terminal_median=round(statistics.median(latency), 2),
        seconds_submit_to_terminal_max=round(max(latency), 2),
        most_deliveries_of_one_task_state=most_per_state,
        events_delivered=sum(len(s.accepted()) for s in (every, done)),
    )
