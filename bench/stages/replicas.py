"""Replicas on PostgreSQL: the corroborated callback end to end (a flat terminal callback
in, a poll of CometAPI, a delivery out) with 1, 2 and 4 `receiver serve` processes on one
database, callbacks spread evenly over their ports, each load closed-loop at saturation.
Throughput is callbacks delivered per second, from the first callback to the last delivery
at the sink; the scaling exponent is the slope of log(throughput) on log(replicas)."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import BENCH, cpu_seconds
from harness import Bench, Row, slope, verdict, wait_until

from tests.testkit import PG_URL, free_port

REPLICAS = (1, 2, 4)
CONNECTIONS = 8  # per replica
ROUND = 8_000  # open tasks a round may call: no round reaches the next one's


def run(bench: Bench) -> None:
    seconds = bench.plan.latency_seconds
    schema = "bench_" + uuid.uuid4().hex[:12]
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    sink_port = free_port()
    sink_url = f"http://127.0.0.1:{sink_port}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sink = bench.child(
        "replicas-sink", [str(BENCH / "servers.py"), "sink", str(sink_port)], sink_url
    )
    pairs = bench.work / "replicas-pairs.txt"
    rounds: dict[str, Any] = {}
    try:
        fill = [str(BENCH / "fill.py"), "--postgres", url, "--open", str(ROUND * len(REPLICAS))]
        subprocess.run([sys.executable, *fill, "--pairs", str(pairs)], check=True)
        for r, k in enumerate(REPLICAS):
            rounds[str(k)] = one_round(bench, url, sink_url, pairs, k, r * ROUND, seconds)
    finally:
        sink.stop()
        bench.children.remove(sink)
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    points = [(math.log(int(k)), math.log(r["per_s"])) for k, r in rounds.items()]
    bench.results["replicas"] = {"rounds": rounds, "exponent": round(slope(points), 3)}


def one_round(
    bench: Bench, url: str, sink_url: str, pairs: Any, k: int, first: int, seconds: float
) -> dict[str, Any]:
    httpx.get(f"{sink_url}/reset")
    with contextlib.ExitStack() as stack:
        relays = [
            stack.enter_context(
                bench.relay(
                    f"replica-{k}-{i}",
                    bench.work / f"replica-{k}-{i}.db",
                    storage_url=url,
                    downstream_urls=[f"{sink_url}/hook"],
                    level="info",
                )
            )
            for i in range(k)
        ]
        ports = [port for _, port in relays]
        started, busy0 = time.monotonic(), machine_busy()
        cpu0 = sum(cpu_seconds(relay.pid) for relay, _ in relays)
        loads = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(BENCH / "loadgen.py"),
                    *("--url", f"http://127.0.0.1:{port}", "--pairs", str(pairs)),
                    *("--seconds", f"{seconds:g}", "--connections", str(CONNECTIONS)),
                    *("--first-state", "succeeded", "--flat", "--tag", f"replicas-{k}-{i}"),
                    *("--offset", str(first + i * (ROUND // k))),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, port in enumerate(ports)
        ]
        results = [json.loads(load.communicate()[0]) for load in loads]
        accepted = sum(r["ok"] for r in results)
        done = wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= accepted, 180)
        took = time.monotonic() - started
        busy = machine_busy()
        cpu = sum(cpu_seconds(relay.pid) for relay, _ in relays) - cpu0
    return {
        "replicas": k,
        "callbacks": accepted,
        "delivered": done["total"],
        "seconds": round(took, 2),
        "per_s": round(accepted / took, 1),
        "callback_p99_ms": max(r["p99_ms"] for r in results),
        # The relays' own CPU: flat from 1 to 4 replicas means they add no work to each
        # other, and the throughput is bounded by the cores they get.
        "relay_cpu_us_per_callback": round(1e6 * cpu / max(accepted, 1)),
        "relays_cores": round(cpu / took, 2),
        # Of every core, how busy the machine was (relays, PostgreSQL, the load, the rest).
        "machine_busy": round((busy[0] - busy0[0]) / max(busy[1] - busy0[1], 1), 3),
    }


def machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of all cores so far, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0]
    fields = [int(x) for x in first.split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def rows(r: dict[str, Any]) -> list[Row]:
    if "replicas" not in r:
        return []
    rep = r["replicas"]
    measured = ", ".join(
        f"{k}: {v['per_s']:.0f}/s ({100 * v['machine_busy']:.0f}% busy, relays"
        f" {v.get('relay_cpu_us_per_callback', 0):,} us CPU/callback on"
        f" {v.get('relays_cores', 0):.2f} cores)"
        for k, v in rep["rounds"].items()
    )
    return [
        (
            "Replicas on PostgreSQL, corroborated callbacks delivered/s (1, 2, 4 processes)",
            f"{measured}; grows as replicas^{rep['exponent']:.2f}",
            ">= 0.8 (2 cores)",
            verdict(rep["exponent"] >= 0.8),
        )
    ]


def failed(r: dict[str, Any]) -> int:
    rounds = r.get("replicas", {}).get("rounds", {}).values()
    return sum(int(x["callbacks"]) - int(x["delivered"]) for x in rounds)
