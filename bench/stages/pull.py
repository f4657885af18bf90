"""Events by pull: how soon a long poll (`GET /v1/downstreams/{name}/events?wait=25`, which
reads the store every 0.1 s while it waits) answers with a new event, beside a client asking
the same endpoint without `wait` every 20 ms, in alternating rounds of the same run.

Each round ends one task (the `live` simulator calls back about a second after it is
submitted) while a reader waits for it at a pull downstream the admin made (`succeeded`
events only). Measured from the event's delivery row being written (its `created_at`: the
outbox writes it in the transaction that records the task's end) to the answer's arrival,
split at the row's settling (`delivered_at`, by the fan-out): past it, the endpoint still
leaves out what settled in the last 0.5 s (receiver/deliveries/pulled.py's SETTLE_SECONDS).
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, BENCH
from harness import Bench, Row, log, verdict

from tests.testkit import free_port

ROUNDS = 12  # of each reader; 6 with --quick
EVENTS = "/v1/downstreams/inbox/events"
WAIT = 25.0
GAP = 0.02  # seconds between two plain GETs
TASK = {"kind": "video2video", "video": "https://example.invalid/in.mp4", "prompt": "x"}
# The long poll reads the store every 0.1 s: at most that much later than the plain GETs.
MARGIN_MS = 100.0


def run(bench: Bench) -> None:
    rounds = 6 if bench.plan.quick else ROUNDS
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = bench.child(
        "pull-sim", [str(BENCH / "servers.py"), "live", str(sim_port)], f"{sim_url}/_sim/stats"
    )
    db = bench.work / "pull.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    try:
        with bench.relay("pull", db, sim_url=sim_url) as (_, port):
            out = measure(port, rounds)
    finally:
        sim.stop()
        bench.children.remove(sim)
    bench.results["pull"] = out
    log(f"pull: {out}")


def measure(port: int, rounds: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, headers=admin, timeout=WAIT + 10) as api:
        made = api.post(
            "/v1/downstreams", json={"name": "inbox", "format": "pull", "events": ["succeeded"]}
        )
        made.raise_for_status()
        after = str(api.get(EVENTS).json()["next"])
        found: dict[str, list[dict[str, float]]] = {"wait": [], "get": []}
        for _ in range(rounds):
            for mode in found:
                sample, after = _round(api, mode, after)
                found[mode].append(sample)
    return {"rounds": rounds, **{mode: _summary(samples) for mode, samples in found.items()}}


def _round(api: httpx.Client, mode: str, after: str) -> tuple[dict[str, float], str]:
    """One task ended while a reader waits for its event: the times, in seconds."""
    answered: list[tuple[float, dict[str, Any]]] = []

    def read() -> None:
        with httpx.Client(base_url=api.base_url, headers=api.headers, timeout=WAIT + 10) as own:
            while True:
                params: dict[str, Any] = {
                    "after": after,
                    **({"wait": WAIT} if mode == "wait" else {}),
                }
                page = own.get(EVENTS, params=params).json()
                if page["data"]:
                    answered.append((time.time(), page))
                    return
                if mode == "get":
                    time.sleep(GAP)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)  # the reader is waiting before the task is submitted
    submitted = api.post("/v1/tasks", json=TASK)
    submitted.raise_for_status()
    task_id = submitted.json()["id"]
    reader.join(60)
    at, page = answered[0]
    assert [e["data"]["task_id"] for e in page["data"]] == [task_id], page
    task = api.get(f"/v1/tasks/{task_id}").json()
    (row,) = [d for d in task["deliveries"] if d["downstream"] == "inbox"]
    written, settled = row["created_at"], row["delivered_at"]
    sample = {"total": at - written, "settling": settled - written, "reading": at - settled}
    return sample, str(page["next"])


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    totals = [s["total"] * 1000 for s in samples]
    return {
        "p50_ms": round(statistics.median(totals), 1),
        "min_ms": round(min(totals), 1),
        "max_ms": round(max(totals), 1),
        "settling_p50_ms": round(statistics.median(s["settling"] * 1000 for s in samples), 1),
        "reading_p50_ms": round(statistics.median(s["reading"] * 1000 for s in samples), 1),
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "pull" not in r:
        return []
    p = r["pull"]
    wait, get = p["wait"], p["get"]
    return [
        (
            f"Pull: event -> long poll's answer ({p['rounds']} rounds each)",
            f"p50 {wait['p50_ms']:.0f} ms ({wait['min_ms']:.0f}-{wait['max_ms']:.0f});"
            f" plain GET every {GAP * 1000:.0f} ms: p50 {get['p50_ms']:.0f} ms"
            f" ({get['min_ms']:.0f}-{get['max_ms']:.0f}); settling p50"
            f" {wait['settling_p50_ms']:.0f} ms",
            f"<= plain GET + {MARGIN_MS:.0f} ms",
            verdict(wait["p50_ms"] <= get["p50_ms"] + MARGIN_MS),
        )
    ]
