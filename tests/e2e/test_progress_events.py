"""Progress out: a running task's progress, as polls read it from the simulator, reaches
the webhooks that ask for it (throttled, never backwards, never after the end), not the
chat downstreams that do not, never holds up the terminal event, and shows in the task's
answer, the console and the live stream. Task timing is in the prompts (see
receiver/devtools/simulator/model.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    Simulator,
    Sink,
    image_to_video,
    settled,
    wait_for,
)

# Polls every few tenths of a second (the harness's), progress told at most once a second.
DELIVERY = {"progress_interval_seconds": 1.0}
UNEVEN = "queue=0.5 run=7 curve=1.6"


def events(sink: Sink, path: str) -> list[dict[str, Any]]:
    """The webhook events accepted at `path`, in the order they came."""
    return [json.loads(hit["body"]) for hit in sink.accepted(path)]


def ended_at(sink: Sink, path: str) -> list[dict[str, Any]] | None:
    """The events at `path` once the terminal one is among them."""
    got = events(sink, path)
    return got if any(e["type"] == "task.succeeded" for e in got) else None


def sim_polls(sim: Simulator, upstream_task_id: str) -> int:
    [found] = [t for t in sim.tasks() if t["task_id"] == upstream_task_id]
    polls: int = found["polls"]
    return polls


def test_a_webhook_that_asks_gets_throttled_rising_progress_then_the_end(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    chat = {"name": "chat", "url": f"{sink.url}/chat", "format": "slack", "timeout": 2.0}
    subscribed = webhook(sink, "hook", events=["progress", "succeeded"])
    relay = make_relay([chat, subscribed], delivery=DELIVERY)
    made = {"name": "made", "url": f"{sink.url}/made", "events": ["progress", "succeeded"]}
    assert relay.api.post("/v1/downstreams", json=made).status_code == 201
    task = relay.submitted(
        **image_to_video(promptText=UNEVEN),
        webhook=f"{sink.url}/task",
        webhook_events=["progress", "succeeded"],
    )

    def estimated(t: dict[str, Any]) -> bool:
        return t["state"] == "running" and (t["progress"] or 0) > 0 and bool(t["expected_end_at"])

    running = relay.wait_task(task["id"], estimated)
    assert 0 < running["progress"] < 1
    front = relay.api.get(
        f"/runwayml/v1/tasks/{task['id']}", headers={"X-Runway-Version": "2024-11-06"}
    ).json()
    assert front["status"] in ("RUNNING", "SUCCEEDED")
    assert front["status"] != "RUNNING" or 0 < front["progress"] <= 1
    page = relay.console().get(f"/console/tasks/{task['id']}")
    assert page.status_code == 200
    if "state-running" in page.text:  # not ended meanwhile: the bar, figure and end show
        for mark in ("<progress", 'id="task-progress"', 'id="task-estimated-end"'):
            assert mark in page.text, mark
    ended = relay.wait_task(task["id"], settled, timeout=60)
    assert ended["state"] == "succeeded" and ended["progress"] == 1.0

    for path in ("/task", "/hook", "/made"):
        got = wait_for(lambda p=path: ended_at(sink, p))
        kinds = [e["type"] for e in got]
        assert kinds[-1] == "task.succeeded" and kinds.count("task.succeeded") == 1
        shares = [e["data"]["progress"] for e in got if e["type"] == "task.progress"]
        assert len(shares) >= 2, kinds  # several figures over a 7 s run, a second apart
        assert shares == sorted(shares) and len(set(shares)) == len(shares)
        # A poll in the run's last instants may read 1.0 (rounded) while CometAPI still says
        # RUNNING: the relay tells what it read.
        assert all(0 < s <= 1 for s in shares)
        assert all(e["data"]["task_id"] == task["id"] for e in got)
        assert all(e["data"]["state"] == "running" for e in got[:-1])
        # Throttled: fewer events than the polls that read a figure.
        assert len(shares) < sim_polls(sim, task["upstream_task_id"]) / 2
        later = [e["data"]["estimated_end"] for e in got if e["type"] == "task.progress"][-1]
        assert isinstance(later, str) and later.endswith("Z")
    # The chat downstream, which did not list `progress`, got the end alone.
    assert [h["status"] for h in sink.received("/chat")] == [200]
    assert "succeeded" in sink.received("/chat")[0]["body"]


def test_a_failing_progress_delivery_never_holds_the_terminal_event(
    make_relay: MakeRelay, sim: Simulator, make_sink: Callable[[], Sink]
) -> None:
    """Deliveries go in order per task and receiver; a progress event that failed waits an
    hour for its retry here, and the end must not wait behind it."""
    sink = make_sink()
    relay = make_relay(delivery={**DELIVERY, "retry_schedule": [3600]})
    sink.mode(status=503)
    task = relay.submitted(
        **image_to_video(promptText="queue=0.3 run=5 curve=1.3"),
        webhook=f"{sink.url}/task",
        webhook_events=["progress", "succeeded"],
    )

    def failed_once(t: dict[str, Any]) -> bool:
        return any(d["attempts"] >= 1 and d["state"] == "pending" for d in t["deliveries"])

    relay.wait_task(task["id"], failed_once)
    sink.mode(status=200)
    ended = relay.wait_task(task["id"], settled, timeout=60)
    assert ended["state"] == "succeeded"
    [done] = wait_for(lambda: events(sink, "/task") or None)
    assert done["type"] == "task.succeeded"
    # Every progress row still waiting when it ended is superseded, never sent afterwards.
    states = {d["state"] for d in relay.task(task["id"])["deliveries"]}
    assert states == {"succeeded", "superseded"}
    sent = [json.loads(h["body"])["type"] for h in sink.received("/task")]
    assert sent[-1] == "task.succeeded" and set(sent[:-1]) == {"task.progress"}
    listed = relay.api.get("/v1/deliveries", params={"state": "superseded"})
    assert listed.status_code == 200 and listed.json()


def test_the_live_stream_carries_each_new_figure(make_relay: MakeRelay, sim: Simulator) -> None:
    relay = make_relay(delivery=DELIVERY)
    answer = relay.submit(**image_to_video(promptText="queue=0.3 run=4 curve=1.2"))
    task_id = answer.json()["id"]
    figures: list[float] = []
    with relay.api.stream("GET", f"/v1/stream?task_id={task_id}&since=0", timeout=30) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            change = json.loads(line[6:])
            if "progress" not in change:
                continue  # a delivery attempt, not the task
            if change.get("state") == "running" and change.get("progress") is not None:
                figures.append(change["progress"])
            if change.get("state") == "succeeded":
                assert change["progress"] == 1.0
                break
    assert len(figures) >= 2 and figures == sorted(figures)
