"""A corroborated callback counted, beside the floor, in the end-to-end stage's run: the
floor and each relay run under bench/counted.py and take the same load (150/s of finished
tasks' flat callbacks), and what each did from the load's first callback to its last
delivery is divided by the callbacks it took. The counts are what the relay does beyond
the three exchanges: transactions and statements, JSON encodes and decodes, log records,
bytes written to the store, asyncio Tasks and their steps (awaits that suspended), and the
calls of Python functions on the event loop's thread, by where each function is written."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from common import BENCH, Child, python_child, relay_env, relay_settings
from harness import Bench, Build, Row, for_build, wait_until

from tests.testkit import free_port, to_toml

RATE = 150
COUNTED = (
    "transactions",
    "fsynced_commits",
    "wal_syncs",
    "store_jobs",
    "sql_statements",
    "json_encodes",
    "json_decodes",
    "log_records",
    "log_bytes",
    "store_bytes",
    "tasks_created",
    "task_steps",
    "python_calls",
)


def _window(child: Child, out: Path, load: Any) -> dict[str, Any]:
    """Counts from SIGUSR1 to SIGUSR2 around `load()`, which returns the callbacks taken."""
    out.unlink(missing_ok=True)
    child.proc.send_signal(signal.SIGUSR1)
    time.sleep(0.2)
    callbacks = load()
    time.sleep(0.3)  # an outcome held for company rides in the next transaction
    child.proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    got: dict[str, Any] = json.loads(out.read_text())
    n = max(callbacks, 1)
    per = {k: round(got.get(k, 0) / n, 2) for k in COUNTED}
    per["callbacks"] = callbacks
    for detail in ("statements", "sites", "python_areas"):
        per[detail] = {key: round(k / n, 2) for key, k in got.get(detail, {}).items()}
    per["cpu_us_by_thread"] = {
        name: round(cpu / n * 1e6) for name, cpu in got["thread_cpu"].items() if cpu > 0
    }
    return per


def _loaded(
    bench: Bench, port: int, sink_url: str, tag: str, pairs: Path | None, offset: int = 0
) -> int:
    """The load, on tasks from `offset` on: a task called back twice is judged at once."""
    httpx.get(f"{sink_url}/reset")
    load = ["--rate", str(RATE), "--flat"]
    seconds = bench.plan.latency_seconds
    got = bench.loadgen(port, load, seconds, tag, "succeeded", offset, pairs)
    wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= got["ok"], 120)
    return int(got["ok"])


def floor(bench: Bench, sink_url: str) -> dict[str, Any]:
    port, out = free_port(), bench.work / "counted-floor.json"
    args = [str(BENCH / "counted.py"), str(out), str(BENCH / "servers.py"), "floor", str(port)]
    child = python_child("counted-floor", [*args, bench.upstream(), sink_url], bench.work, {})
    bench.children.append(child)
    try:
        child.wait_http(f"http://127.0.0.1:{port}/readyz")
        _loaded(bench, port, sink_url, "counted-floor-warm", None)
        return _window(child, out, lambda: _loaded(bench, port, sink_url, "counted-floor", None))
    finally:
        child.stop()
        bench.children.remove(child)


def relay(bench: Bench, sink_url: str, build: Build) -> dict[str, Any]:
    name = f"counted-{'this' if build == bench.this else 'against'}"
    db = bench.fresh_copy(build.snapshot(10_000), name)
    os.sync()  # the copy on disk before the relay's commits wait on their fsyncs
    port, out = free_port(), bench.work / f"{name}.json"
    settings = relay_settings(
        db, port, bench.upstream(), downstream_urls=[f"{sink_url}/hook"], level="info"
    )
    settings = for_build(build, settings)
    config = bench.work / f"{name}.toml"
    config.write_text(to_toml(settings))
    argv = [str(BENCH / "counted.py"), str(out), "-m", "receiver", "serve", "--config", str(config)]
    child = python_child(name, argv, bench.work, relay_env(port), build.python)
    bench.children.append(child)
    try:
        child.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
        _loaded(bench, port, sink_url, f"{name}-warm", build.pairs)
        # The warm-up's tasks have ended: the counted load calls back the next ones.
        offset = 2 * RATE * int(bench.plan.latency_seconds)
        return _window(
            child, out, lambda: _loaded(bench, port, sink_url, f"{name}-load", build.pairs, offset)
        )
    finally:
        child.stop()
        bench.children.remove(child)


def rows(e: dict[str, Any]) -> list[Row]:
    if "counts" not in e:
        return []
    c = e["counts"]
    names = ["floor", "this", *(["against"] if "against" in c else [])]
    out: list[Row] = []
    for key in COUNTED:
        figures = ", ".join(f"{n} {c[n][key]:g}" for n in names)
        out.append((f"... per callback, {key}", figures, "-", ""))
    return out
