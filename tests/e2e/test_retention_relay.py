"""Retention on a running relay, on both backends: the worker prunes ended tasks and leaves
open ones, /metrics counts what went, the console shows the store's size, and `receiver
prune` says (or does) the same from the command line."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from receiver.retention.rules import DAY
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_operator import ok
from tests.harness import (
    ADMIN_TOKEN,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    metric,
    settled,
    video2video,
    wait_for,
)

# Pruning, as each backend deletes and reclaims.
pytestmark = pytest.mark.every_backend

SECONDS = 1 / DAY  # task_days is in days


def gone(relay: Relay, task_id: str) -> bool:
    return relay.api.get(f"/v1/tasks/{task_id}").status_code == 404


def console_overview(relay: Relay) -> str:
    with httpx.Client(base_url=relay.url, timeout=10) as browser:
        login = browser.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "next": "/console/", "token": ADMIN_TOKEN}
        assert browser.post("/console/login", data=form).status_code == 303
        return browser.get("/console/").text


def test_the_relay_prunes_ended_tasks_keeps_open_ones_and_counts_them(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay(
        [webhook(sink)],
        callbacks={"trust_body": True},  # the callbacks end the tasks while polls fail
        retention={"task_days": 2 * SECONDS, "interval_seconds": 0.2},
    )
    sim.faults(poll_status=503)
    open_id = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: sim.stats()["poll_faults"] > 0)  # asked about, and still open
    ended = [relay.submit(**video2video()).json()["id"] for _ in range(3)]
    for task_id in ended:
        relay.wait_task(task_id, settled)
    wait_for(lambda: all(gone(relay, t) for t in ended))

    # Older than the ones that went, but not ended: it stays, however old.
    assert relay.task(open_id)["state"] in ("queued", "running")
    text = relay.scrape()
    assert metric(text, "relay_pruned_total", kind="tasks") == 3
    assert metric(text, "relay_pruned_total", kind="deliveries") == 3
    assert metric(text, "relay_pruned_total", kind="attempts") == 3
    assert metric(text, "relay_pruned_total", kind="events") >= 3 * 2  # submitted, succeeded
    assert metric(text, "relay_store_bytes") > 0
    # Written once the run has given space back, after the counts above.
    wait_for(lambda: any(line.get("event") == "retention.pruned" for line in relay.log_lines()))

    page = console_overview(relay)
    shown = re.search(r"Store: ([\d,.]+) MB on disk", page)
    assert shown is not None and float(shown.group(1).replace(",", "")) > 0
    assert "ended tasks are kept" in page


def test_prune_from_the_command_line_and_its_dry_run(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay(
        [webhook(sink)],
        retention={"enabled": False, "task_days": 1 * SECONDS},  # the CLI alone prunes
    )
    ids = [relay.submit(**image_to_video()).json()["id"] for _ in range(2)]
    ended = [relay.wait_task(t, settled)["terminal_at"] for t in ids]
    wait_for(lambda: time.time() > max(ended) + 1.5)  # past the retention

    dry = ok(relay, "prune", "--dry-run")
    assert dry.startswith("would remove 2 tasks that ended more than")
    assert re.search(r"^\s+2\s+deliveries$", dry, re.M), dry
    assert not any(gone(relay, t) for t in ids)  # a dry run removes nothing

    done = ok(relay, "prune")
    # (PostgreSQL with autovacuum off also logs the VACUUM it runs.)
    assert any(line.startswith("removed 2 tasks") for line in done.splitlines()), done
    assert re.search(r"^\s+2\s+delivery attempts$", done, re.M), done
    assert all(gone(relay, t) for t in ids)
    assert ok(relay, "prune", "--dry-run").startswith("would remove 0 tasks")
