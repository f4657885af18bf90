"""What every stage runs on: the plan, the processes it starts, closed- and open-loop load.

A stage is a module under bench/stages/ with `run(bench)`, which fills `bench.results`,
`rows(results)`, its lines of the table, and, when it loads the relay's callback endpoint,
`failed(results)`, its count for the failures row.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    TEMPLATE,
    Child,
    cpu_seconds,
    own_path,
    python_child,
    relay_env,
    relay_settings,
    start_relay,
)

from tests.testkit import free_port

WRK_THREADS = 2
CONNECTIONS = 64
WARMUP_SECONDS = 1  # before each measured run: imports, caches and pools settle

Row = tuple[str, str, str, str]  # figure, measured, target, verdict


@dataclass
class Plan:
    """Sizes and durations; --quick shrinks the durations, never what is measured."""

    quick: bool
    seconds: float  # one closed-loop load run
    rounds: int  # reference/relay slice pairs for the ingest ratio
    slice_seconds: float  # one ingest slice
    latency_seconds: float  # one of three open-loop runs
    stored: tuple[int, ...] = (1_000, 10_000, 100_000)
    open_tasks: int = 50_000  # callback targets: a run never exhausts their first two states
    poll_tasks: int = 10_000
    poll_idle_seconds: float = 10
    poll_active_seconds: float = 20
    fanout_deliveries: int = 6_000
    fanout_downstreams: tuple[int, ...] = (1, 2, 5, 10)
    callback_tasks: int = 200

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                seconds=3,
                rounds=2,
                slice_seconds=2,
                latency_seconds=3,
                poll_idle_seconds=4,
                poll_active_seconds=6,
                fanout_deliveries=3_000,
                fanout_downstreams=(1, 10),
                callback_tasks=60,
            )
        return cls(quick=False, seconds=8, rounds=8, slice_seconds=3, latency_seconds=6)


@dataclass(frozen=True)
class Build:
    """A relay to load: this checkout's, or with --against an older checkout's, run by its
    own interpreter on a store filled by its own bench/fill.py (in `work`), so that each
    build starts from what its own code writes."""

    name: str
    root: Path  # the checkout
    python: str
    work: Path

    @property
    def pairs(self) -> Path:
        """The `path upstream_id` lines of this build's open tasks."""
        return self.work / "pairs.txt"

    def snapshot(self, stored: int) -> Path:
        return self.work / f"stored.db.{stored}"


def for_build(build: Build | None, settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` as `build`'s config reads them: a build older than `server.metrics_listen`
    (a41becd) served /metrics on its public port behind the token already."""
    if build is None:
        return settings
    config = build.root / "receiver" / "config"
    if not any("metrics_listen" in f.read_text() for f in config.rglob("*.py")):
        for key in ("metrics_listen", "metrics_public"):
            settings["server"].pop(key, None)
    return settings


def against_build(checkout: Path, work: Path) -> Build:
    """An older checkout (a git worktree with its own .venv, e.g. made by
    `git worktree add ../old <commit>`) as the baseline the stages pair this build with."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"--against: {python} missing; make the checkout's venv first")
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=checkout
    ).stdout.strip()
    return Build(head or checkout.name, checkout, str(python), work / "against")


@dataclass
class Bench:
    plan: Plan
    work: Path
    profile: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    wrk: str | None = shutil.which("wrk")
    _upstream: str | None = None  # the simulator the relays poll, started on first use
    against: Build | None = None  # --against: the older build paired with this one

    @property
    def this(self) -> Build:
        return Build("this", BENCH.parent, sys.executable, self.work)

    # --- stores ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fill every store the stages use, in parallel helper processes."""
        p = self.plan
        started = time.monotonic()
        fills = [
            [
                "--db",
                str(self.work / "stored.db"),
                "--open",
                str(p.open_tasks),
                "--pairs",
                str(self.work / "pairs.txt"),
                "--stored",
                str(max(p.stored)),
                "--snapshots",
                ",".join(str(n) for n in p.stored),
            ],
            ["--db", str(self.work / "poll.db"), "--due", str(p.poll_tasks)],
        ]
        for k in p.fanout_downstreams:
            events = p.fanout_deliveries // k
            db = str(self.work / f"outbox-{k}.db")
            fills.append(["--db", db, "--outbox", str(events), "--downstreams", str(k)])
        runs = [[sys.executable, str(BENCH / "fill.py"), *args] for args in fills]
        if self.against is not None:
            # The baseline's own filler: its store is what its own code writes.
            a = self.against
            a.work.mkdir(exist_ok=True)
            filler = a.root / "bench" / "fill.py"
            stored = ["--db", str(a.work / "stored.db"), "--pairs", str(a.pairs)]
            stored += ["--open", str(p.open_tasks), "--stored", "10000", "--snapshots", "10000"]
            runs.append([a.python, str(filler), *stored])
        marker = self.work / "prepared.json"
        if marker.exists() and json.loads(marker.read_text()) == runs:
            self.results["prepare_seconds"] = 0.0  # --workdir: filled by an earlier run
            return
        marker.unlink(missing_ok=True)
        procs = [subprocess.Popen(argv, env={**os.environ, **own_path(argv[0])}) for argv in runs]
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"filling a store failed: {proc.args!r}")
        if self.against is not None:
            sent_out_of_queue(self.against.snapshot(10_000))
        marker.write_text(json.dumps(runs))
        self.results["prepare_seconds"] = round(time.monotonic() - started, 1)

    def snapshot(self, stored: int) -> Path:
        return self.work / f"stored.db.{stored}"

    def fresh_copy(self, source: Path, name: str) -> Path:
        """A private copy of a filled store: every run starts from the same state."""
        target = self.work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return target

    # --- processes ---------------------------------------------------------------------------

    def child(self, name: str, args: list[str], ready_url: str) -> Child:
        proc = python_child(name, args, self.work, {})
        self.children.append(proc)
        proc.wait_http(ready_url)
        return proc

    def upstream(self) -> str:
        """CometAPI as the callbacks' tasks see it: each one done, with the video the
        callbacks name, so that the poll a callback brings confirms it (the default path:
        one upstream call per callback, at most)."""
        if self._upstream is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            args = [str(BENCH / "servers.py"), "done", str(port), str(self.plan.open_tasks)]
            self.child("upstream", args, f"{url}/_sim/stats")
            self._upstream = url
        return self._upstream

    @contextmanager
    def relay(
        self, name: str, db: Path, build: Build | None = None, **settings: Any
    ) -> Iterator[tuple[Child, int]]:
        """`receiver serve` of this checkout, or of `build` (--against)."""
        if "sim_url" not in settings:
            settings["sim_url"] = self.upstream()
        port = free_port()
        python = (build or self.this).python
        made = for_build(build, relay_settings(db, port, **settings))
        relay = start_relay(self.work, name, made, python)
        self.children.append(relay)
        try:
            yield relay, port
        finally:
            relay.stop()
            self.children.remove(relay)

    @contextmanager
    def worker(self, name: str, port: int, wanted: bool) -> Iterator[None]:
        """`receiver deliver` on relay `name`'s config, when `wanted`."""
        if not wanted:
            yield
            return
        config = str(self.work / f"{name}.toml")
        worker = python_child(
            f"{name}-deliver",
            ["-m", "receiver", "deliver", "--config", config],
            self.work,
            relay_env(port),
        )
        self.children.append(worker)
        try:
            yield
        finally:
            worker.stop()
            self.children.remove(worker)

    # --- load ------------------------------------------------------------------------------

    def closed_load(
        self, port: int, seconds: float, tag: str, offset: int = 0, pairs: Path | None = None
    ) -> dict[str, float]:
        """Closed loop at 64 connections: wrk with the Lua script, or the Python fallback.
        `pairs`: another build's open tasks (--against)."""
        pairs = pairs or self.work / "pairs.txt"
        if self.wrk:
            env = {
                **os.environ,
                "BENCH_PAIRS": str(pairs),
                "BENCH_TEMPLATE": TEMPLATE,
                "BENCH_THREADS": str(WRK_THREADS),
                "BENCH_TAG": tag,
                "BENCH_OFFSET": str(offset),
            }
            out = subprocess.run(
                [
                    self.wrk,
                    f"-t{WRK_THREADS}",
                    f"-c{CONNECTIONS}",
                    f"-d{seconds:g}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(BENCH / "callback.lua"),
                    f"http://127.0.0.1:{port}",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("BENCH "))
            raw = json.loads(line[6:])
            errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
            return {
                "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
                "requests": raw["requests"],
                "errors": errors,
                "p50_ms": raw["p50_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
            }
        args = ["--connections", str(CONNECTIONS)]
        got = self.loadgen(port, args, seconds, tag, offset=offset, pairs=pairs)
        return {
            "rps": got["rate"],
            "requests": got["completed"],
            "errors": got["errors"] + got["completed"] - got["ok"],
            "p50_ms": got["p50_ms"],
            "p99_ms": got["p99_ms"],
        }

    def loadgen(
        self,
        port: int,
        args: list[str],
        seconds: float,
        tag: str,
        first: str = "running",
        offset: int = 0,
        pairs: Path | None = None,
    ) -> dict[str, Any]:
        out = subprocess.run(
            [
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--url",
                f"http://127.0.0.1:{port}",
                "--pairs",
                str(pairs or self.work / "pairs.txt"),
                "--seconds",
                f"{seconds:g}",
                "--tag",
                tag,
                "--first-state",
                first,
                "--offset",
                str(offset),
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def timed_slice(
        self,
        server: Child,
        port: int,
        seconds: float,
        tag: str,
        offset: int = 0,
        pairs: Path | None = None,
    ) -> dict[str, Any]:
        """One closed-loop load run, with the server's CPU per request over it."""
        cpu0 = cpu_seconds(server.pid)
        got: dict[str, Any] = dict(self.closed_load(port, seconds, tag, offset, pairs))
        cpu = cpu_seconds(server.pid) - cpu0
        got["cpu_us_per_request"] = round(cpu / max(got["requests"], 1) * 1e6)
        return got

    def half_peak(self) -> int:
        if "ingest" not in self.results:
            raise SystemExit("the latency and fan-out stages need the ingest stage's peak")
        peak: float = self.results["ingest"]["relay_rps"]
        return round(peak / 2)


def sent_out_of_queue(db: Path) -> None:
    """An older build's filler left its open tasks waiting in the submit queue though
    CometAPI's id is bound (this build's takes them out, as the relay's send does): the
    same store state for both, so neither relay spends the run emptying that queue."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(
            "UPDATE tasks SET submit_due_at = NULL, submit_count = submit_count + 1"
            " WHERE submit_due_at IS NOT NULL AND upstream_task_id IS NOT NULL"
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def wait_until(
    fetch: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = fetch()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y on x."""
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def cpu_window(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
