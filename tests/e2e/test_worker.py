"""`receiver deliver`: the fan-out in a process of its own, beside `receiver serve`."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Sink, settled, video2video

SEPARATE = {"in_process": False, "tick_seconds": 0.1}


def _delivered(sink: Sink) -> list[str]:
    return [h["headers"]["webhook-id"] for h in sink.accepted("/hook")]


def _run_tasks(relay: Relay, count: int) -> list[dict[str, Any]]:
    task_ids = [relay.submit(**video2video()).json()["id"] for _ in range(count)]
    return [relay.wait_task(t, lambda t: t["state"] == "succeeded") for t in task_ids]


def test_a_separate_worker_delivers_and_takes_over_after_a_kill(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], delivery=SEPARATE)
    worker = relay.start_worker()
    first = [relay.wait_task(t["id"], settled) for t in _run_tasks(relay, 3)]
    assert all(d["state"] == "succeeded" for t in first for d in t["deliveries"])
    lines = relay.log_lines()
    assert any(line.get("event") == "worker.started" for line in lines)
    assert len(_delivered(sink)) == 3

    # With the worker gone, events are still taken and kept; nothing goes out.
    worker.kill()
    worker.wait(10)
    pending = _run_tasks(relay, 3)
    time.sleep(1.0)
    assert len(_delivered(sink)) == 3
    for task in pending:
        assert [d["state"] for d in relay.task(task["id"])["deliveries"]] == ["pending"]

    relay.start_worker()
    for task in pending:
        relay.wait_task(task["id"], settled)
    ids = _delivered(sink)
    assert len(ids) == 6 and len(set(ids)) == 6  # each event once, none lost


def test_serve_without_in_process_delivery_leaves_the_outbox_alone(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], delivery=SEPARATE)
    [task] = _run_tasks(relay, 1)
    time.sleep(1.0)
    assert _delivered(sink) == []
    assert [d["state"] for d in relay.task(task["id"])["deliveries"]] == ["pending"]


def test_deliver_refuses_a_config_that_delivers_in_serve(make_relay: MakeRelay) -> None:
    relay = make_relay(start=False)
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "deliver", "--config", str(relay.config_path)],
        capture_output=True,
        text=True,
        env=relay.env,
        timeout=30,
    )
    assert done.returncode == 2
    assert "delivery.in_process" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
