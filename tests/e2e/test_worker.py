"""`receiver deliver`: the fan-out in a process of its own, beside `receiver serve`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.forked import Process
from tests.harness import WAIT_SECONDS, Relay, Sink, settled, video2video, wait_for

# `receiver deliver` shares the store with the relay: leases across processes.
pytestmark = pytest.mark.every_backend

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
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 2
    assert "delivery.in_process" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _run_beside(relay: Relay, command: str, name: str) -> tuple[Process, Path]:
    """Another `receiver <command>` on the relay's config, with a log of its own."""
    log = relay.workdir / f"{name}.log"
    return relay._spawn(command, log), log


def _refused_or_started(proc: Process, log: Path, started: str) -> str:
    """Wait until the process exits or logs its start; the one line it was refused with."""
    wait_for(lambda: proc.poll() is not None or started in log.read_text(), timeout=60)
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
        return ""
    assert proc.returncode == 2
    return log.read_text().strip()


def test_one_process_per_kind_of_work_on_sqlite_and_any_number_on_postgres(
    make_relay: MakeRelay, storage_url: str, sink: Sink
) -> None:
    """SQLite: one `serve` and one delivering process at most, refused in one line before
    they touch a lease; the operator tools keep working beside them. PostgreSQL: replicas."""
    sqlite = storage_url.startswith("sqlite")
    database = storage_url.removeprefix("sqlite:///")
    relay = make_relay([webhook(sink)], delivery=SEPARATE)
    worker = relay.start_worker()
    wait_for(lambda: "worker.started" in relay.worker_log_path.read_text(), timeout=60)
    [task] = _run_tasks(relay, 1)
    task = relay.wait_task(task["id"], settled)

    second_worker, log = _run_beside(relay, "deliver", "second-worker")
    line = _refused_or_started(second_worker, log, "worker.started")
    expected = f"another relay process (pid {worker.pid}) is already delivering from {database}"
    assert line == (f"receiver: {expected}" if sqlite else "")

    # A `serve` that delivers in process: refused for the work `serve` runs already.
    delivering = make_relay(start=False)
    second_serve, log = _run_beside(delivering, "serve", "second-serve")
    line = _refused_or_started(second_serve, log, "service.started")
    assert relay.proc is not None
    expected = f"another relay process (pid {relay.proc.pid}) is already running on {database}"
    assert line == (f"receiver: {expected}" if sqlite else "")

    # The operator's tools read and write beside the running processes.
    config = str(relay.config_path)
    delivery_id = task["deliveries"][0]["id"]
    for args in (["tasks", "list"], ["deliveries", "list"], ["replay", delivery_id]):
        done = subprocess.run(
            [sys.executable, "-m", "receiver", *args, "--config", config],
            capture_output=True,
            text=True,
            env=relay.env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    # kill -9 leaves no stale lock: a new worker takes the deliveries over at once.
    worker.kill()
    worker.wait(10)
    relay.worker_log_path.unlink()
    relay.start_worker()
    wait_for(lambda: "worker.started" in relay.worker_log_path.read_text(), timeout=60)
