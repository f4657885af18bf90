"""Media copies under faults: a source that trickles, a relay stopped or killed mid-copy, a
restart with copying turned off. None of them may hold a delivery past `media.wait_seconds`
or another task's copy behind a slow one.

The simulator's own CDN serves the renders (receiver/devtools/simulator/media/); a task whose
prompt holds "TRICKLE" has its files trickle out over an hour, and the `cdn_trickle_seconds`
fault makes every file trickle for a while. `cdn_trickling` in its stats counts the files
trickling out at this moment.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import Relay, Simulator, Sink, image_to_video, metric, wait_for

pytestmark = pytest.mark.fault

DOWNLOAD_TIMEOUT = 10.0
WAIT = 16.0
GRACE = 2.0
SLOTS = 8  # copies one relay makes at once (receiver/media/mirror.py)


@pytest.fixture
def cdn_sim() -> Iterator[Simulator]:
    sim = Simulator.serve(seed=23)
    yield sim
    sim.close()


def media_relay(
    make_relay: MakeRelay,
    sim: Simulator,
    sink: Sink,
    folder: Path,
    delivery: dict[str, Any] | None = None,
    **media: Any,
) -> Relay:
    settings = {
        "enabled": True,
        "dir": str(folder),
        "allow_private_networks": True,
        "tick_seconds": 0.2,
        "download_timeout_seconds": DOWNLOAD_TIMEOUT,
        "wait_seconds": WAIT,
    }
    return make_relay(
        [webhook(sink)],
        upstream={"base_url": sim.url},
        media=settings | media,
        delivery={"shutdown_grace_seconds": GRACE} | (delivery or {}),
    )


def delivered(task: dict[str, Any]) -> bool:
    """Ended, and every delivery attempted (a `mirroring` one waits for its files)."""
    states = {d["state"] for d in task["deliveries"]}
    return task["state"] == "succeeded" and bool(states) and states <= {"succeeded", "dead"}


def mirroring(task: dict[str, Any]) -> bool:
    return any(d["state"] == "mirroring" for d in task["deliveries"])


def hits_of(sink: Sink, task_id: str) -> list[dict[str, Any]]:
    hits = sink.accepted("/hook")
    return [h for h in hits if json.loads(h["body"])["data"]["task_id"] == task_id]


def media_of(sink: Sink, task_id: str) -> dict[str, Any]:
    [hit] = hits_of(sink, task_id)
    media: dict[str, Any] = json.loads(hit["body"])["data"]["media"]
    return media


def trickling(sim: Simulator) -> int:
    return sim.stats()["cdn_trickling"]


def copy_leases(storage_url: str) -> list[str | None]:
    """Who holds each copy still to be made, read from the store itself."""
    sql = "SELECT lease_owner FROM mirrors WHERE state = 'pending'"
    if storage_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(storage_url.removeprefix("sqlite:///"))) as db:
            return [row[0] for row in db.execute(sql)]
    with psycopg.connect(storage_url) as pg:
        return [row[0] for row in pg.execute(sql)]


def delivered_at(sink: Sink, task_id: str) -> float:
    return float(hits_of(sink, task_id)[0]["received_at"])


def test_a_trickling_source_times_out_and_holds_no_other_copy(
    make_relay: MakeRelay,
    cdn_sim: Simulator,
    sink: Sink,
    tmp_path: Path,
    storage_url: str,
    figures: Figures,
) -> None:
    relay = media_relay(make_relay, cdn_sim, sink, tmp_path / "media")
    slow = relay.submit(**image_to_video(promptText="a slow TRICKLE pan")).json()["id"]
    wait_for(lambda: trickling(cdn_sim))  # its copy is under way
    healthy = [relay.submit(**image_to_video()).json()["id"] for _ in range(4)]
    done = [relay.wait_task(task_id, delivered, timeout=60) for task_id in healthy]
    # Every healthy copy landed while the trickling download was still going: none waited.
    assert trickling(cdn_sim) == 1
    assert mirroring(relay.task(slow))
    assert all(media_of(sink, task_id)["status"] == "mirrored" for task_id in healthy)
    late = [delivered_at(sink, t["id"]) - t["terminal_at"] for t in done]

    ended = relay.wait_task(slow, delivered, timeout=WAIT + 30)
    media = media_of(sink, slow)
    assert media["status"] == "failed"
    assert f"took longer than {DOWNLOAD_TIMEOUT:g} s" in media["reason"]
    lines = [x for x in relay.log_lines() if x.get("task_id") == slow]
    # The timeout counts as a failed attempt like any other: retried after a backoff...
    retried = [x for x in lines if x.get("event") == "media.retry"]
    assert retried and "took longer than" in retried[0]["reason"]
    # ...and given up once the delivery could wait no longer.
    assert [x["event"] for x in lines if x.get("event") == "media.failed"] == ["media.failed"]
    assert not [x for x in relay.log_lines() if x.get("event") == "media.round_failed"]
    went_out = delivered_at(sink, slow) - ended["terminal_at"]
    assert trickling(cdn_sim) == 0  # the relay let go of the source
    figures.record(
        "media_trickle",
        backend=backend_of(storage_url),
        download_timeout_seconds=DOWNLOAD_TIMEOUT,
        wait_seconds=WAIT,
        healthy_copies=len(late),
        healthy_late_p50_s=round(statistics.median(late), 3),
        healthy_late_max_s=round(max(late), 3),
        copy_attempts=len(retried) + 1,
        trickling_delivered_after_s=round(went_out, 2),
    )


def test_sigterm_mid_copy_stops_within_the_grace_and_the_copy_resumes_at_next_start(
    make_relay: MakeRelay,
    cdn_sim: Simulator,
    sink: Sink,
    tmp_path: Path,
    storage_url: str,
    figures: Figures,
) -> None:
    relay = media_relay(make_relay, cdn_sim, sink, tmp_path / "media", download_timeout_seconds=60)
    cdn_sim.faults(cdn_trickle_seconds=120)
    task_id = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: trickling(cdn_sim))
    asked = time.monotonic()
    relay.stop(timeout=90)
    stopped = time.monotonic() - asked
    # Not held by the download (its own timeout is a minute away): cut after the grace...
    assert stopped < 60 / 2
    assert any(x.get("event") == "media.draining" for x in relay.log_lines())
    wait_for(lambda: not trickling(cdn_sim))
    # ...and its lease given back, for the next start or any other replica to take at once.
    assert copy_leases(storage_url) == [None]
    cdn_sim.faults(cdn_trickle_seconds=0)
    restarted = time.time()
    relay.start()
    relay.wait_task(task_id, delivered, timeout=60)
    assert media_of(sink, task_id)["status"] == "mirrored"
    assert not list((tmp_path / "media").glob("*/.*.part"))  # the cut download left nothing
    figures.record(
        "media_sigterm_mid_copy",
        backend=backend_of(storage_url),
        shutdown_grace_seconds=GRACE,
        sigterm_to_exit_s=round(stopped, 2),
        restart_to_copy_delivered_s=round(delivered_at(sink, task_id) - restarted, 2),
    )


def test_a_copy_cut_by_kill_9_resumes_at_once_after_the_restart(
    make_relay: MakeRelay,
    cdn_sim: Simulator,
    sink: Sink,
    tmp_path: Path,
    storage_url: str,
    figures: Figures,
) -> None:
    # On SQLite the next start takes every lease back. On PostgreSQL, where other replicas
    # may be copying, a killed process's copy is free once its lease runs out, nothing
    # renewing it any more: a short lease keeps the run short (the default is 60 s).
    relay = media_relay(
        make_relay, cdn_sim, sink, tmp_path / "media", download_timeout_seconds=60, lease_seconds=3
    )
    cdn_sim.faults(cdn_trickle_seconds=120)
    task_id = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: trickling(cdn_sim))
    relay.kill()
    wait_for(lambda: not trickling(cdn_sim))
    cdn_sim.faults(cdn_trickle_seconds=0)
    restarted = time.time()
    relay.start()
    ready = time.time()
    relay.wait_task(task_id, delivered, timeout=60)
    assert media_of(sink, task_id)["status"] == "mirrored"
    figures.record(
        "media_kill9_mid_copy",
        backend=backend_of(storage_url),
        media_lease_seconds=3,
        download_timeout_seconds=60,
        restart_to_ready_s=round(ready - restarted, 2),
        restart_to_copy_delivered_s=round(delivered_at(sink, task_id) - restarted, 2),
    )


def test_deliveries_waiting_for_a_copy_go_out_when_the_relay_restarts_with_media_off(
    make_relay: MakeRelay,
    cdn_sim: Simulator,
    sink: Sink,
    tmp_path: Path,
    storage_url: str,
    figures: Figures,
) -> None:
    relay = media_relay(make_relay, cdn_sim, sink, tmp_path / "media")
    task_id = relay.submit(**image_to_video(promptText="a slow TRICKLE pan")).json()["id"]
    relay.wait_task(task_id, mirroring)
    wait_for(lambda: trickling(cdn_sim))
    gauge = metric(relay.scrape(), "relay_outbox", state="mirroring")
    assert gauge == 1
    relay.kill()
    command = ["deliveries", "list", "--state", "mirroring", "--config", str(relay.config_path)]
    listed = subprocess.run(
        [sys.executable, "-m", "receiver", *command],
        capture_output=True,
        text=True,
        env=relay.env,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    assert task_id in listed.stdout and "mirroring" in listed.stdout

    started = time.time()
    off = make_relay([webhook(sink)], upstream={"base_url": cdn_sim.url}, media={"enabled": False})
    ready = time.time()
    off.wait_task(task_id, delivered, timeout=WAIT)
    media = media_of(sink, task_id)
    assert media == {"status": "failed", "reason": "media copies are turned off"}
    assert metric(off.scrape(), "relay_outbox", state="mirroring") == 0
    figures.record(
        "media_off_restart",
        backend=backend_of(storage_url),
        wait_seconds=WAIT,
        restart_to_ready_s=round(ready - started, 2),
        restart_to_delivered_s=round(delivered_at(sink, task_id) - started, 2),
    )


def _app(relay: Relay, name: str) -> httpx.Client:
    """A client with a key of an app of its own."""
    made = relay.api.post("/v1/keys", json={"name": name, "scopes": ["tasks:submit", "tasks:read"]})
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    return httpx.Client(base_url=relay.url, timeout=15, headers=headers)


# The apps' turns are taken in the claim's statement: on each store.
@pytest.mark.every_backend
def test_one_apps_trickling_copies_hold_half_the_slots_and_another_apps_copy_goes_at_once(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path, storage_url: str
) -> None:
    # A download timeout far past the test: app A's copies hold their slots all along.
    relay = media_relay(
        make_relay,
        cdn_sim,
        sink,
        tmp_path / "media",
        download_timeout_seconds=300,
        wait_seconds=600,
    )
    hostile, honest = _app(relay, "hostile"), _app(relay, "honest")
    trickles = [
        hostile.post("/v1/tasks", json=image_to_video(promptText=f"TRICKLE {i}")).json()["id"]
        for i in range(SLOTS + 2)
    ]
    for task_id in trickles:
        relay.wait_task(task_id, lambda t: mirroring(t) or t["state"] == "failed", timeout=60)
    wait_for(lambda: trickling(cdn_sim) >= SLOTS // 2)
    made = honest.post("/v1/tasks", json=image_to_video(promptText="an honest pan"))
    task_id = made.json()["id"]
    relay.wait_task(task_id, delivered, timeout=120)
    assert media_of(sink, task_id)["status"] == "mirrored"
    # App A never held more than half the copier, and its copies were still going: app B's
    # copy did not wait for one of them to time out.
    assert trickling(cdn_sim) == SLOTS // 2
    assert not [x for x in relay.log_lines() if x.get("event") == "media.retry"]
    assert all(mirroring(relay.task(t)) for t in trickles)
