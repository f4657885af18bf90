"""Runway's front door: what one create costs the relay, as Runway's SDKs send it
(`POST /runwayml/v1/image_to_video` with `X-Runway-Version`), one after another against the
simulator, on a store of its own.

With --against DIR the older checkout's relay takes the same creates in the same run, the
two taking turns round by round (the first in each round swapped every other round). The
figures are the median wall time of a create, which is mostly the wait for CometAPI's
answer, and the relay process's own CPU per create, which is what the relay adds: this
machine's cores are shared, so the CPU is the figure to compare.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
from common import ADMIN_TOKEN, cpu_seconds
from harness import Bench, Build, Row, log, verdict

WARM_UP = 10
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Runway-Version": "2024-11-06"}
BODY = {
    "model": "gen4_turbo",
    "promptImage": "https://example.invalid/cat.jpg",
    "promptText": "a calm camera move",
    "ratio": "1280:720",
}


def run(bench: Bench) -> None:
    rounds, creates = (3, 40) if bench.plan.quick else (5, 100)
    builds = [bench.this, *([bench.against] if bench.against else [])]
    runs: dict[str, list[dict[str, float]]] = {b.name: [] for b in builds}
    for i in range(rounds):
        for build in builds if i % 2 == 0 else builds[::-1]:
            runs[build.name].append(one_round(bench, build, i, creates))
    out: dict[str, Any] = {"this": _summary(runs[bench.this.name])}
    if bench.against is not None:
        out["against"] = {"build": bench.against.name, **_summary(runs[bench.against.name])}
    bench.results["runway_api"] = out
    log("runway_api: done")


def one_round(bench: Bench, build: Build, i: int, creates: int) -> dict[str, float]:
    name = f"runway_api-{'this' if build == bench.this else 'against'}-{i}"
    db = bench.work / f"{name}.db"
    for leftover in bench.work.glob(f"{name}.db*"):
        leftover.unlink()
    with bench.relay(name, db, build) as (relay, port):
        return _timed(relay.pid, port, creates)


def _timed(pid: int, port: int, creates: int) -> dict[str, float]:
    """`creates` one after another, after a few to warm up: their median wall time, and the
    relay's CPU per create."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS) as client:
        for _ in range(WARM_UP):
            _create(client)
        cpu0 = cpu_seconds(pid)
        walls = [_create(client) for _ in range(creates)]
        cpu = cpu_seconds(pid) - cpu0
    return {"wall_ms": statistics.median(walls), "cpu_us": cpu / creates * 1e6}


def _create(client: httpx.Client) -> float:
    started = time.perf_counter()
    answer = client.post("/runwayml/v1/image_to_video", json=BODY)
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


def _summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "wall_ms": round(statistics.median(r["wall_ms"] for r in rounds), 1),
        "cpu_us": round(statistics.median(r["cpu_us"] for r in rounds)),
        "rounds_cpu_us": [round(r["cpu_us"]) for r in rounds],
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "runway_api" not in r:
        return []
    f = r["runway_api"]
    this = f["this"]
    shown = f"{this['wall_ms']} ms wall, {this['cpu_us']:,} us relay CPU"
    if "against" not in f:
        return [("Front-door create (Runway's SDK shape)", shown, "recorded", "-")]
    theirs = f["against"]
    ratio = this["cpu_us"] / theirs["cpu_us"]
    return [
        (
            f"Front-door create, relay CPU: this / {theirs['build']} (paired, same run)",
            f"{shown} / {theirs['wall_ms']} ms, {theirs['cpu_us']:,} us ({ratio:.0%})",
            "no slower (within noise)",
            verdict(ratio <= 1.15),
        )
    ]
