"""A corroborated callback end to end: CometAPI's flat callbacks for finished video2video
tasks arriving at 150/s on kept-alive connections, each confirmed by a poll and delivered
to one webhook downstream, logging as shipped (`info`).

Measured in one run against the same load on a bare Starlette app (the relay's server
stack, no work): the relay's CPU per callback from its arrival to its delivery's 2xx (all
its threads, until the last delivery is in), the bare app's CPU per request, their ratio,
and each callback's way to the downstream (its arrival at the relay, as the relay stored
it, to its delivery's arrival at the sink). The floor (bench/servers.py) makes the same
three exchanges per callback with nothing else, under the same load: what no relay on
this stack could go below; beside it, the floor with one synced SQLite write a callback
before its answer (`durable`), the least a relay that loses nothing could go below. With
--profile, py-spy records the relay's first run.

With --against DIR, an older checkout's relay takes the same load in the same run, its
rounds in turn with this one's (A B B A ...), each on a store its own code filled: the
CPU per callback of both, and their ratio round by round.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import httpx
from common import BENCH, cpu_seconds
from harness import Bench, Build, Row, verdict, wait_until

from stages import counts
from stages.ingest import start_profile, stop_profile
from tests.testkit import free_port

RATE = 150
ROUNDS = 2


def run(bench: Bench) -> None:
    seconds = bench.plan.latency_seconds * 2
    ref_port, sink_port = free_port(), free_port()
    sink_url = f"http://127.0.0.1:{sink_port}"
    ref = bench.child(
        "e2e-ref",
        [str(BENCH / "servers.py"), "ref", str(ref_port)],
        f"http://127.0.0.1:{ref_port}/readyz",
    )
    sink = bench.child(
        "e2e-sink", [str(BENCH / "servers.py"), "timed-sink", str(sink_port)], f"{sink_url}/"
    )
    floor_port = free_port()
    floor = bench.child(
        "e2e-floor",
        [str(BENCH / "servers.py"), "floor", str(floor_port), bench.upstream(), sink_url],
        f"http://127.0.0.1:{floor_port}/readyz",
    )
    durable_port = free_port()
    durable = bench.child(
        "e2e-durable",
        [
            str(BENCH / "servers.py"),
            "durable",
            str(durable_port),
            bench.upstream(),
            sink_url,
            str(bench.work / "e2e-durable.db"),
        ],
        f"http://127.0.0.1:{durable_port}/readyz",
    )
    builds = [bench.this, *([bench.against] if bench.against else [])]
    rounds = max(ROUNDS, bench.plan.rounds) if bench.against else ROUNDS
    refs, floors, durables = [], [], []
    runs: dict[str, list[dict[str, Any]]] = {b.name: [] for b in builds}
    try:
        for i in range(rounds):
            refs.append(reference(bench, ref, ref_port, seconds, i))
            floors.append(floor_run(bench, floor, floor_port, sink_url, seconds, i))
            durables.append(floor_run(bench, durable, durable_port, sink_url, seconds, i))
            for build in builds if i % 2 == 0 else builds[::-1]:
                runs[build.name].append(relay_run(bench, sink_url, seconds, i, build))
        counted = {
            "floor": counts.floor(bench, sink_url),
            "this": counts.relay(bench, sink_url, bench.this),
        }
        if bench.against is not None:
            counted["against"] = counts.relay(bench, sink_url, bench.against)
    finally:
        for child in (ref, floor, durable, sink):
            child.stop()
            bench.children.remove(child)
    relays = runs[bench.this.name]
    ref_us = statistics.median(r["cpu_us_per_request"] for r in refs)
    floor_us = statistics.median(r["cpu_us_per_callback"] for r in floors)
    durable_us = statistics.median(r["cpu_us_per_callback"] for r in durables)
    relay_us = statistics.median(r["cpu_us_per_callback"] for r in relays)
    middle = sorted(relays, key=lambda r: r["p99_ms"])[len(relays) // 2]
    bench.results["endtoend"] = {
        "rate": RATE,
        "seconds": seconds,
        "reference_us": ref_us,
        "relay_us": relay_us,
        "ratio": round(relay_us / ref_us, 2),
        "floor_us": floor_us,
        "floor_ratio": round(floor_us / ref_us, 2),
        "durable_us": durable_us,
        "durable_floors": round(durable_us / floor_us, 2),
        "floors": round(relay_us / floor_us, 2),
        # Issue 81's figure: the relay against the least a relay that loses nothing costs.
        "relay_durable_floors": round(relay_us / durable_us, 2),
        "round_durable_floors": by_round(relays, durables),
        "round_floors": by_round(relays, floors),
        "counts": counted,
        "p50_ms": middle["p50_ms"],
        "p99_ms": middle["p99_ms"],
        "reference_runs": refs,
        "floor_runs": floors,
        "durable_runs": durables,
        "relay_runs": relays,
    }
    if bench.against is not None:
        theirs = runs[bench.against.name]
        ratios = [
            a["cpu_us_per_callback"] / b["cpu_us_per_callback"]
            for a, b in zip(relays, theirs, strict=True)
        ]
        bench.results["endtoend"]["against"] = {
            "build": bench.against.name,
            "relay_us": statistics.median(r["cpu_us_per_callback"] for r in theirs),
            "relay_runs": theirs,
            "pair_ratios": [round(r, 3) for r in ratios],
            "ratio": round(statistics.median(ratios), 3),
        }


def by_round(relays: list[dict[str, Any]], floors: list[dict[str, Any]]) -> list[float]:
    """Each round's relay CPU per callback over the same round's floor's."""
    return [
        round(r["cpu_us_per_callback"] / f["cpu_us_per_callback"], 2)
        for r, f in zip(relays, floors, strict=True)
    ]


def reference(bench: Bench, ref: Any, port: int, seconds: float, i: int) -> dict[str, Any]:
    cpu0 = cpu_seconds(ref.pid)
    got = bench.loadgen(port, ["--rate", str(RATE), "--flat"], seconds, f"e2e-ref-{i}", "succeeded")
    cpu = cpu_seconds(ref.pid) - cpu0
    return {"requests": got["ok"], "cpu_us_per_request": round(cpu / max(got["ok"], 1) * 1e6)}


def floor_run(
    bench: Bench, floor: Any, port: int, sink_url: str, seconds: float, i: int
) -> dict[str, Any]:
    httpx.get(f"{sink_url}/reset")
    cpu0 = cpu_seconds(floor.pid)
    got = bench.loadgen(
        port, ["--rate", str(RATE), "--flat"], seconds, f"e2e-floor-{i}", "succeeded"
    )
    wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= got["ok"], 120)
    cpu = cpu_seconds(floor.pid) - cpu0
    return {"callbacks": got["ok"], "cpu_us_per_callback": round(cpu / max(got["ok"], 1) * 1e6)}


def relay_run(bench: Bench, sink_url: str, seconds: float, i: int, build: Build) -> dict[str, Any]:
    mine = build == bench.this
    name = f"e2e-{i}" if mine else f"e2e-against-{i}"
    db = bench.fresh_copy(build.snapshot(10_000), name)
    # The copy written back now, not while the relay's first commits wait on their fsyncs
    # (each round's first relay was slow by hundreds of milliseconds).
    os.sync()
    httpx.get(f"{sink_url}/reset")
    urls = [f"{sink_url}/hook"]
    with bench.relay(name, db, build, downstream_urls=urls, level="info") as (relay, port):
        spies = start_profile(bench, relay, seconds, "endtoend") if i == 0 and mine else []
        cpu0 = cpu_seconds(relay.pid)
        load = ["--rate", str(RATE), "--flat"]
        got = bench.loadgen(port, load, seconds, name, "succeeded", pairs=build.pairs)
        done = wait_until(
            lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= got["ok"], 120
        )
        cpu = cpu_seconds(relay.pid) - cpu0
        stop_profile(bench, spies, "endtoend")
        arrived = httpx.get(f"{sink_url}/times").json()
    ms = sorted(1000 * (arrived[t] - at) for t, at in callbacks(db).items() if t in arrived)
    return {
        "callbacks": got["ok"],
        "delivered": done["total"],
        "cpu_us_per_callback": round(cpu / max(got["ok"], 1) * 1e6),
        "callback_p99_ms": got["p99_ms"],
        "p50_ms": round(ms[len(ms) // 2], 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "max_ms": round(ms[-1], 1),
    }


def callbacks(db: Path) -> dict[str, float]:
    """Each task's first callback, when the relay took it in (its stored `received_at`)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT task_id, MIN(received_at) FROM events WHERE source = 'callback'"
            " GROUP BY task_id"
        ).fetchall()
    return {task: at for task, at in rows}


def rows(r: dict[str, Any]) -> list[Row]:
    if "endtoend" not in r:
        return []
    e = r["endtoend"]
    return [
        (
            f"Corroborated callback end to end, {e['rate']}/s: relay CPU per callback",
            f"{e['relay_us']} us = {e['ratio']:.1f}x the bare app's {e['reference_us']} us",
            "<= 4x",
            verdict(e["ratio"] <= 4),
        ),
        *against_rows(e),
        (
            "... the floor: the same three exchanges and nothing else",
            f"{e.get('floor_us', '-')} us = {e.get('floor_ratio', 0):.1f}x the bare app",
            "-",
            "",
        ),
        (
            "... the floor and one synced SQLite write a callback (bench/servers.py durable)",
            f"{e.get('durable_us', '-')} us = {e.get('durable_floors', 0):.2f} floors",
            "-",
            "",
        ),
        (
            "... the relay in floors (round by round)",
            f"{e['floors']:.2f} ({', '.join(f'{f:.2f}' for f in e['round_floors'])})",
            "<= 2.0",
            verdict(e["floors"] <= 2.0),
        ),
        (
            "... the relay in durable floors (round by round)",
            f"{e['relay_durable_floors']:.2f}"
            f" ({', '.join(f'{f:.2f}' for f in e['round_durable_floors'])})",
            "<= 1.9",
            verdict(e["relay_durable_floors"] <= 1.9),
        ),
        *counts.rows(e),
        (
            f"... callback -> delivery at the sink, {e['rate']}/s",
            f"p50 {e['p50_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms",
            "p50 <= 20 ms, p99 <= 100 ms",
            verdict(e["p50_ms"] <= 20 and e["p99_ms"] <= 100),
        ),
    ]


def against_rows(e: dict[str, Any]) -> list[Row]:
    if "against" not in e:
        return []
    a = e["against"]
    ratios = a["pair_ratios"]
    return [
        (
            f"... paired with {a['build']} (--against), its relay CPU per callback",
            f"{a['relay_us']} us; this / that {100 * a['ratio']:.0f}% (median of "
            f"{len(ratios)} rounds, {100 * min(ratios):.0f}-{100 * max(ratios):.0f}%)",
            "<= 100%",
            verdict(a["ratio"] <= 1),
        )
    ]


def failed(r: dict[str, Any]) -> int:
    e = r.get("endtoend", {})
    runs = [*e.get("relay_runs", []), *e.get("against", {}).get("relay_runs", [])]
    return sum(int(run["callbacks"]) - int(run["delivered"]) for run in runs if run)
