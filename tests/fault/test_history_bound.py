"""One leaked callback URL cannot grow the store without end or stall the service.

A hundred distinct bodies of almost 1 MiB go to one valid URL: each is answered, the
task keeps at most its bound of callback bodies, and reading the task (the largest one the
bound allows) keeps /healthz answering within milliseconds.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, video2video

# The bound is kept by the store's rows.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

BODIES = 100
BODY_BYTES = 1024 * 1024 - 1024  # just under callbacks.max_body_bytes
BOUND_BYTES = 1024 * 1024  # callbacks.max_history_bytes_per_task default
HEALTH_PROBES = 50


def _db_bytes(storage_url: str) -> int:
    if not storage_url.startswith("sqlite:///"):
        return 0
    path = Path(storage_url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_a_flood_of_large_bodies_on_one_url_is_bounded(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0)
    relay = make_relay(polling={"callback_grace_seconds": 60})
    task = relay.submitted(**video2video())
    before = _db_bytes(storage_url)
    statuses = []
    with httpx.Client(timeout=30) as client:
        for i in range(BODIES):
            body = {"task_id": task["upstream_task_id"], "status": "RUNNING", "n": i}
            pad = BODY_BYTES - len(json.dumps({**body, "pad": ""}))
            answer = client.post(task["callback_url"], json={**body, "pad": "x" * pad})
            statuses.append(answer.status_code)
    assert statuses == [200] * BODIES
    stored = [e for e in relay.task(task["id"])["events"] if e["source"] == "callback"]
    assert 1 <= len(stored) <= BOUND_BYTES // BODY_BYTES
    metrics = relay.scrape()
    assert f'relay_callbacks_total{{outcome="over_limit"}} {BODIES - len(stored)}.0' in metrics
    grown = _db_bytes(storage_url) - before

    # /healthz keeps answering while the task is read again and again: the reader runs
    # until the probes are done, and the probes count only while reads are under way.
    health: list[float] = []
    reads = 0
    stop = threading.Event()

    def read_task() -> None:
        nonlocal reads
        while not stop.is_set():
            relay.task(task["id"])
            reads += 1

    reader = threading.Thread(target=read_task)
    reader.start()
    try:
        with httpx.Client(base_url=relay.url, timeout=10) as client:
            while reads == 0:
                client.get("/healthz")
            reads_before = reads
            # Probed on until a read has also ended meanwhile: on a loaded machine one read
            # of this task can outlast the fifty probes.
            while len(health) < HEALTH_PROBES or reads == reads_before:
                assert reader.is_alive(), "the reader stopped"
                t0 = time.monotonic()
                assert client.get("/healthz").status_code == 200
                health.append(time.monotonic() - t0)
    finally:
        stop.set()
        reader.join()
    t0 = time.monotonic()
    relay.task(task["id"])
    read_ms = (time.monotonic() - t0) * 1000
    figures.record(
        "history_bound",
        backend=backend_of(storage_url),
        bodies_sent=BODIES,
        body_bytes=BODY_BYTES,
        answered_200=statuses.count(200),
        bodies_stored=len(stored),
        store_growth_bytes=grown if storage_url.startswith("sqlite") else None,
        task_read_ms=round(read_ms, 1),
        healthz_during_reads_p50_ms=round(statistics.median(health) * 1000, 1),
        healthz_during_reads_max_ms=round(max(health) * 1000, 1),
    )
