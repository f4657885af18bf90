"""One bad row never stops a worker. Tasks whose stored data cannot be written back (metadata
nested past what the JSON writer takes, as an older release let in) are fed to the poller,
the submit worker and the orphan sweep: each is set aside with its reason and counted, and
the tasks beside them go on to the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import store_sql
from tests.harness import Relay, Simulator, Sink, image_to_video, metric, settled, wait_for

# A row a worker cannot handle is set aside by the store.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

FAST = {"submit_retry_initial_seconds": 0.2, "submit_retry_max_seconds": 0.4}


def _poison(storage_url: str, task_id: str, orphan: bool = False) -> None:
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"a": deep}
    routing = json.dumps({"metadata": deep})
    store_sql(storage_url, "UPDATE tasks SET routing = ? WHERE id = ?", routing, task_id)
    if orphan:  # its send cut off long ago: no upstream id, still marked in flight
        store_sql(
            storage_url,
            "UPDATE tasks SET submit_owner = 'gone', submit_started_at = 1,"
            " submit_due_at = NULL WHERE id = ?",
            task_id,
        )


def _submitted(relay: Relay, count: int) -> list[str]:
    return [relay.submit(**image_to_video()).json()["id"] for _ in range(count)]


def test_a_poison_task_is_set_aside_by_each_worker_and_the_others_go_on(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, storage_url: str
) -> None:
    relay = make_relay([webhook(sink, events=["succeeded"])], upstream=FAST)
    sim.faults(poll_status=503)  # sent tasks stay unfinished here
    polled = _submitted(relay, 2)
    for task_id in polled:
        relay.wait_task(task_id, lambda t: t["submission"] == "sent")
    sim.faults(submit_status=503)  # new tasks wait in the submit queue
    queued = _submitted(relay, 3)
    for task_id in queued:
        relay.wait_task(task_id, lambda t: t["submit_attempts"] >= 1)
    _poison(storage_url, polled[0])
    _poison(storage_url, queued[0])
    _poison(storage_url, queued[2], orphan=True)
    sim.faults(submit_status=None, poll_status=None)

    ends = {task_id: relay.wait_task(task_id, settled) for task_id in polled + queued}
    aside = [polled[0], queued[0], queued[2]]
    for task_id in aside:
        assert ends[task_id]["state"] == "failed"
        assert "set aside" in ends[task_id]["error"], ends[task_id]
    assert [ends[t]["state"] for t in (polled[1], queued[1])] == ["succeeded", "succeeded"]
    wait_for(lambda: len(sink.accepted("/hook")) == 2)
    assert relay.api.get("/v1/tasks").status_code == 200
    metrics = relay.scrape()
    for worker in ("poll", "submit", "orphan_sweep"):
        assert metric(metrics, "relay_item_failures_total", worker=worker) == 1, worker
    lines = [line for line in relay.log_lines() if line.get("event", "").endswith("_set_aside")]
    assert sorted(line["task_id"] for line in lines) == sorted(aside)  # once each
