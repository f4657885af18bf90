"""Ordered delivery: what `ordering = "task"` costs a real relay draining its outbox to a sink
on loopback, paired with the same drain unordered in the same run.

Two outboxes, each drained from a fresh copy: one event per task (the claim's check of each
row's earlier ones is all that differs), and two events per task, running then succeeded
(the later one waits until the earlier is delivered, instead of going out beside it).
Each round drains both ways, the order swapped every other round; the figures are the
medians over rounds of the deliveries a second (first to last at the sink) and the relay's
CPU per delivery from the moment its outbox is made due.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import BENCH
from harness import Bench, Row, log

from stages.fanshaping import drain
from tests.testkit import free_port

VARIANTS: dict[str, dict[str, Any]] = {"unordered": {}, "ordered": {"ordering": "task"}}
OUTBOXES = {"one": [], "chains": ["--chains"]}  # one event per task, two


def run(bench: Bench) -> None:
    rounds, deliveries = (2, 3_000) if bench.plan.quick else (4, 6_000)
    port = free_port()
    sink_url = f"http://127.0.0.1:{port}"
    sink = bench.child("ordering-sink", [str(BENCH / "servers.py"), "sink", str(port)], sink_url)
    results: dict[str, Any] = {"rounds": rounds, "deliveries_per_drain": deliveries}
    try:
        for outbox, flags in OUTBOXES.items():
            filled = bench.work / f"ordering-{outbox}.db"
            if not filled.exists():
                fill = [str(BENCH / "fill.py"), "--db", str(filled), "--outbox", str(deliveries)]
                subprocess.run([sys.executable, *fill, "--downstreams", "1", *flags], check=True)
            per: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
            for n in range(rounds):
                order = list(VARIANTS) if n % 2 == 0 else list(reversed(VARIANTS))
                for name in order:
                    per[name].append(_drain(bench, name, filled, sink_url, deliveries))
                log(f"ordering: {outbox} round {n + 1}: {per}")
            results[outbox] = {
                name: {
                    "deliveries_per_s": round(statistics.median(r for r, _ in runs)),
                    "cpu_us": round(statistics.median(c for _, c in runs), 1),
                    "runs": runs,
                }
                for name, runs in per.items()
            }
    finally:
        sink.stop()
        bench.children.remove(sink)
    bench.results["ordering"] = results
    log(f"ordering: {results}")


def _drain(
    bench: Bench, variant: str, outbox: Path, sink_url: str, expected: int
) -> tuple[float, float]:
    """One relay on a fresh copy of the outbox: (deliveries a second, CPU µs a delivery)."""
    name = f"ordering-{outbox.stem}-{variant}"
    return drain(bench, name, outbox, VARIANTS[variant], sink_url, expected)


def rows(r: dict[str, Any]) -> list[Row]:
    if "ordering" not in r:
        return []
    out: list[Row] = []
    for outbox, what in (("one", "one event a task"), ("chains", "two events a task")):
        s = r["ordering"][outbox]
        plain, ordered = s["unordered"], s["ordered"]
        out.append(
            (
                f"Ordered delivery, {what} (deliveries/s, CPU each)",
                f"{ordered['deliveries_per_s']}/s, {ordered['cpu_us']:.0f} us (unordered "
                f"{plain['deliveries_per_s']}/s, {plain['cpu_us']:.0f} us)",
                "-",
                "",
            )
        )
    return out
