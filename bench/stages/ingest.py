"""Ingest: the relay against a bare app, in interleaved ABBA slices, at 64 connections.

`abba` and `relay_slices` also serve the info stage; --profile records the first relay slice.
With --against DIR, an older checkout's relay is up too and takes its slice in each round
(bare, this, that; then that, this, bare; ...), on a store its own code filled.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import BENCH, Child, metric
from harness import CONNECTIONS, WARMUP_SECONDS, Bench, Build, Row, verdict

from tests.testkit import free_port

Slice = Callable[[int], dict[str, Any]]


def run(bench: Bench) -> None:
    """The relay against the bare app, both up for the whole stage (see `abba`)."""
    ref_port = free_port()
    ref = bench.child(
        "ref",
        [str(BENCH / "servers.py"), "ref", str(ref_port)],
        f"http://127.0.0.1:{ref_port}/readyz",
    )
    name = "ingest-relay"
    seconds = bench.plan.slice_seconds
    theirs: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            db = bench.fresh_copy(bench.snapshot(10_000), name)
            relay, port = stack.enter_context(bench.relay(name, db))
            bench.closed_load(ref_port, WARMUP_SECONDS, "ref-warm-up")

            def reference(i: int) -> dict[str, Any]:
                return bench.timed_slice(ref, ref_port, seconds, f"ref-{i}")

            slices = [reference, relay_slices(bench, relay, port, name)]
            if bench.against is not None:
                slices.append(against_slices(bench, stack, bench.against))
            refs, relays, *rest = in_turn(bench, slices)
            theirs = rest[0] if rest else []
            outcomes = metric(port, "relay_callbacks_total")
    finally:
        ref.stop()
        bench.children.remove(ref)
    ratios = [b["rps"] / a["rps"] for a, b in zip(refs, relays, strict=True)]
    bench.results["ingest"] = {
        "slice_seconds": seconds,
        "reference_runs": refs,
        "relay_runs": relays,
        "relay_outcomes": outcomes,
        "reference_rps": statistics.median(r["rps"] for r in refs),
        "relay_rps": statistics.median(r["rps"] for r in relays),
        "pair_ratios": [round(r, 3) for r in ratios],
        "ratio": round(statistics.median(ratios), 3),
    }
    if bench.against is not None:
        pairs = list(zip(relays, theirs, strict=True))
        versus = [a["cpu_us_per_request"] / b["cpu_us_per_request"] for a, b in pairs]
        bench.results["ingest"]["against"] = {
            "build": bench.against.name,
            "relay_runs": theirs,
            "relay_rps": statistics.median(r["rps"] for r in theirs),
            "ratio": round(
                statistics.median(b["rps"] / a["rps"] for a, b in zip(refs, theirs, strict=True)),
                3,
            ),
            "cpu_ratios": [round(r, 3) for r in versus],
        }


def against_slices(bench: Bench, stack: ExitStack, build: Build) -> Slice:
    name = "ingest-against"
    db = bench.fresh_copy(build.snapshot(10_000), name)
    relay, port = stack.enter_context(bench.relay(name, db, build))
    return relay_slices(bench, relay, port, name, build.pairs)


def in_turn(bench: Bench, slices: list[Slice]) -> list[list[dict[str, Any]]]:
    """Servers loaded in turn in short slices, the order reversed every round (a, b, b,
    a, ...): each neighbouring pair of slices sees the same machine."""
    runs: list[list[dict[str, Any]]] = [[] for _ in slices]
    for i in range(bench.plan.rounds):
        order = list(zip(slices, runs, strict=True))
        for one, got in order if i % 2 == 0 else order[::-1]:
            got.append(one(i))
    return runs


def abba(
    bench: Bench, first: Slice, second: Slice
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two servers loaded in turn in short slices, in ABBA order (a, b, b, a, a, b...).
    This machine's speed drifts by a fifth within seconds: each pair of neighbouring
    slices sees the same machine, so a ratio is taken pair by pair, then the median."""
    a_runs, b_runs = in_turn(bench, [first, second])
    return a_runs, b_runs


def relay_slices(
    bench: Bench, relay: Child, port: int, name: str, pairs: Path | None = None
) -> Slice:
    """Slice i of a relay's load, after a warm-up. Each slice goes on through the tasks
    where the last one stopped: every task gets its running, then its succeeded
    callback, as in production. `pairs`: another build's tasks (--against)."""
    warm = bench.closed_load(port, WARMUP_SECONDS, f"{name}-warm-up", pairs=pairs)
    sent = int(warm["requests"])

    def one(i: int) -> dict[str, Any]:
        nonlocal sent
        seconds = bench.plan.slice_seconds
        spy = start_profile(bench, relay, seconds) if i == 0 and name == "ingest-relay" else []
        got = bench.timed_slice(relay, port, seconds, f"{name}-{i}", sent, pairs)
        stop_profile(bench, spy)
        # wrk's threads run a little apart and some requests were still in flight: the
        # margin keeps the next slice off tasks already moved on.
        sent += int(got["requests"]) + 4 * CONNECTIONS
        return got

    return one


def start_profile(
    bench: Bench, relay: Child, seconds: float, name: str = "ingest"
) -> list[subprocess.Popen[bytes]]:
    """py-spy on the relay's first ingest slice (or another stage's run, as `name`): every
    busy thread (wall), and only the thread holding the GIL (the Python work that competes
    for one core), as collapsed stacks."""
    if bench.profile is None:
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    bench.profile.mkdir(parents=True, exist_ok=True)
    argv = [spy, "record", "-p", str(relay.pid), "-r", "200", "--nonblocking"]
    argv += ["-d", f"{seconds:g}", "-f", "raw"]
    return [
        subprocess.Popen(
            [*argv, *extra, "-o", str(bench.profile / f"{name}-{kind}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for kind, extra in (("wall", []), ("gil", ["--gil"]))
    ]


def stop_profile(bench: Bench, spies: list[subprocess.Popen[bytes]], name: str = "ingest") -> None:
    if not spies or bench.profile is None:
        return
    for spy in spies:
        spy.wait(60)
    for kind in ("wall", "gil"):
        summary = profile_summary(bench.profile / f"{name}-{kind}.txt")
        (bench.profile / f"{name}-{kind}-summary.txt").write_text(summary)


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


def rows(r: dict[str, Any]) -> list[Row]:
    if "ingest" not in r:
        return []
    i = r["ingest"]
    bare = statistics.median(x["cpu_us_per_request"] for x in i["reference_runs"])
    own = statistics.median(x["cpu_us_per_request"] for x in i["relay_runs"])
    p50 = statistics.median(x["p50_ms"] for x in i["relay_runs"])
    p99 = statistics.median(x["p99_ms"] for x in i["relay_runs"])
    return [
        (
            f"Ingest, {CONNECTIONS} connections (callbacks/s, committed)",
            f"{i['relay_rps']:.0f} = {100 * i['ratio']:.0f}% of bare app "
            f"{i['reference_rps']:.0f} (median of {len(i['pair_ratios'])} pairs, "
            f"{100 * min(i['pair_ratios']):.0f}-{100 * max(i['pair_ratios']):.0f}%)",
            ">= 50% of bare app",
            verdict(i["ratio"] >= 0.5),
        ),
        (
            f"  latency at {CONNECTIONS} connections (saturated)",
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; CPU {own:.0f} us/request (bare app {bare:.0f})",
            "-",
            "",
        ),
        *against_rows(i),
    ]


def against_rows(i: dict[str, Any]) -> list[Row]:
    if "against" not in i:
        return []
    a = i["against"]
    own = statistics.median(x["cpu_us_per_request"] for x in a["relay_runs"])
    cpu = a["cpu_ratios"]
    return [
        (
            f"  paired with {a['build']} (--against): its callbacks/s, CPU per request",
            f"{a['relay_rps']:.0f} = {100 * a['ratio']:.0f}% of bare app; {own:.0f} us; "
            f"this / that CPU {100 * statistics.median(cpu):.0f}% "
            f"({100 * min(cpu):.0f}-{100 * max(cpu):.0f}%)",
            "<= 100%",
            verdict(statistics.median(cpu) <= 1),
        )
    ]


def failed(r: dict[str, Any]) -> int:
    i = r.get("ingest", {})
    runs = [*i.get("relay_runs", []), *i.get("against", {}).get("relay_runs", [])]
    return sum(int(run["errors"]) for run in runs)
