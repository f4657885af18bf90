"""Filters and transforms, the whole fan-out stage: what a CEL filter plus a transform add to
each delivery of a real relay draining its outbox to a sink on loopback, paired with the same
drain without them.

`shaping` times the one step they change; this times everything a delivery costs in
`receiver serve` (the claim, the filter, the body the transform makes, the signature, the
POST, the record), so that a cost they add anywhere else (a bigger row read, a context
built twice, an expression compiled per event) shows too. Each round drains the same filled
outbox (one event per task, one downstream) twice from a fresh copy: the downstream plain,
then with a filter and a transform (the order swapped every other round), each timed by the
CPU per delivery of the relay and its expression workers (receiver/expressions/pool.py)
from the moment its outbox is made due (its start is not counted), since this machine's
cores are shared and wall time would count the others' turns. The figure is the median
over rounds of the per-delivery difference; the target is 50 us.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from common import BENCH, tree_cpu_seconds
from harness import Bench, Row, log, verdict, wait_until

from tests.testkit import free_port

TARGET_US = 50.0
# Every outbox event is a succeeded task's, so the filter takes each one and every delivery
# goes out with the transform's body (which keeps `data.task_id`: the sink reads it).
FILTER = 'event.type != "task.progress" && event.data.state == "succeeded"'
TRANSFORM = (
    '{"data": {"task_id": event.data.task_id}, "state": event.data.state,'
    ' "kind": event.data.kind,'
    ' "video": size(event.data.outputs) > 0 ? event.data.outputs[0] : "",'
    ' "upstream": event.data.upstream_task_id}'
)
VARIANTS = {"plain": {}, "shaped": {"filter": FILTER, "transform": TRANSFORM}}


def run(bench: Bench) -> None:
    rounds, deliveries = (4, 3_000) if bench.plan.quick else (8, 6_000)
    outbox = bench.work / "fanshaping-outbox.db"
    if not outbox.exists():
        fill = [str(BENCH / "fill.py"), "--db", str(outbox), "--outbox", str(deliveries)]
        subprocess.run([sys.executable, *fill, "--downstreams", "1"], check=True)
    port = free_port()
    sink_url = f"http://127.0.0.1:{port}"
    sink = bench.child("fanshaping-sink", [str(BENCH / "servers.py"), "sink", str(port)], sink_url)
    try:
        per: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for n in range(rounds):
            order = list(VARIANTS) if n % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                per[name].append(_drain(bench, name, outbox, sink_url, deliveries))
            log(f"fanshaping: round {n + 1}: {per['plain'][-1]} -> {per['shaped'][-1]} us")
    finally:
        sink.stop()
        bench.children.remove(sink)
    added = [b - a for a, b in zip(per["plain"], per["shaped"], strict=True)]
    bench.results["fanshaping"] = {
        "rounds": rounds,
        "deliveries_per_drain": deliveries,
        "plain_us": per["plain"],
        "shaped_us": per["shaped"],
        "without_us": round(statistics.median(per["plain"]), 1),
        "with_us": round(statistics.median(per["shaped"]), 1),
        "added_us": round(statistics.median(added), 1),
        "added_us_spread": [round(min(added), 1), round(max(added), 1)],
    }
    log(f"fanshaping: {bench.results['fanshaping']}")


def _drain(bench: Bench, variant: str, outbox: Path, sink_url: str, expected: int) -> float:
    """One relay on a fresh copy of the outbox; the relay's CPU per delivery it made."""
    name = f"fanshaping-{variant}"
    return drain(bench, name, outbox, VARIANTS[variant], sink_url, expected)[1]


def drain(
    bench: Bench,
    name: str,
    outbox: Path,
    downstream: dict[str, Any],
    sink_url: str,
    expected: int,
) -> tuple[float, float]:
    """One relay named `name`, with `downstream`'s settings, on a fresh copy of the outbox:
    (deliveries a second, the relay's CPU µs a delivery)."""
    httpx.get(f"{sink_url}/reset")
    db = bench.fresh_copy(outbox, name)
    # The outbox waits until the relay is up (its start, imports and all, is not what is
    # measured), then is made due at once: the relay's CPU from then is the drain's.
    due_at(db, time.time() + 86400)
    settings: dict[str, Any] = {"sim_url": "http://127.0.0.1:9", "downstream": downstream}
    with bench.relay(name, db, downstream_urls=[f"{sink_url}/hook"], **settings) as (relay, _):
        cpu0 = tree_cpu_seconds(relay.pid)
        due_at(db, 0.0)
        got = wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= expected)
        cpu = tree_cpu_seconds(relay.pid) - cpu0
    if got["total"] < expected:
        raise RuntimeError(f"{name}: {got['total']} of {expected} deliveries arrived")
    span = max(got["last"] - got["first"], 1e-6)
    return round(got["total"] / span, 1), round(cpu / int(got["total"]) * 1e6, 1)


def due_at(db: Path, at: float) -> None:
    """Every delivery of the outbox due at `at`."""
    with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = ?", (at,))


def rows(r: dict[str, Any]) -> list[Row]:
    if "fanshaping" not in r:
        return []
    s = r["fanshaping"]
    return [
        (
            "Filter + transform per delivery, whole fan-out (paired)",
            f"+{s['added_us']:.1f} us ({s['without_us']:.0f} -> {s['with_us']:.0f} us CPU)",
            f"<= {TARGET_US:g} us",
            verdict(s["added_us"] <= TARGET_US),
        )
    ]
