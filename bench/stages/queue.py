"""Submit queue: a burst of submits answered at once, and how fast the queue drains.

Run A: 1,000 `POST /v1/tasks` from 32 clients at once, CometAPI with room for all (no
cap): how fast the relay answers them, how fast the queue drains into CometAPI, and the
relay's CPU per queued submit (answering it, sending it, recording CometAPI's answer; no
poll falls in the window). Run B: 200 submits under `max_concurrent_tasks = 20`, against
a CometAPI whose renders take about a second: the most CometAPI ever ran at once, and the
drain time that the cap and the render time allow.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, BENCH, cpu_seconds, metric
from harness import Bench, Row, verdict, wait_until

from tests.testkit import free_port

CLIENTS = 32


def _body(i: int) -> dict[str, Any]:
    return {
        "kind": "image_to_video",
        "model": "gen4_turbo",
        "promptImage": "https://example.invalid/still.jpg",
        "promptText": f"bench shot {i}",
    }


def _burst(port: int, count: int) -> tuple[list[float], float]:
    """`count` submits from CLIENTS threads: each answer's latency (ms), and the wall time."""
    url = f"http://127.0.0.1:{port}/v1/tasks"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def send(chunk: range) -> list[float]:
        took = []
        with httpx.Client(headers=headers, timeout=30) as client:
            for i in chunk:
                t0 = time.perf_counter()
                answer = client.post(url, json=_body(i))
                took.append((time.perf_counter() - t0) * 1000)
                if answer.status_code != 202:
                    raise RuntimeError(f"submit answered {answer.status_code}: {answer.text}")
        return took

    chunks = [range(k, count, CLIENTS) for k in range(CLIENTS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = [ms for part in pool.map(send, chunks) for ms in part]
    return latencies, time.perf_counter() - started


def _sim(bench: Bench) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bench.child(
        f"queue-sim-{port}", [str(BENCH / "servers.py"), "live", str(port)], url + "/_sim/stats"
    )
    return url


def _stats(sim_url: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{sim_url}/_sim/stats", timeout=10).json()
    return stats


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def run(bench: Bench) -> None:
    burst = 1000
    sim_url = _sim(bench)
    # No poll in the window: its CPU is the poller's stage's figure, not this one's.
    polling: dict[str, float] = {"initial_delay_seconds": 600, "callback_grace_seconds": 600}
    with bench.relay(
        "queue-a", _fresh(bench.work / "queue-a.db"), sim_url=sim_url, polling=polling
    ) as (relay, port):
        cpu0, t0 = cpu_seconds(relay.pid), time.perf_counter()
        latencies, answered = _burst(port, burst)
        got = wait_until(lambda: _stats(sim_url), lambda s: s["tasks"] >= burst, timeout=300)
        drained = time.perf_counter() - t0
        if got["tasks"] < burst:
            raise RuntimeError(f"the queue did not drain: {got['tasks']} of {burst} sent")
        cpu = cpu_seconds(relay.pid) - cpu0
    run_a = {
        "submits": burst,
        "clients": CLIENTS,
        "answered_seconds": round(answered, 2),
        "answers_per_s": round(burst / answered, 1),
        "answer_p50_ms": round(statistics.median(latencies), 1),
        "answer_p99_ms": round(statistics.quantiles(latencies, n=100)[98], 1),
        "drained_seconds": round(drained, 2),
        "drained_per_s": round(burst / drained, 1),
        "cpu_ms_per_submit": round(cpu / burst * 1000, 2),
        "cometapi_tasks": _stats(sim_url)["tasks"],
    }

    capped, cap = 200, 20
    sim_url = _sim(bench)
    polling = {"initial_delay_seconds": 0.5, "interval_seconds": 0.5, "tick_seconds": 0.2}
    with bench.relay(
        "queue-b",
        _fresh(bench.work / "queue-b.db"),
        sim_url=sim_url,
        polling=polling,
        upstream={"max_concurrent_tasks": cap},
    ) as (relay, port):
        t0 = time.perf_counter()
        _burst(port, capped)

        def succeeded() -> dict[str, Any]:
            return metric(port, "relay_tasks")

        key = '{state="succeeded"}'
        got = wait_until(succeeded, lambda m: m.get(key, 0) >= capped, timeout=600)
        drained = time.perf_counter() - t0
        if got.get(key, 0) < capped:
            raise RuntimeError(f"not every capped task ended: {got}")
    stats = _stats(sim_url)
    bench.results["queue"] = {
        "burst": run_a,
        "capped": {
            "submits": capped,
            "cap": cap,
            "render_seconds": 1.0,
            "all_succeeded_seconds": round(drained, 1),
            "cometapi_running_max": stats["running_max"],
            "cometapi_tasks": stats["tasks"],
        },
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "queue" not in r:
        return []
    a, b = r["queue"]["burst"], r["queue"]["capped"]
    return [
        (
            f"Submit burst, {a['submits']} from {a['clients']} clients: answered",
            f"{a['answers_per_s']:.0f}/s, p99 {a['answer_p99_ms']:.0f} ms",
            "-",
            "",
        ),
        (
            "  queue drained into CometAPI (no cap)",
            f"{a['drained_per_s']:.0f}/s, {a['cpu_ms_per_submit']:.2f} ms CPU per submit",
            "-",
            "",
        ),
        (
            f"  {b['submits']} under a cap of {b['cap']} (1 s renders): most at once",
            f"{b['cometapi_running_max']}, all done in {b['all_succeeded_seconds']:.0f} s",
            f"<= {b['cap']}",
            verdict(b["cometapi_running_max"] <= b["cap"]),
        ),
    ]
