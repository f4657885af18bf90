"""Growth: ingest on stores of 1k, 10k and 100k finished tasks; flat is the target."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from common import metric, rss_mb
from harness import WARMUP_SECONDS, Bench, Row, verdict


def run(bench: Bench) -> None:
    """Small to large and, in a full run, back again, so drift on a busy machine does
    not pass for growth; the median per size counts."""
    order = list(bench.plan.stored)
    if not bench.plan.quick:
        order += order[::-1]
    runs: dict[str, list[dict[str, Any]]] = {}
    for stored in order:
        got = ingest_run(bench, bench.snapshot(stored), f"growth-{stored}")
        runs.setdefault(str(stored), []).append(got)
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
    bench.results["growth"] = {
        "runs": runs,
        "rps": rps,
        "flatness": round(min(rps.values()) / max(rps.values()), 3),
    }


def ingest_run(bench: Bench, db: Path, name: str, level: str = "warning") -> dict[str, Any]:
    """One relay on a fresh copy of `db`, loaded closed-loop; with its CPU per callback."""
    with bench.relay(name, bench.fresh_copy(db, name), level=level) as (relay, port):
        warm = bench.closed_load(port, WARMUP_SECONDS, f"{name}-warm-up")
        got = bench.timed_slice(relay, port, bench.plan.seconds, name, int(warm["requests"]))
        got["rss_mb"] = round(rss_mb(relay.pid), 1)
        got["outcomes"] = metric(port, "relay_callbacks_total")
    return got


def rows(r: dict[str, Any]) -> list[Row]:
    if "growth" not in r:
        return []
    g = r["growth"]
    rates = ", ".join(f"{int(k) // 1000}k: {v:.0f}" for k, v in g["rps"].items())
    return [
        (
            "Ingest vs stored tasks (callbacks/s)",
            f"{rates} (min/max {g['flatness']:.2f})",
            "flat (>= 0.8)",
            verdict(g["flatness"] >= 0.8),
        )
    ]


def failed(r: dict[str, Any]) -> int:
    runs = r.get("growth", {}).get("runs", {}).values()
    return sum(int(run["errors"]) for size in runs for run in size)
