"""Filters and transforms, the whole fan-out stage: what a CEL filter plus a transform add to
each delivery of a real relay draining its outbox to a sink on loopback, paired with the same
drain without them.

`shaping` times the one step they change; this times everything a delivery costs in
`receiver serve` (the claim, the filter, the body the transform makes, the signature, the
POST, the record), so that a cost they add anywhere else (a bigger row read, a context
built twice, an expression compiled per event) shows too. Each round drains the same filled
outbox (one event per task, one downstream) from a fresh copy: the downstream plain, with a
filter and a transform, and with the filter alone (the order swapped every other round), each
timed by the
CPU per delivery of the relay and its expression workers (receiver/expressions/pool.py)
from the moment its outbox is made due (its start, and the expression workers' start with
the programs compiled by a preview before, are not counted), since this machine's
cores are shared and wall time would count the others' turns. The figure is the median
over rounds of the per-delivery difference; the target is 50 us.

With --against DIR, the older build drains the same way in the same rounds, each build on an
outbox its own bench/fill.py made, so that what the filter and transform add is paired with
what they added there (a41becd evaluated them on the relay's own loop).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, BENCH, own_path, tree_cpu_seconds
from harness import Bench, Build, Row, log, verdict, wait_until

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
# And the filter alone: it reads only the type and the state, which repeat from one event to
# the next, as most filters' fields do.
VARIANTS = {
    "plain": {},
    "shaped": {"filter": FILTER, "transform": TRANSFORM},
    "filtered": {"filter": FILTER},
}


def run(bench: Bench) -> None:
    rounds, deliveries = (4, 3_000) if bench.plan.quick else (8, 6_000)
    builds = [bench.this, *([bench.against] if bench.against else [])]
    outboxes = {build.name: _outbox(build, deliveries) for build in builds}
    port = free_port()
    sink_url = f"http://127.0.0.1:{port}"
    sink = bench.child("fanshaping-sink", [str(BENCH / "servers.py"), "sink", str(port)], sink_url)
    per: dict[str, dict[str, list[float]]] = {
        build.name: {name: [] for name in VARIANTS} for build in builds
    }
    try:
        for n in range(rounds):
            for build in builds if n % 2 == 0 else reversed(builds):
                mine = per[build.name]
                order = list(VARIANTS) if n % 2 == 0 else list(reversed(VARIANTS))
                for name in order:
                    outbox = outboxes[build.name]
                    mine[name].append(_drain(bench, build, name, outbox, sink_url, deliveries))
                log(
                    f"fanshaping: round {n + 1}, {build.name}: "
                    f"{mine['plain'][-1]} -> {mine['shaped'][-1]} us"
                )
    finally:
        sink.stop()
        bench.children.remove(sink)
    results = _figures(per[bench.this.name]) | {
        "rounds": rounds,
        "deliveries_per_drain": deliveries,
    }
    if bench.against is not None:
        results["against"] = {"build": bench.against.name, **_figures(per[bench.against.name])}
    bench.results["fanshaping"] = results
    log(f"fanshaping: {bench.results['fanshaping']}")


def _outbox(build: Build, deliveries: int) -> Path:
    """An outbox of `deliveries` filled by `build`'s own bench/fill.py, in its own schema."""
    outbox = build.work / "fanshaping-outbox.db"
    if not outbox.exists():
        outbox.parent.mkdir(parents=True, exist_ok=True)
        fill = [str(build.root / "bench" / "fill.py"), "--db", str(outbox)]
        fill += ["--outbox", str(deliveries), "--downstreams", "1"]
        env = {**os.environ, **own_path(build.python)}
        subprocess.run([build.python, *fill], check=True, env=env)
    return outbox


def _figures(per: dict[str, list[float]]) -> dict[str, Any]:
    added = [b - a for a, b in zip(per["plain"], per["shaped"], strict=True)]
    return {
        "plain_us": per["plain"],
        "shaped_us": per["shaped"],
        "without_us": round(statistics.median(per["plain"]), 1),
        "with_us": round(statistics.median(per["shaped"]), 1),
        "added_us": round(statistics.median(added), 1),
        "added_us_spread": [round(min(added), 1), round(max(added), 1)],
        "filter_alone_us": round(
            statistics.median(b - a for a, b in zip(per["plain"], per["filtered"], strict=True)), 1
        ),
    }


def _drain(
    bench: Bench, build: Build, variant: str, outbox: Path, sink_url: str, expected: int
) -> float:
    """One relay on a fresh copy of the outbox; the relay's CPU per delivery it made."""
    mine = build.name == bench.this.name
    name = f"fanshaping-{variant}" if mine else f"fanshaping-against-{variant}"
    return drain(bench, name, outbox, VARIANTS[variant], sink_url, expected, build)[1]


def drain(
    bench: Bench,
    name: str,
    outbox: Path,
    downstream: dict[str, Any],
    sink_url: str,
    expected: int,
    build: Build | None = None,
) -> tuple[float, float]:
    """One relay named `name`, with `downstream`'s settings, on a fresh copy of the outbox:
    (deliveries a second, the relay's CPU µs a delivery)."""
    httpx.get(f"{sink_url}/reset")
    db = bench.fresh_copy(outbox, name)
    # The outbox waits until the relay is up (its start, imports and all, is not what is
    # measured), then is made due at once: the relay's CPU from then is the drain's.
    due_at(db, time.time() + 86400)
    settings: dict[str, Any] = {"sim_url": "http://127.0.0.1:9", "downstream": downstream}
    urls = [f"{sink_url}/hook"]
    with bench.relay(name, db, build, downstream_urls=urls, **settings) as (relay, port):
        _warm(port, downstream)
        cpu0 = tree_cpu_seconds(relay.pid)
        due_at(db, 0.0)
        got = wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= expected)
        cpu = tree_cpu_seconds(relay.pid) - cpu0
    if got["total"] < expected:
        raise RuntimeError(f"{name}: {got['total']} of {expected} deliveries arrived")
    span = max(got["last"] - got["first"], 1e-6)
    return round(got["total"] / span, 1), round(cpu / int(got["total"]) * 1e6, 1)


def _warm(port: int, downstream: dict[str, Any]) -> None:
    """The downstream's expressions previewed once before the clock starts: what is done
    once a process (the expression workers started, the programs compiled), like the
    relay's own start, is not a delivery's cost."""
    if not downstream:
        return
    asked = {key: downstream[key] for key in ("filter", "transform") if key in downstream}
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/downstreams/preview",
        json={**asked, "type": "task.succeeded"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,
    )
    answer.raise_for_status()


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
        ),
        (
            "The filter alone (its fields repeat), whole fan-out (paired)",
            f"+{s['filter_alone_us']:.1f} us"
            + (
                f" ({s['against']['filter_alone_us']:+.1f} us in {s['against']['build']})"
                if "against" in s
                else ""
            ),
            "",
            "",
        ),
        *_against_rows(s),
    ]


def _against_rows(s: dict[str, Any]) -> list[Row]:
    if "against" not in s:
        return []
    a = s["against"]
    ratio = s["added_us"] / a["added_us"] if a["added_us"] > 0 else float("inf")
    return [
        (
            f"... the same in {a['build']} (--against), same rounds",
            f"+{a['added_us']:.1f} us ({a['without_us']:.0f} -> {a['with_us']:.0f} us CPU)",
            "",
            "",
        ),
        ("... this build's added cost against it", f"x{ratio:.2f}", "", ""),
    ]
