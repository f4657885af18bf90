"""Every benchmark of the relay, on loopback, in one run: `bench/run` (or `bench/run --quick`).

Each stage starts what it measures as real processes: `receiver serve` (logging at warning,
SQLite with synchronous=FULL), a bare reference app, a fast sink, the CometAPI simulator,
and the load generator (wrk when installed, else bench/loadgen.py). A figure and its
reference are measured in the same run, interleaved, so their ratio holds on a busy machine.
Prints a table and writes every number as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import (
    ADMIN_TOKEN,
    BENCH,
    TEMPLATE,
    Child,
    cpu_seconds,
    metric,
    python_child,
    relay_env,
    relay_settings,
    rss_mb,
    start_relay,
)

from tests.harness import free_port

WRK_THREADS = 2
CONNECTIONS = 64
WARMUP_SECONDS = 1  # before each measured run: imports, caches and pools settle


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
            )
        return cls(quick=False, seconds=8, rounds=8, slice_seconds=3, latency_seconds=6)


@dataclass
class Bench:
    plan: Plan
    work: Path
    profile: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    wrk: str | None = shutil.which("wrk")

    # --- processes ---------------------------------------------------------------------------

    def child(self, name: str, args: list[str], ready_url: str) -> Child:
        proc = python_child(name, args, self.work, {})
        self.children.append(proc)
        proc.wait_http(ready_url)
        return proc

    @contextmanager
    def relay(self, name: str, db: Path, **settings: Any) -> Iterator[tuple[Child, int]]:
        port = free_port()
        relay = start_relay(self.work, name, relay_settings(db, port, **settings))
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

    def fresh_copy(self, source: Path, name: str) -> Path:
        """A private copy of a filled store: every run starts from the same state."""
        target = self.work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return target

    # --- load ------------------------------------------------------------------------------

    def closed_load(self, port: int, seconds: float, tag: str, offset: int = 0) -> dict[str, float]:
        """Closed loop at 64 connections: wrk with the Lua script, or the Python fallback."""
        pairs = self.work / "pairs.txt"
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
        got = self.loadgen(port, ["--connections", str(CONNECTIONS)], seconds, tag, offset=offset)
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
    ) -> dict[str, Any]:
        out = subprocess.run(
            [
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--url",
                f"http://127.0.0.1:{port}",
                "--pairs",
                str(self.work / "pairs.txt"),
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

    def ingest_run(self, db: Path, name: str, level: str = "warning") -> dict[str, Any]:
        """One relay on a fresh copy of `db`, loaded closed-loop; with its CPU per callback."""
        with self.relay(name, self.fresh_copy(db, name), level=level) as (relay, port):
            warm = self.closed_load(port, WARMUP_SECONDS, f"{name}-warm-up")
            got = self.timed_slice(relay, port, self.plan.seconds, name, int(warm["requests"]))
            got["rss_mb"] = round(rss_mb(relay.pid), 1)
            got["outcomes"] = metric(port, "relay_callbacks_total")
        return got

    def start_profile(self, relay: Child, seconds: float) -> list[subprocess.Popen[bytes]]:
        """py-spy on the relay's first ingest slice: every busy thread (wall), and only the
        thread holding the GIL (the Python work that competes for one core), as collapsed
        stacks."""
        if self.profile is None:
            return []
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.profile.mkdir(parents=True, exist_ok=True)
        argv = [spy, "record", "-p", str(relay.pid), "-r", "200", "--nonblocking"]
        argv += ["-d", f"{seconds:g}", "-f", "raw"]
        return [
            subprocess.Popen(
                [*argv, *extra, "-o", str(self.profile / f"ingest-{kind}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for kind, extra in (("wall", []), ("gil", ["--gil"]))
        ]

    def stop_profile(self, spies: list[subprocess.Popen[bytes]]) -> None:
        if not spies or self.profile is None:
            return
        for spy in spies:
            spy.wait(60)
        for kind in ("wall", "gil"):
            summary = profile_summary(self.profile / f"ingest-{kind}.txt")
            (self.profile / f"ingest-{kind}-summary.txt").write_text(summary)

    # --- stages ----------------------------------------------------------------------------

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
        marker = self.work / "prepared.json"
        if marker.exists() and json.loads(marker.read_text()) == fills:
            self.results["prepare_seconds"] = 0.0  # --workdir: filled by an earlier run
            return
        marker.unlink(missing_ok=True)
        procs = [
            subprocess.Popen([sys.executable, str(BENCH / "fill.py"), *args]) for args in fills
        ]
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"filling a store failed: {proc.args!r}")
        marker.write_text(json.dumps(fills))
        self.results["prepare_seconds"] = round(time.monotonic() - started, 1)

    def snapshot(self, stored: int) -> Path:
        return self.work / f"stored.db.{stored}"

    def store_group_commit(self) -> None:
        out = {}
        for concurrency in (1, CONNECTIONS):
            db = self.fresh_copy(self.snapshot(10_000), f"store-{concurrency}")
            argv = ["--db", str(db), "--pairs", str(self.work / "pairs.txt")]
            argv += [
                "--concurrency",
                str(concurrency),
                "--seconds",
                "2" if self.plan.quick else "3",
            ]
            got = subprocess.run(
                [sys.executable, str(BENCH / "storebench.py"), *argv],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            out[f"c{concurrency}"] = json.loads(got)
        self.results["store"] = out

    def ingest(self) -> None:
        """The relay against the bare app, both up for the whole stage (see `abba`)."""
        ref_port = free_port()
        ref = self.child(
            "ref",
            [str(BENCH / "servers.py"), "ref", str(ref_port)],
            f"http://127.0.0.1:{ref_port}/readyz",
        )
        name = "ingest-relay"
        seconds = self.plan.slice_seconds
        try:
            with self.relay(name, self.fresh_copy(self.snapshot(10_000), name)) as (relay, port):
                self.closed_load(ref_port, WARMUP_SECONDS, "ref-warm-up")

                def reference(i: int) -> dict[str, Any]:
                    return self.timed_slice(ref, ref_port, seconds, f"ref-{i}")

                refs, relays = self.abba(reference, self.relay_slices(relay, port, name))
                outcomes = metric(port, "relay_callbacks_total")
        finally:
            ref.stop()
            self.children.remove(ref)
        ratios = [b["rps"] / a["rps"] for a, b in zip(refs, relays, strict=True)]
        self.results["ingest"] = {
            "slice_seconds": seconds,
            "reference_runs": refs,
            "relay_runs": relays,
            "relay_outcomes": outcomes,
            "reference_rps": statistics.median(r["rps"] for r in refs),
            "relay_rps": statistics.median(r["rps"] for r in relays),
            "pair_ratios": [round(r, 3) for r in ratios],
            "ratio": round(statistics.median(ratios), 3),
        }

    def abba(
        self, first: Callable[[int], dict[str, Any]], second: Callable[[int], dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Two servers loaded in turn in short slices, in ABBA order (a, b, b, a, a, b...).
        This machine's speed drifts by a fifth within seconds: each pair of neighbouring
        slices sees the same machine, so a ratio is taken pair by pair, then the median."""
        a_runs: list[dict[str, Any]] = []
        b_runs: list[dict[str, Any]] = []
        for i in range(self.plan.rounds):
            turns = [(first, a_runs), (second, b_runs)]
            for run, runs in turns if i % 2 == 0 else turns[::-1]:
                runs.append(run(i))
        return a_runs, b_runs

    def relay_slices(self, relay: Child, port: int, name: str) -> Callable[[int], dict[str, Any]]:
        """Slice i of a relay's load, after a warm-up. Each slice goes on through the tasks
        where the last one stopped: every task gets its running, then its succeeded
        callback, as in production."""
        sent = int(self.closed_load(port, WARMUP_SECONDS, f"{name}-warm-up")["requests"])

        def run(i: int) -> dict[str, Any]:
            nonlocal sent
            seconds = self.plan.slice_seconds
            spy = self.start_profile(relay, seconds) if i == 0 and name == "ingest-relay" else []
            got = self.timed_slice(relay, port, seconds, f"{name}-{i}", sent)
            self.stop_profile(spy)
            # wrk's threads run a little apart and some requests were still in flight: the
            # margin keeps the next slice off tasks already moved on.
            sent += int(got["requests"]) + 4 * CONNECTIONS
            return got

        return run

    def timed_slice(
        self, server: Child, port: int, seconds: float, tag: str, offset: int = 0
    ) -> dict[str, Any]:
        """One closed-loop load run, with the server's CPU per request over it."""
        cpu0 = cpu_seconds(server.pid)
        got: dict[str, Any] = dict(self.closed_load(port, seconds, tag, offset))
        cpu = cpu_seconds(server.pid) - cpu0
        got["cpu_us_per_request"] = round(cpu / max(got["requests"], 1) * 1e6)
        return got

    def latency(self) -> None:
        """Open loop at half the relay's measured peak: p99 with no coordinated omission.

        Three runs, each on tasks not called before (every callback moves its task on);
        the verdict takes the median run, so one burst from a neighbour on a shared
        machine does not decide it alone. Every run is kept in the JSON.
        """
        rate = self.half_peak()
        name = "latency"
        runs = []
        count = round(rate * self.plan.latency_seconds)
        with self.relay(name, self.fresh_copy(self.snapshot(10_000), name)) as (_, port):
            for i in range(3):
                args = ["--rate", str(rate)]
                runs.append(
                    self.loadgen(
                        port, args, self.plan.latency_seconds, f"{name}-{i}", "running", i * count
                    )
                )
        middle = sorted(runs, key=lambda r: r["p99_ms"])[1]
        self.results["latency"] = {**middle, "target_rate": rate, "runs": runs}

    def half_peak(self) -> int:
        if "ingest" not in self.results:
            raise SystemExit("the latency and fan-out stages need the ingest stage's peak")
        peak: float = self.results["ingest"]["relay_rps"]
        return round(peak / 2)

    def info_level(self) -> None:
        """The default log level (one line per accepted callback) against `warning`."""
        store = self.snapshot(10_000)
        with (
            self.relay("quiet", self.fresh_copy(store, "quiet")) as quiet,
            self.relay("info", self.fresh_copy(store, "info"), level="info") as info,
        ):
            warning_runs, info_runs = self.abba(
                self.relay_slices(*quiet, "quiet"), self.relay_slices(*info, "info")
            )
        ratios = [b["rps"] / a["rps"] for a, b in zip(warning_runs, info_runs, strict=True)]
        self.results["ingest_info"] = {
            "warning_runs": warning_runs,
            "info_runs": info_runs,
            "rps": statistics.median(r["rps"] for r in info_runs),
            "ratio_to_warning": round(statistics.median(ratios), 3),
        }

    def growth(self) -> None:
        """Small to large and, in a full run, back again, so drift on a busy machine does
        not pass for growth; the median per size counts."""
        order = list(self.plan.stored)
        if not self.plan.quick:
            order += order[::-1]
        runs: dict[str, list[dict[str, Any]]] = {}
        for stored in order:
            got = self.ingest_run(self.snapshot(stored), f"growth-{stored}")
            runs.setdefault(str(stored), []).append(got)
        rps = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
        self.results["growth"] = {
            "runs": runs,
            "rps": rps,
            "flatness": round(min(rps.values()) / max(rps.values()), 3),
        }

    def memory(self) -> None:
        """RSS of a relay on the 100k store after a few ordinary requests."""
        stored = max(self.plan.stored)
        name = "memory"
        with self.relay(name, self.fresh_copy(self.snapshot(stored), name)) as (relay, port):
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
                listed = http.get("/v1/tasks", params={"limit": 100}).json()["tasks"]
                for task in listed[:10]:
                    http.get(f"/v1/tasks/{task['id']}")
                http.get("/v1/deliveries")
                counts = metric(port, "relay_tasks")
            self.loadgen(port, ["--connections", "8"], 1, name)
            with sqlite3.connect(self.work / f"{name}.db") as conn:
                tasks = conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
                events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            self.results["memory"] = {
                "rss_mb": round(rss_mb(relay.pid), 1),
                "tasks": tasks,
                "events": events,
                "tasks_by_state": counts,
            }

    def fanout(self) -> None:
        sink_ports = [free_port() for _ in range(max(self.plan.fanout_downstreams))]
        sink = self.child(
            "sink",
            [str(BENCH / "servers.py"), "sink", *map(str, sink_ports)],
            f"http://127.0.0.1:{sink_ports[0]}/",
        )
        sink_url = f"http://127.0.0.1:{sink_ports[0]}"
        try:
            drains = {}
            for k in self.plan.fanout_downstreams:
                drains[str(k)] = self.drain(k, sink_ports, sink_url)
            self.results["fanout"] = {"drain": drains}
            for worker in (False, True):
                self.sustained(sink_ports, sink_url, worker)
        finally:
            sink.stop()
            self.children.remove(sink)
        # CPU per event against downstreams on log-log axes: slope 1 is linear, above 1
        # each added downstream would cost more than the one before.
        points = [
            (math.log(int(k)), math.log(d["cpu_us_per_delivery"] * int(k)))
            for k, d in drains.items()
        ]
        self.results["fanout"]["cost_exponent"] = round(slope(points), 3)

    def drain(self, k: int, sink_ports: list[int], sink_url: str) -> dict[str, Any]:
        """A relay starting on an outbox of N events x k downstreams; time to empty it."""
        events = self.plan.fanout_deliveries // k
        expected = events * k
        urls = [f"http://127.0.0.1:{p}/hook" for p in sink_ports[:k]]
        httpx.get(f"{sink_url}/reset")
        name = f"fanout-{k}"
        db = self.fresh_copy(self.work / f"outbox-{k}.db", name)
        with self.relay(name, db, downstream_urls=urls) as (relay, _):
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

    def sustained(self, sink_ports: list[int], sink_url: str, worker: bool) -> None:
        """Terminal callbacks at the latency stage's rate, one downstream: does the outbox
        keep up? Sampled while the load runs, then the time to drain what is left. Run with
        the fan-out inside `receiver serve`, then in a `receiver deliver` worker beside it."""
        rate = self.half_peak()
        seconds = self.plan.latency_seconds * 2
        name = "sustained-worker" if worker else "sustained"
        db = self.fresh_copy(self.snapshot(10_000), name)
        urls = [f"http://127.0.0.1:{sink_ports[0]}/hook"]
        httpx.get(f"{sink_url}/reset")
        delivery = {"in_process": False, "tick_seconds": 0.1} if worker else None
        with (
            self.relay(name, db, downstream_urls=urls, delivery=delivery) as (_, port),
            self.worker(name, port, worker),
        ):
            started = time.monotonic()
            argv = ["--url", f"http://127.0.0.1:{port}", "--pairs", str(self.work / "pairs.txt")]
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
            drain = time.monotonic() - ended
        self.results["fanout"]["sustained_worker" if worker else "sustained"] = {
            "rate": rate,
            "seconds": seconds,
            "sent": got["sent"],
            "accepted": got["ok"],
            "delivered": final["total"],
            "max_backlog": round(backlog),
            "delivered_per_s_during_load": round(during / (ended - started), 1),
            "drain_after_load_s": round(drain, 2),
            "callback_p99_ms": got["p99_ms"],
        }

    def poller(self) -> None:
        """CPU of a relay with 10,000 open tasks: none due, then due at the steady rate."""
        p = self.plan
        sim_port = free_port()
        sim = self.child(
            "sim",
            [str(BENCH / "servers.py"), "sim", str(sim_port), str(p.poll_tasks)],
            f"http://127.0.0.1:{sim_port}/_sim/stats",
        )
        sim_url = f"http://127.0.0.1:{sim_port}"
        # Default backoff, capped so that every task is polled once per 120 s: the
        # default max interval, i.e. the steady state of 10,000 long-running tasks.
        polling = {"interval_seconds": 120.0, "max_interval_seconds": 120.0}
        name = "poller"
        db = self.fresh_copy(self.work / "poll.db", name)
        try:
            with self.relay(name, db, sim_url=sim_url, polling=polling) as (relay, _):
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
            self.children.remove(sim)
        idle_share = idle / p.poll_idle_seconds
        per_poll = max(active - idle_share * p.poll_active_seconds, 0) / max(polls, 1)
        self.results["poller"] = {
            "open_tasks": p.poll_tasks,
            "idle_cpu_percent": round(idle_share * 100, 2),
            "polls": polls,
            "polls_per_s": round(polls / p.poll_active_seconds, 1),
            "active_cpu_percent": round(active / p.poll_active_seconds * 100, 2),
            "cpu_ms_per_poll": round(per_poll * 1000, 3),
        }


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


def profile_summary(path: Path, top: int = 25) -> str:
    """Self and inclusive shares per frame from py-spy's raw (collapsed) output."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + n
    lines = [f"{total} samples", "", "self:"]
    lines += [f"{100 * v / total:5.1f}%  {k}" for k, v in sorted(own.items(), key=_by_count)][:top]
    lines += ["", "inclusive (receiver code):"]
    ours = sorted(((k, v) for k, v in incl.items() if "receiver/" in k), key=_by_count)
    lines += [f"{100 * v / total:5.1f}%  {k}" for k, v in ours[:top]]
    return "\n".join(lines) + "\n"


def _by_count(item: tuple[str, int]) -> int:
    return -item[1]


# --- report ----------------------------------------------------------------------------------


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, verdict) for the table."""
    out: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    if "ingest" in r:
        i = r["ingest"]
        out.append(
            (
                f"Ingest, {CONNECTIONS} connections (callbacks/s, committed)",
                f"{i['relay_rps']:.0f} = {100 * i['ratio']:.0f}% of bare app "
                f"{i['reference_rps']:.0f} (median of {len(i['pair_ratios'])} pairs, "
                f"{100 * min(i['pair_ratios']):.0f}-{100 * max(i['pair_ratios']):.0f}%)",
                ">= 50% of bare app",
                verdict(i["ratio"] >= 0.5),
            )
        )
        bare = statistics.median(x["cpu_us_per_request"] for x in i["reference_runs"])
        own = statistics.median(x["cpu_us_per_request"] for x in i["relay_runs"])
        p50 = statistics.median(x["p50_ms"] for x in i["relay_runs"])
        p99 = statistics.median(x["p99_ms"] for x in i["relay_runs"])
        out.append(
            (
                f"  latency at {CONNECTIONS} connections (saturated)",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; CPU {own:.0f} us/request "
                f"(bare app {bare:.0f})",
                "-",
                "",
            )
        )
    if "latency" in r:
        lat = r["latency"]
        out.append(
            (
                f"Latency at half peak, open loop {lat['target_rate']}/s",
                f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
                f"max {lat['max_ms']:.0f} ms",
                "p99 < 20 ms",
                verdict(lat["p99_ms"] < 20 and lat["ok"] == lat["sent"]),
            )
        )
    if "ingest_info" in r:
        info = r["ingest_info"]
        out.append(
            (
                "Ingest with logging at info (the default)",
                f"{info['rps']:.0f}/s = {100 * info['ratio_to_warning']:.0f}% of warning level"
                f" (median of {len(info['info_runs'])} pairs)",
                "-",
                "",
            )
        )
    if "store" in r:
        st = r["store"]
        one, many = st["c1"], st[f"c{CONNECTIONS}"]
        out.append(
            (
                "Store alone, synchronous=FULL (records/s)",
                f"{one['records_per_s']:.0f} at 1 caller, {many['records_per_s']:.0f} at "
                f"{CONNECTIONS} ({many['records_per_commit']:.0f} per fsync)",
                "-",
                "",
            )
        )
    if "fanout" in r:
        f = r["fanout"]
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
        for key, where in (("sustained", "in serve"), ("sustained_worker", "own worker")):
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
    if "poller" in r:
        pl = r["poller"]
        out.append(
            (
                f"Poller, {pl['open_tasks']} open tasks none due (CPU of one core)",
                f"{pl['idle_cpu_percent']:.1f}%",
                "< 5%",
                verdict(pl["idle_cpu_percent"] < 5),
            )
        )
        out.append(
            (
                f"  polling {pl['polls_per_s']:.0f}/s (every task each 120 s)",
                f"{pl['active_cpu_percent']:.1f}% CPU, {pl['cpu_ms_per_poll']:.2f} ms per poll",
                "-",
                "",
            )
        )
    if "memory" in r:
        m = r["memory"]
        out.append(
            (
                f"Memory, {m['tasks']:,} tasks / {m['events']:,} events stored (RSS)",
                f"{m['rss_mb']:.0f} MB",
                "< 150 MB",
                verdict(m["rss_mb"] < 150),
            )
        )
    if "growth" in r:
        g = r["growth"]
        rates = ", ".join(f"{int(k) // 1000}k: {v:.0f}" for k, v in g["rps"].items())
        out.append(
            (
                "Ingest vs stored tasks (callbacks/s)",
                f"{rates} (min/max {g['flatness']:.2f})",
                "flat (>= 0.8)",
                verdict(g["flatness"] >= 0.8),
            )
        )
    failed = failures(r)
    out.append(("Requests failed or refused, all runs", str(failed), "0", verdict(failed == 0)))
    return out


def failures(r: dict[str, Any]) -> int:
    """Socket errors, timeouts and non-2xx answers over every load run of the relay."""
    closed = [*r.get("ingest", {}).get("relay_runs", [])]
    closed += [run for runs in r.get("growth", {}).get("runs", {}).values() for run in runs]
    info = r.get("ingest_info", {})
    closed += [*info.get("warning_runs", []), *info.get("info_runs", [])]
    opened = r.get("latency", {}).get("runs", [])
    failed = sum(int(run["errors"]) for run in closed)
    failed += sum(int(run["sent"]) - int(run["ok"]) for run in opened)
    for key in ("sustained", "sustained_worker"):
        sustained = r.get("fanout", {}).get(key)
        if sustained:
            failed += int(sustained["sent"]) - int(sustained["accepted"])
    return failed


def table(r: dict[str, Any]) -> str:
    body = rows(r)
    head = ("Figure", "Measured", "Target", "")
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    rule = "-+-".join("-" * w for w in widths)
    top = " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))
    return "\n".join([top, rule, *lines])


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or None,
        "load_generator": "wrk" if shutil.which("wrk") else "bench/loadgen.py",
    }


STAGES = ("store", "ingest", "latency", "info", "growth", "memory", "fanout", "poller")


def main() -> None:
    p = argparse.ArgumentParser(description="Run every benchmark of the relay on loopback.")
    p.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    p.add_argument("--out", type=Path, default=BENCH / "results.json", help="JSON results")
    p.add_argument("--profile", type=Path, help="py-spy the relay during ingest, into DIR")
    p.add_argument("--only", default=",".join(STAGES), help="comma list of stages")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, stores)")
    p.add_argument(
        "--workdir",
        type=Path,
        help="work (and keep) here; stores filled by an earlier run are reused",
    )
    args = p.parse_args()
    stages = [s for s in args.only.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        p.error(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="relay-bench-"))
    bench = Bench(Plan.make(args.quick), work, args.profile)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    bench.results["machine"] = machine()
    bench.results["quick"] = args.quick
    try:
        log(f"preparing stores in {bench.work}")
        bench.prepare()
        steps: dict[str, Callable[[], None]] = {
            "store": bench.store_group_commit,
            "ingest": bench.ingest,
            "latency": bench.latency,
            "info": bench.info_level,
            "growth": bench.growth,
            "memory": bench.memory,
            "fanout": bench.fanout,
            "poller": bench.poller,
        }
        for stage in STAGES:
            if stage in stages:
                # Filling stores leaves hundreds of MB for the kernel to write back; only
                # the relay fsyncs, so that writeback would be charged to the relay alone.
                os.sync()
                log(f"{stage} ...")
                steps[stage]()
    finally:
        for child in bench.children:
            child.stop()
        if not (args.keep or args.workdir):
            shutil.rmtree(bench.work, ignore_errors=True)
    bench.results["seconds"] = round(time.monotonic() - started, 1)
    bench.results["machine"]["load_average_after"] = os.getloadavg()
    bench.results["table"] = [
        dict(zip(("figure", "measured", "target", "verdict"), row, strict=True))
        for row in rows(bench.results)
    ]
    args.out.write_text(json.dumps(bench.results, indent=2) + "\n")
    print()
    print(table(bench.results))
    print()
    print(f"{bench.results['seconds']:.0f} s; results in {args.out}")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    main()
