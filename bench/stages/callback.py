"""Callback to delivery: a genuine callback's arrival to its delivery downstream, with the
body corroborated by a poll and with the body trusted."""

from __future__ import annotations

import time
from typing import Any

import httpx
from common import ADMIN_TOKEN, BENCH
from harness import Bench, Row, verdict

from tests.testkit import free_port

MODES = (("corroborated", False), ("trusted", True))


def run(bench: Bench) -> None:
    """From a genuine callback's arrival to its delivery: corroborated, and trusted."""
    sim_port, sink_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = bench.child(
        "live-sim", [str(BENCH / "servers.py"), "live", str(sim_port)], f"{sim_url}/_sim/stats"
    )
    sink = bench.child(
        "live-sink",
        [str(BENCH / "servers.py"), "sink", str(sink_port)],
        f"http://127.0.0.1:{sink_port}/",
    )
    try:
        for mode, trust in MODES:
            db = bench.work / f"callback-{mode}.db"
            with bench.relay(
                f"callback-{mode}",
                db,
                sim_url=sim_url,
                downstream_urls=[f"http://127.0.0.1:{sink_port}/hook"],
                callbacks={"trust_body": trust},
            ) as (_, port):
                bench.results[f"callback_{mode}"] = latencies(bench, port)
    finally:
        for child in (sim, sink):
            child.stop()
            bench.children.remove(child)


def latencies(bench: Bench, port: int) -> dict[str, Any]:
    tasks, rate = bench.plan.callback_tasks, 20.0
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"kind": "video2video", "video": "https://example.invalid/in.mp4", "prompt": "x"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=admin) as api:
        ids = []
        for _ in range(tasks):
            ids.append(api.post("/v1/tasks", json=body).json()["id"])
            time.sleep(1 / rate)

        def delivered(task_id: str) -> float | None:
            task = api.get(f"/v1/tasks/{task_id}").json()
            arrived = [e["received_at"] for e in task["events"] if e["source"] == "callback"]
            done = [d["delivered_at"] for d in task["deliveries"] if d["delivered_at"]]
            return done[0] - arrived[0] if arrived and done else None

        deadline = time.monotonic() + 60
        seconds: list[float | None] = [None] * tasks
        while None in seconds and time.monotonic() < deadline:
            seconds = [
                s if s is not None else delivered(i) for s, i in zip(seconds, ids, strict=True)
            ]
            time.sleep(0.2)
    got = sorted(s for s in seconds if s is not None)
    ms = [round(1000 * s, 1) for s in got]
    return {
        "tasks": tasks,
        "delivered": len(got),
        "p50_ms": ms[len(ms) // 2] if ms else None,
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
        "max_ms": ms[-1] if ms else None,
    }


def rows(r: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for mode, _ in MODES:
        if f"callback_{mode}" not in r:
            continue
        c = r[f"callback_{mode}"]
        target = "a few hundred ms" if mode == "corroborated" else "-"
        ok = c["delivered"] == c["tasks"] and (c["p99_ms"] or 1e9) < 500
        out.append(
            (
                f"Genuine callback -> delivery, {mode} ({c['tasks']} tasks at 20/s)",
                f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, max {c['max_ms']} ms;"
                f" {c['delivered']}/{c['tasks']} delivered",
                target,
                verdict(ok) if mode == "corroborated" else "",
            )
        )
    return out
