"""Poller: CPU of a relay with open tasks, none due, then due at the steady rate."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import httpx
from common import BENCH
from harness import Bench, Row, cpu_window, verdict

from tests.testkit import free_port


def run(bench: Bench) -> None:
    """CPU of a relay with 10,000 open tasks: none due, then due at the steady rate."""
    p = bench.plan
    sim_port = free_port()
    sim = bench.child(
        "sim",
        [str(BENCH / "servers.py"), "sim", str(sim_port), str(p.poll_tasks)],
        f"http://127.0.0.1:{sim_port}/_sim/stats",
    )
    sim_url = f"http://127.0.0.1:{sim_port}"
    # Default backoff, capped so that every task is polled once per 120 s: the
    # default max interval, i.e. the steady state of 10,000 long-running tasks.
    polling = {"interval_seconds": 120.0, "max_interval_seconds": 120.0}
    name = "poller"
    db = bench.fresh_copy(bench.work / "poll.db", name)
    try:
        with bench.relay(name, db, sim_url=sim_url, polling=polling) as (relay, _):
            time.sleep(1)
            idle = cpu_window(relay.pid, p.poll_idle_seconds)
            spread = 120.0
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute(
                    "UPDATE tasks SET next_poll_at = ? + (rowid % ?) * ? / ?"
                    " WHERE next_poll_at IS NOT NULL",
                    (time.time(), p.poll_tasks, spread, p.poll_tasks),
                )
            polls0 = httpx.get(f"{sim_url}/_sim/stats").json()["polls"]
            active = cpu_window(relay.pid, p.poll_active_seconds)
            polls = httpx.get(f"{sim_url}/_sim/stats").json()["polls"] - polls0
    finally:
        sim.stop()
        bench.children.remove(sim)
    idle_share = idle / p.poll_idle_seconds
    per_poll = max(active - idle_share * p.poll_active_seconds, 0) / max(polls, 1)
    bench.results["poller"] = {
        "open_tasks": p.poll_tasks,
        "idle_cpu_percent": round(idle_share * 100, 2),
        "polls": polls,
        "polls_per_s": round(polls / p.poll_active_seconds, 1),
        "active_cpu_percent": round(active / p.poll_active_seconds * 100, 2),
        "cpu_ms_per_poll": round(per_poll * 1000, 3),
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "poller" not in r:
        return []
    pl = r["poller"]
    return [
        (
            f"Poller, {pl['open_tasks']} open tasks none due (CPU of one core)",
            f"{pl['idle_cpu_percent']:.1f}%",
            "< 5%",
            verdict(pl["idle_cpu_percent"] < 5),
        ),
        (
            f"  polling {pl['polls_per_s']:.0f}/s (every task each 120 s)",
            f"{pl['active_cpu_percent']:.1f}% CPU, {pl['cpu_ms_per_poll']:.2f} ms per poll",
            "-",
            "",
        ),
    ]
