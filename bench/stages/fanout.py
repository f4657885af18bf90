"""Fan-out: draining a filled outbox to 1..10 downstreams, then the outbox under steady
terminal callbacks (595/s, each corroborated by a poll), delivered in `receiver serve` and
in a `receiver deliver` worker."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from typing import Any

import httpx
from common import BENCH, cpu_seconds
from harness import Bench, Row, slope, verdict, wait_until

from tests.testkit import free_port

SUSTAINED = (("sustained", "in serve"), ("sustained_worker", "own worker"))
# Terminal callbacks a second for the sustained outbox: the rate the figures have always been
# taken at (half the ingest peak of an earlier, slower relay), fixed so that runs compare.
SUSTAINED_RATE = 595


def run(bench: Bench) -> None:
    sink_ports = [free_port() for _ in range(max(bench.plan.fanout_downstreams))]
    sink = bench.child(
        "sink",
        [str(BENCH / "servers.py"), "sink", *map(str, sink_ports)],
        f"http://127.0.0.1:{sink_ports[0]}/",
    )
    sink_url = f"http://127.0.0.1:{sink_ports[0]}"
    try:
        drains = {}
        for k in bench.plan.fanout_downstreams:
            drains[str(k)] = drain(bench, k, sink_ports, sink_url)
        bench.results["fanout"] = {"drain": drains}
        for worker in (False, True):
            sustained(bench, sink_ports, sink_url, worker)
    finally:
        sink.stop()
        bench.children.remove(sink)
    # CPU per event against downstreams on log-log axes: slope 1 is linear, above 1
    # each added downstream would cost more than the one before.
    points = [
        (math.log(int(k)), math.log(d["cpu_us_per_delivery"] * int(k))) for k, d in drains.items()
    ]
    bench.results["fanout"]["cost_exponent"] = round(slope(points), 3)


def drain(bench: Bench, k: int, sink_ports: list[int], sink_url: str) -> dict[str, Any]:
    """A relay starting on an outbox of N events x k downstreams; time to empty it."""
    events = bench.plan.fanout_deliveries // k
    expected = events * k
    urls = [f"http://127.0.0.1:{p}/hook" for p in sink_ports[:k]]
    httpx.get(f"{sink_url}/reset")
    name = f"fanout-{k}"
    db = bench.fresh_copy(bench.work / f"outbox-{k}.db", name)
    with bench.relay(name, db, downstream_urls=urls) as (relay, _):
        cpu0, seen0 = cpu_seconds(relay.pid), httpx.get(sink_url).json()["total"]
        got = wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= expected)
        cpu = cpu_seconds(relay.pid) - cpu0
    span = max(got["last"] - got["first"], 1e-6)
    return {
        "events": events,
        "deliveries": got["total"],
        "deliveries_per_s": round(got["total"] / span, 1),
        "events_per_s": round(got["total"] / span / k, 1),
        "cpu_us_per_delivery": round(cpu / max(got["total"] - seen0, 1) * 1e6),
    }


def sustained(bench: Bench, sink_ports: list[int], sink_url: str, worker: bool) -> None:
    """Terminal callbacks at the latency stage's rate, one downstream: does the outbox
    keep up? Sampled while the load runs, then the time to drain what is left. Run with
    the fan-out inside `receiver serve`, then in a `receiver deliver` worker beside it."""
    rate = SUSTAINED_RATE
    seconds = bench.plan.latency_seconds * 2
    name = "sustained-worker" if worker else "sustained"
    db = bench.fresh_copy(bench.snapshot(10_000), name)
    urls = [f"http://127.0.0.1:{sink_ports[0]}/hook"]
    httpx.get(f"{sink_url}/reset")
    delivery = {"in_process": False, "tick_seconds": 0.1} if worker else None
    with (
        bench.relay(name, db, downstream_urls=urls, delivery=delivery) as (_, port),
        bench.worker(name, port, worker),
    ):
        started = time.monotonic()
        argv = ["--url", f"http://127.0.0.1:{port}", "--pairs", str(bench.work / "pairs.txt")]
        argv += ["--seconds", f"{seconds:g}", "--rate", str(rate)]
        argv += ["--first-state", "succeeded", "--tag", name]
        load = subprocess.Popen(
            [sys.executable, str(BENCH / "loadgen.py"), *argv],
            stdout=subprocess.PIPE,
            text=True,
        )
        backlog = 0.0
        while load.poll() is None:
            time.sleep(0.5)
            sent = min(rate * (time.monotonic() - started), rate * seconds)
            backlog = max(backlog, sent - httpx.get(sink_url).json()["total"])
        out, _ = load.communicate()
        got = json.loads(out)
        ended = time.monotonic()
        during = httpx.get(sink_url).json()["total"]
        final = wait_until(
            lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= got["ok"], 60
        )
        drained = time.monotonic() - ended
    bench.results["fanout"]["sustained_worker" if worker else "sustained"] = {
        "rate": rate,
        "seconds": seconds,
        "sent": got["sent"],
        "accepted": got["ok"],
        "delivered": final["total"],
        "max_backlog": round(backlog),
        "delivered_per_s_during_load": round(during / (ended - started), 1),
        "drain_after_load_s": round(drained, 2),
        "callback_p99_ms": got["p99_ms"],
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "fanout" not in r:
        return []
    f = r["fanout"]
    out: list[Row] = []
    for k, d in f["drain"].items():
        out.append(
            (
                f"Fan-out to {k} downstream(s) (events/s)",
                f"{d['events_per_s']:.0f} ({d['deliveries_per_s']:.0f} deliveries/s, "
                f"{d['cpu_us_per_delivery']} us CPU each)",
                "-",
                "",
            )
        )
    if "cost_exponent" in f:
        out.append(
            (
                "Fan-out CPU per event vs downstreams",
                f"grows as downstreams^{f['cost_exponent']:.2f}",
                "linear (exponent <= 1.1)",
                verdict(f["cost_exponent"] <= 1.1),
            )
        )
    for key, where in SUSTAINED:
        if key not in f:
            continue
        s = f[key]
        out.append(
            (
                f"Outbox at {s['rate']}/s terminal callbacks, fan-out {where}",
                f"delivered {s['delivered_per_s_during_load']:.0f}/s during load, max "
                f"backlog {s['max_backlog']}, drained {s['drain_after_load_s']:.1f} s after",
                "keeps up (drain < 2 s)",
                verdict(s["drain_after_load_s"] < 2 and s["delivered"] >= s["accepted"]),
            )
        )
    return out


def failed(r: dict[str, Any]) -> int:
    fanout = r.get("fanout", {})
    return sum(
        int(fanout[key]["sent"]) - int(fanout[key]["accepted"])
        for key, _ in SUSTAINED
        if fanout.get(key)
    )
