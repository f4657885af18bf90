"""Hundreds of idle live streams cost the relay next to nothing, and take no more than
their cap: one reader of the change feed serves them all.

Before the shared reader, each stream read the store twice a second by itself: 300 took the
relay from 0.2 % to 67-87 % of a core and callback p99 from 5 ms to over a second.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures
from tests.harness import ADMIN_TOKEN, Relay, metric, mint, video2video, wait_for

pytestmark = pytest.mark.fault

STREAMS = 300
WINDOW = 5.0  # seconds of idle CPU measured, with and without the streams
CALLBACKS = 200
TICKS = os.sysconf("SC_CLK_TCK")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_cpu(pid: int) -> float:
    """The share of one core the relay used over WINDOW seconds with nothing asked of it."""
    before = cpu_seconds(pid)
    time.sleep(WINDOW)  # a measurement window, not a wait for a condition
    return (cpu_seconds(pid) - before) / WINDOW


def callback_latencies(relay: Relay, task_ids: list[str]) -> list[float]:
    """Callback answers, one after another, in ms (a claim each: the poll it causes is the
    relay's own work, measured in the CPU above, not here)."""
    out = []
    with httpx.Client(timeout=10) as client:
        for task_id in task_ids:
            url = f"{relay.url}/callbacks/runway/{mint(task_id)}"
            started = time.perf_counter()
            assert client.post(url, json={"status": "RUNNING"}).status_code == 200
            out.append((time.perf_counter() - started) * 1000)
    return out


class Streams:
    """Idle streams held open from threads, all on one client (one TLS context, one pool).

    Closing shuts each socket down: a plain close from another thread would wait for the
    reader's blocked recv, which returns only with the relay's next keep-alive."""

    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=None), limits=limits)
        self.sockets: list[socket.socket] = []

    def _hold(self, url: str, opened: list[int]) -> None:
        try:
            with self.client.stream("GET", f"{url}/v1/stream", headers=AUTH) as r:
                self.sockets.append(r.extensions["network_stream"].get_extra_info("socket"))
                opened.append(r.status_code)
                for _ in r.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # shut down by the test

    def open_all(self, relay: Relay) -> None:
        opened: list[int] = []
        for _ in range(STREAMS):
            threading.Thread(target=self._hold, args=(relay.url, opened), daemon=True).start()
        wait_for(lambda: len(opened) == STREAMS or None, timeout=60)
        assert set(opened) == {200}
        assert metric(relay.scrape(), "relay_streams_open") == STREAMS

    def shut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def close_all(self, relay: Relay) -> None:
        self.shut()
        wait_for(lambda: metric(relay.scrape(), "relay_streams_open") == 0 or None)


@pytest.fixture
def streams() -> Iterator[Streams]:
    held = Streams()
    yield held
    held.shut()
    held.client.close()


def test_300_idle_streams_cost_next_to_nothing_and_the_301st_is_refused(
    make_relay: MakeRelay, streams: Streams, figures: Figures, storage_url: str
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the shared reader is the same on both backends: once is enough")
    relay = make_relay(server={"max_streams": STREAMS, "max_streams_per_client": STREAMS})
    assert relay.proc is not None
    pid = relay.proc.pid
    tasks = [relay.submitted(**video2video())["id"] for _ in range(CALLBACKS)]
    callback_latencies(relay, tasks)  # warm-up: the first claims' polls settle meanwhile
    baseline_cpu, baseline_rss = idle_cpu(pid), rss_mb(pid)
    baseline_ms = callback_latencies(relay, tasks)

    streams.open_all(relay)
    over = relay.api.get("/v1/stream")
    assert over.status_code == 503 and over.json()["error"] == "overloaded"
    streams_cpu, streams_rss = idle_cpu(pid), rss_mb(pid)
    streams_ms = callback_latencies(relay, tasks)
    streams.close_all(relay)
    closed_rss = rss_mb(pid)
    # A second round reuses what the first one freed: the process does not grow again.
    streams.open_all(relay)
    streams.close_all(relay)
    second_rss = rss_mb(pid)

    # Idle streams read nothing: what they cost is a timer each, far below one store read
    # per stream per half second.
    assert streams_cpu < max(0.05, 3 * baseline_cpu), (baseline_cpu, streams_cpu)
    p99 = lambda xs: statistics.quantiles(xs, n=100)[98]  # noqa: E731
    figures.record(
        "idle_streams",
        backend="sqlite",
        streams=STREAMS,
        idle_cpu_share_without=round(baseline_cpu, 4),
        idle_cpu_share_with=round(streams_cpu, 4),
        callback_p50_ms_without=round(statistics.median(baseline_ms), 2),
        callback_p50_ms_with=round(statistics.median(streams_ms), 2),
        callback_p99_ms_without=round(p99(baseline_ms), 2),
        callback_p99_ms_with=round(p99(streams_ms), 2),
        rss_mb_without=round(baseline_rss, 1),
        rss_mb_with=round(streams_rss, 1),
        rss_mb_after_close=round(closed_rss, 1),
        rss_mb_after_second_round=round(second_rss, 1),
        refused_past_cap=1,
    )
