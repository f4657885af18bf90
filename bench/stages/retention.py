"""Retention: the store's size under a steady load with a short retention (SQLite, and
PostgreSQL when one answers at RELAY_TEST_PG_URL, else 127.0.0.1:5432), callback latency
while 1 M rows are pruned against the same relay not pruning, and the one-time conversion
of a file made before retention.

Steady: tasks are submitted through the API at a fixed rate to a simulator whose tasks end
in about a second and call back (trusted, not corroborated by a poll: the CPU this saves
goes to the store); each is delivered to a sink.
With `retention.task_days` at a minute, the store should level off once the first tasks
are a minute old, and stay level: the size is sampled every few seconds, and the figure is
the growth from the middle third of the run to the last third.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import ADMIN_TOKEN, BENCH, metric
from fill import add_stored
from harness import Bench, Row, log, verdict

from receiver.kernel.store.sqlite import SqliteDb, SqliteStore, dict_row
from receiver.retention.rules import DAY
from tests.testkit import PG_URL, free_port

STEADY_RATE = 50.0  # tasks submitted per second
PRUNE_RATE = 100  # callbacks per second, open loop, while the prune runs
PRUNE_TASKS = 200_000  # finished tasks to prune: 5 rows each (task, 3 events, a delivery)


def run(bench: Bench) -> None:
    quick = bench.plan.quick
    out: dict[str, Any] = {"conversion": conversion(bench)}
    out["prune"] = prune_latency(bench, window=3 if quick else 10)
    minutes = 1.5 if quick else 6.0
    keep = 20.0 if quick else 60.0
    out["steady_sqlite"] = steady(bench, None, minutes, keep)
    schema = pg_schema()
    if schema is not None:
        try:
            out["steady_postgres"] = steady(bench, schema, minutes, keep)
        finally:
            drop_schema(schema)
    bench.results["retention"] = out


# --- the one-time conversion ----------------------------------------------------------------


def conversion(bench: Bench) -> dict[str, Any]:
    """A copy of the 100k-task store as the previous release made it (no auto_vacuum),
    converted by the store's own migrate()."""
    path = bench.fresh_copy(bench.snapshot(100_000), "conversion")
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA auto_vacuum=NONE")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = os.path.getsize(path)

    async def migrate() -> None:
        store = SqliteStore(str(path))
        try:
            await store.migrate()
        finally:
            await store.close()

    started = time.monotonic()
    asyncio.run(migrate())
    seconds = time.monotonic() - started
    with sqlite3.connect(path) as conn:
        converted = conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    return {"bytes": size, "seconds": round(seconds, 2), "converted": converted}


# --- latency while pruning --------------------------------------------------------------------


def prune_source(bench: Bench) -> tuple[Path, int]:
    """The 100k-task snapshot with as many finished tasks again: 1 M rows to prune."""
    path = bench.work / "prune-source.db"
    snapshot = bench.snapshot(100_000)
    # Made again whenever the snapshot was (--workdir): its open tasks must be pairs.txt's.
    if not path.exists() or path.stat().st_mtime < snapshot.stat().st_mtime:
        path.unlink(missing_ok=True)
        shutil.copyfile(snapshot, path)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.row_factory = dict_row
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        add_stored(SqliteDb(conn), 100_000, PRUNE_TASKS)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    with sqlite3.connect(path) as conn:
        rows = sum(
            conn.execute(sql).fetchone()[0]
            for sql in (
                "SELECT COUNT(*) FROM tasks WHERE terminal_at IS NOT NULL",
                "SELECT COUNT(*) FROM events e JOIN tasks t ON t.id = e.task_id"
                " WHERE t.terminal_at IS NOT NULL",
                "SELECT COUNT(*) FROM deliveries",
            )
        )
    return path, rows


def prune_latency(bench: Bench, window: float) -> dict[str, Any]:
    """Open-loop callbacks at PRUNE_RATE in windows: on a relay that does not prune (before
    and after), and on one pruning 1 M rows, until it is done and its file has shrunk."""
    source, rows = prune_source(bench)
    offset = 0

    def load(port: int, tag: str) -> dict[str, Any]:
        nonlocal offset
        got = bench.loadgen(port, ["--rate", str(PRUNE_RATE)], window, tag, "running", offset)
        offset += round(PRUNE_RATE * window)
        return got

    off_db = bench.fresh_copy(source, "prune-off")
    with bench.relay("prune-off", off_db, retention={"enabled": False}) as (_, off):
        before = [load(off, f"prune-off-{i}") for i in range(3)]
        db = bench.fresh_copy(source, "prune-on")
        size_before = os.path.getsize(db)
        during: list[dict[str, Any]] = []
        # A second's retention: every finished task is past it when the relay starts.
        settings = {"task_days": 1 / DAY, "interval_seconds": 3600}
        with bench.relay("prune-on", db, retention=settings) as (_, port):
            started = time.monotonic()
            done = 0.0
            while done < rows and len(during) < 200:
                during.append(load(port, f"prune-on-{len(during)}"))
                done = sum(metric(port, "relay_pruned_total").values())
                log(f"retention: {done:,.0f} of {rows:,} rows pruned")
            pruned_in = time.monotonic() - started
            # Then the pass gives the space back: until at most a tenth of the file is free
            # and the checkpoint has cut the file to its pages.
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                store = metric(port, "relay_store_bytes").get("", 0.0)
                free = metric(port, "relay_store_free_bytes").get("", 0.0)
                if free < 0.1 * store and os.path.getsize(db) <= store * 1.01:
                    break
                time.sleep(1)
            shrunk_in = time.monotonic() - started
        after = [load(off, f"prune-off-{3 + i}") for i in range(3)]
    baseline = [*before, *after]
    return {
        "rows": rows,
        "pruned_rows": done,
        "seconds": round(pruned_in, 1),
        "shrunk_seconds": round(shrunk_in, 1),
        "rate": PRUNE_RATE,
        "baseline": baseline,
        "during": during,
        "p99_baseline_ms": statistics.median(r["p99_ms"] for r in baseline),
        "p99_during_ms": statistics.median(r["p99_ms"] for r in during),
        "p99_during_max_ms": max(r["p99_ms"] for r in during),
        "p99_baseline_max_ms": max(r["p99_ms"] for r in baseline),
        "file_before": size_before,
        "file_after": os.path.getsize(db),
        "store_bytes": store,
        "free_bytes": free,
        "failed": sum(int(r["sent"]) - int(r["ok"]) for r in [*baseline, *during]),
    }


# --- steady load -------------------------------------------------------------------------


def pg_schema() -> str | None:
    name = "bench_" + uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f"CREATE SCHEMA {name}".encode())
    except psycopg.Error:
        log("retention: no PostgreSQL at RELAY_TEST_PG_URL; its steady run is left out")
        return None
    return name


def drop_schema(name: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE".encode())


def steady(bench: Bench, schema: str | None, minutes: float, keep: float) -> dict[str, Any]:
    backend = "postgres" if schema else "sqlite"
    sim_port, sink_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = bench.child(
        f"steady-sim-{backend}",
        [str(BENCH / "servers.py"), "live", str(sim_port)],
        f"{sim_url}/_sim/stats",
    )
    sink = bench.child(
        f"steady-sink-{backend}",
        [str(BENCH / "servers.py"), "sink", str(sink_port)],
        f"http://127.0.0.1:{sink_port}/",
    )
    db = bench.work / "steady.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"{PG_URL}?options=-csearch_path%3D{schema}" if schema else None
    settings: dict[str, Any] = {
        "sim_url": sim_url,
        "downstream_urls": [f"http://127.0.0.1:{sink_port}/hook"],
        "retention": {"task_days": keep / DAY, "interval_seconds": 5},
        # Trusted callbacks: no corroborating poll, so the relay's CPU goes to the store,
        # whose size is what this measures.
        "callbacks": {"trust_body": True},
        "storage_url": url,
    }
    samples: list[dict[str, float]] = []
    try:
        with bench.relay(f"steady-{backend}", db, **settings) as (_, port):
            stop = threading.Event()
            submitted: list[int] = [0, 0]  # ok, failed
            driver = threading.Thread(target=submit, args=(port, stop, submitted), daemon=True)
            started = time.monotonic()
            driver.start()
            while time.monotonic() - started < minutes * 60:
                time.sleep(5)
                samples.append(sample(port, db if schema is None else None, started))
            stop.set()
            driver.join()
    finally:
        for child in (sim, sink):
            child.stop()
            bench.children.remove(child)
    third = len(samples) // 3
    middle = statistics.fmean(s["bytes"] for s in samples[third : 2 * third])
    last = statistics.fmean(s["bytes"] for s in samples[2 * third :])
    log(f"retention: {backend} steady, middle third {middle / 1e6:.1f} MB, last {last / 1e6:.1f}")
    return {
        "minutes": minutes,
        "rate": STEADY_RATE,
        "keep_seconds": keep,
        "submitted": submitted[0],
        "achieved_rate": round(submitted[0] / (minutes * 60), 1),
        "failed": submitted[1],
        "samples": samples,
        "middle_bytes": round(middle),
        "last_bytes": round(last),
        "growth": round(last / middle - 1, 3),
    }


def submit(port: int, stop: threading.Event, counts: list[int]) -> None:
    """Tasks at STEADY_RATE, each due at its own time (a slow answer delays none after it)."""
    body = {"kind": "video2video", "video": "https://example.invalid/in.mp4", "prompt": "x"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def one(client: httpx.AsyncClient) -> None:
        try:
            ok = (await client.post("/v1/tasks", json=body)).status_code == 202
        except httpx.HTTPError:
            ok = False
        counts[0 if ok else 1] += 1

    async def drive() -> None:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            pending: set[asyncio.Task[None]] = set()
            start, i = time.monotonic(), 0
            while not stop.is_set():
                due = start + i / STEADY_RATE
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                task = asyncio.create_task(one(client))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
            await asyncio.gather(*pending)

    asyncio.run(drive())


def sample(port: int, db: Path | None, started: float) -> dict[str, float]:
    on_disk = 0.0
    if db is not None:  # the file and its WAL, as the disk sees them
        on_disk = sum(
            os.path.getsize(f"{db}{s}") for s in ("", "-wal") if Path(f"{db}{s}").exists()
        )
    store = metric(port, "relay_store_bytes").get("", 0.0)
    tasks = sum(metric(port, "relay_tasks").values())
    pruned = metric(port, "relay_pruned_total").get('{kind="tasks"}', 0.0)
    return {
        "t": round(time.monotonic() - started, 1),
        "bytes": on_disk or store,
        "store_bytes": store,
        "free_bytes": metric(port, "relay_store_free_bytes").get("", 0.0),
        "tasks": tasks,
        "pruned_tasks": pruned,
    }


# --- the table -----------------------------------------------------------------------------


def rows(r: dict[str, Any]) -> list[Row]:
    if "retention" not in r:
        return []
    ret = r["retention"]
    out: list[Row] = []
    for backend in ("sqlite", "postgres"):
        s = ret.get(f"steady_{backend}")
        if not s:
            continue
        out.append(
            (
                f"Store size at {s['rate']:.0f} tasks/s ({s['achieved_rate']:.0f} made),"
                f" {s['keep_seconds']:.0f} s retention, {backend} ({s['minutes']:g} min)",
                f"{s['middle_bytes'] / 1e6:.1f} MB (middle third) -> {s['last_bytes'] / 1e6:.1f} MB"
                f" (last third): {100 * s['growth']:+.1f} %",
                "flat (< +10 %)",
                verdict(s["growth"] < 0.10 and s["failed"] == 0),
            )
        )
    p = ret.get("prune")
    if p:
        out.append(
            (
                f"Callback p99 at {p['rate']}/s while {p['pruned_rows']:,.0f} rows are pruned",
                f"median window {p['p99_during_ms']:.1f} ms (worst {p['p99_during_max_ms']:.1f})"
                f" vs {p['p99_baseline_ms']:.1f} ms (worst {p['p99_baseline_max_ms']:.1f})"
                f" not pruning; pruned in {p['seconds']:.0f} s, file"
                f" {p['file_before'] / 1e6:.0f} -> {p['file_after'] / 1e6:.0f} MB"
                f" after {p['shrunk_seconds']:.0f} s",
                "no stall",
                verdict(p["p99_during_ms"] < 3 * p["p99_baseline_ms"] + 20 and not p["failed"]),
            )
        )
    c = ret.get("conversion")
    if c:
        out.append(
            (
                "One-time conversion to incremental vacuum (VACUUM at first start)",
                f"{c['bytes'] / 1e6:.0f} MB in {c['seconds']:.1f} s",
                "-",
                verdict(c["converted"]),
            )
        )
    return out


def failed(r: dict[str, Any]) -> int:
    ret = r.get("retention", {})
    steady_failed = sum(
        int(ret.get(f"steady_{b}", {}).get("failed", 0)) for b in ("sqlite", "postgres")
    )
    return int(ret.get("prune", {}).get("failed", 0)) + steady_failed
