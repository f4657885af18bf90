"""Polls timed by what CometAPI says and by the relay's own history, against the simulator
running tasks of a few seconds (their timing is in their prompts: see
receiver/devtools/simulator/model.py)."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    Relay,
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)

# The shipped shape, its gaps shortened for tasks of seconds.
POLLING = {
    "initial_delay_seconds": 0.3,
    "waiting_gap_seconds": 0.5,
    "near_gap_seconds": 0.5,
    "running_gap_seconds": 2.0,
    "callback_grace_seconds": 60,
    "lost_callback_gap_seconds": 0.5,
}


def sim_task(sim: Simulator, upstream_task_id: str) -> dict[str, Any]:
    [found] = [t for t in sim.tasks() if t["task_id"] == upstream_task_id]
    return found


def polls_once_running(sim: Simulator, task: dict[str, Any]) -> int:
    """The polls after the relay saw the task running (a callback-route task is asked until
    it runs: CometAPI calls back only when it ends)."""
    [seen] = [e["received_at"] for e in task["events"] if e["state"] == "running" and e["applied"]]
    return len([t for t in sim_task(sim, task["upstream_task_id"])["polled_at"] if t > seen])


def run(relay: Relay, **request: Any) -> dict[str, Any]:
    response = relay.submit(**request)
    assert response.status_code == 202, response.text
    return relay.wait_task(response.json()["id"], settled, timeout=60)


def test_progress_makes_the_polls_aim_at_the_end(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], polling=POLLING)
    response = relay.submit(**image_to_video(promptText="queue=1 run=20 curve=1.2"))
    task_id = response.json()["id"]
    running = relay.wait_task(task_id, lambda t: t["expected_end_at"] is not None)
    task = relay.wait_task(task_id, settled, timeout=60)
    assert task["state"] == "succeeded"
    upstream = sim_task(sim, task["upstream_task_id"])
    # The last estimate before the end is close to it, and the polls were fewer than a
    # loop at the dense gap would make over the run.
    assert running["expected_end_at"] is not None
    estimate = relay.task(task_id)["expected_end_at"]
    assert abs(estimate - upstream["finished_at"]) < 0.15 * 20
    assert upstream["polls"] < 21 / POLLING["near_gap_seconds"] / 2
    assert len(sink.received("/hook")) == 1


def test_without_progress_the_history_of_the_kind_sets_the_window(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], polling=POLLING)
    alike = image_to_video(promptText="queue=0.3 run=3 noprogress", duration=5)
    first = run(relay, **alike)
    assert first["state"] == "succeeded"
    assert first["expected_end_at"] is None  # no history yet, and no progress
    for _ in range(2):
        run(relay, **alike)
    response = relay.submit(**alike)
    task_id = response.json()["id"]
    aimed = relay.wait_task(task_id, lambda t: t["expected_end_at"] is not None)
    # Three tasks of its kind ended about 3.3 s after their submit (plus the poll's lag).
    assert 3.0 < aimed["expected_end_at"] - aimed["created_at"] < 8.0
    other = run(relay, **image_to_video(promptText="queue=0.3 run=3 noprogress", duration=10))
    assert other["expected_end_at"] is None  # another duration: another history


def test_a_lost_callback_is_found_near_the_usual_end_not_after_the_grace(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], polling=POLLING)
    for _ in range(3):
        task = run(relay, **video2video(prompt="queue=0.3 run=2"))
        # The callback came: once the task was seen running, one poll, the one it brought.
        assert polls_once_running(sim, task) == 1
    sim.faults(drop_next=1)
    task = run(relay, **video2video(prompt="queue=0.3 run=2"))
    wait_for(lambda: [c for c in sim.callbacks() if c["kind"] == "dropped"])
    assert task["state"] == "succeeded"
    ended = [e for e in task["events"] if e["state"] == "succeeded" and e["applied"]]
    assert [e["source"] for e in ended] == ["poll"]
    assert ended[0]["received_at"] - task["created_at"] < POLLING["callback_grace_seconds"]
    assert polls_once_running(sim, task) <= 3


def test_a_429_on_a_poll_holds_the_polls_not_the_submits(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], polling=POLLING)
    sim.faults(poll_status=429, poll_status_count=1, retry_after_seconds=10)
    first = relay.submit(**image_to_video(promptText="queue=0.3 run=0.5")).json()["id"]
    wait_for(lambda: sim.stats()["poll_faults"] >= 1)
    held_from = time.time()
    second = relay.submit(**image_to_video(promptText="queue=0.3 run=0.5")).json()["id"]
    sent = relay.wait_task(second, lambda t: t["upstream_task_id"] is not None)
    task = relay.wait_task(first, settled)
    assert task["state"] == "succeeded"
    # Its next poll came after CometAPI's Retry-After; the other task's submit did not wait.
    assert min(e["received_at"] for e in task["events"] if e["source"] == "poll") > held_from + 9
    [submitted] = [e for e in sent["events"] if e["source"] == "submit"]
    assert submitted["received_at"] < held_from + 9
