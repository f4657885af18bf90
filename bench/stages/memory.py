"""Memory: RSS of a relay on the largest store after ordinary requests."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
from common import ADMIN_TOKEN, metric, rss_mb
from harness import Bench, Row, verdict


def run(bench: Bench) -> None:
    """RSS of a relay on the 100k store after a few ordinary requests."""
    stored = max(bench.plan.stored)
    name = "memory"
    with bench.relay(name, bench.fresh_copy(bench.snapshot(stored), name)) as (relay, port):
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
            listed = http.get("/v1/tasks", params={"limit": 100}).json()["tasks"]
            for task in listed[:10]:
                http.get(f"/v1/tasks/{task['id']}")
            http.get("/v1/deliveries")
            counts = metric(port, "relay_tasks")
        bench.loadgen(port, ["--connections", "8"], 1, name)
        with sqlite3.connect(bench.work / f"{name}.db") as conn:
            tasks = conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
            events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        bench.results["memory"] = {
            "rss_mb": round(rss_mb(relay.pid), 1),
            "tasks": tasks,
            "events": events,
            "tasks_by_state": counts,
        }


def rows(r: dict[str, Any]) -> list[Row]:
    if "memory" not in r:
        return []
    m = r["memory"]
    return [
        (
            f"Memory, {m['tasks']:,} tasks / {m['events']:,} events stored (RSS)",
            f"{m['rss_mb']:.0f} MB",
            "< 150 MB",
            verdict(m["rss_mb"] < 150),
        )
    ]
