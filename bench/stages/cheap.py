"""Cheap requests: what a /metrics scrape and a text search cost on a store of 100k tasks,
and what four of them at once do to callbacks (open loop, CALLBACK_RATE/s) beside them.

The scrape is timed with the store's gauges counted in the background (the default) and
counted at every scrape (`server.metrics_count_seconds = 0`, as before); the search is a
text that matches nothing, the worst case: it reads its whole window.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import httpx
from common import ADMIN_TOKEN
from harness import Bench, Row, log, verdict

STORED = 100_000
CALLBACK_RATE = 100
WINDOW = 10.0  # seconds of callbacks per measurement
CLIENTS = 4
SCRAPES = 50


def run(bench: Bench) -> None:
    source = bench.snapshot(STORED)
    out: dict[str, Any] = {}
    for name, server in (("background", {}), ("per_scrape", {"metrics_count_seconds": 0})):
        db = bench.fresh_copy(source, f"cheap-{name}")
        with bench.relay(f"cheap-{name}", db, server=server) as (_, port):
            out[f"scrape_ms_{name}"] = scrape_ms(port)
            out[f"metrics_{name}"] = beside(bench, port, f"cheap-metrics-{name}", "/metrics")
            if name == "background":
                out["search"] = beside(bench, port, "cheap-search", "/v1/tasks?q=no-such-text")
                out["alone"] = alone(bench, port, "cheap-alone")
        log(f"cheap: {name} done")
    bench.results["cheap"] = out


def scrape_ms(port: int) -> float:
    """The median time of one /metrics scrape, one after another."""
    times = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # bench/common.py's metrics token
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        for _ in range(SCRAPES):
            started = time.perf_counter()
            client.get("/metrics").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def alone(bench: Bench, port: int, tag: str) -> dict[str, Any]:
    return bench.loadgen(port, ["--rate", str(CALLBACK_RATE)], WINDOW, tag)


def beside(bench: Bench, port: int, tag: str, path: str) -> dict[str, Any]:
    """Callbacks at CALLBACK_RATE while CLIENTS clients send `path` back to back."""
    stop = threading.Event()
    counts = [0] * CLIENTS

    def hammer(i: int) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            while not stop.is_set():
                client.get(path).raise_for_status()
                counts[i] += 1

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        got = bench.loadgen(port, ["--rate", str(CALLBACK_RATE)], WINDOW, tag)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    got["requests_beside"] = sum(counts)
    return got


def rows(r: dict[str, Any]) -> list[Row]:
    if "cheap" not in r:
        return []
    c = r["cheap"]
    alone_p99 = c["alone"]["p99_ms"]
    search_p99 = c["search"]["p99_ms"]
    return [
        (
            "/metrics scrape, 100k tasks: background count / count per scrape",
            f"{c['scrape_ms_background']} ms / {c['scrape_ms_per_scrape']} ms",
            "flat",
            verdict(c["scrape_ms_background"] < 5),
        ),
        (
            f"callback p99 at {CALLBACK_RATE}/s: alone / 4 scrapers / 4 scrapers counting",
            f"{alone_p99:.1f} / {c['metrics_background']['p99_ms']:.1f} /"
            f" {c['metrics_per_scrape']['p99_ms']:.1f} ms",
            "within 2x",
            verdict(c["metrics_background"]["p99_ms"] <= 2 * alone_p99),
        ),
        (
            f"callback p99 at {CALLBACK_RATE}/s beside 4 searches (100k tasks)",
            f"{search_p99:.1f} ms ({c['search']['requests_beside']} searches in {WINDOW:g} s)",
            "within 2x",
            verdict(search_p99 <= 2 * alone_p99),
        ),
    ]


def failed(r: dict[str, Any]) -> int:
    c = r.get("cheap", {})
    runs = [c[k] for k in ("alone", "search", "metrics_background", "metrics_per_scrape") if k in c]
    return sum(int(x["sent"]) - int(x["ok"]) for x in runs)
