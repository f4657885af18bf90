"""Every benchmark of the relay, on loopback, in one run: `bench/run` (or `bench/run --quick`).

Each stage starts what it measures as real processes: `receiver serve` (logging at warning,
SQLite with synchronous=FULL), a bare reference app, a fast sink, the CometAPI simulator,
and the load generator (wrk when installed, else bench/loadgen.py). A figure and its
reference are measured in the same run, interleaved, so their ratio holds on a busy machine.
Prints a table and writes every number as JSON.

Each stage lives in bench/stages/<name>.py; the shared harness in bench/harness.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH
from harness import Bench, Plan, Row, against_build, log, verdict
from stages import (
    apps,
    budget,
    callback,
    cheap,
    cli,
    endtoend,
    fairturns,
    fanout,
    fanshaping,
    growth,
    info,
    ingest,
    kafka,
    latency,
    media,
    memory,
    ordering,
    poller,
    polllag,
    pull,
    queue,
    replicas,
    retention,
    revocation,
    runway_api,
    shaping,
    start,
    store,
)

# Run order, the keys of --only. Latency and fan-out load at half the ingest stage's peak.
STAGES: dict[str, Callable[[Bench], None]] = {
    "store": store.run,
    "ingest": ingest.run,
    "latency": latency.run,
    "info": info.run,
    "growth": growth.run,
    "memory": memory.run,
    "fanout": fanout.run,
    "poller": poller.run,
    "callback": callback.run,
    "media": media.run,
    "queue": queue.run,
    "retention": retention.run,
    "cheap": cheap.run,
    "endtoend": endtoend.run,
    "replicas": replicas.run,
    "polllag": polllag.run,
    "revocation": revocation.run,
    "shaping": shaping.run,
    "fanshaping": fanshaping.run,
    "ordering": ordering.run,
    "runway_api": runway_api.run,
    "budget": budget.run,
    "fairturns": fairturns.run,
    "cli": cli.run,
    "kafka": kafka.run,
    "pull": pull.run,
    "start": start.run,
    "apps": apps.run,
}

# Stages that start from empty stores of their own: alone, they need no filled ones.
OWN_STORES = {
    "queue",
    "polllag",
    "revocation",
    "shaping",
    "fanshaping",
    "ordering",
    "runway_api",
    "budget",
    "fairturns",  # none at all
    "cli",  # none at all
    "kafka",  # none at all
    "pull",
    "start",  # fresh SQLite files of its own
    "apps",  # fresh stores of its own, SQLite and PostgreSQL
}

# Table order: the headline figures first.
ROWS: tuple[Callable[[dict[str, Any]], list[Row]], ...] = (
    endtoend.rows,
    replicas.rows,
    revocation.rows,
    ingest.rows,
    latency.rows,
    info.rows,
    store.rows,
    fanout.rows,
    shaping.rows,
    fanshaping.rows,
    ordering.rows,
    budget.rows,
    fairturns.rows,
    runway_api.rows,
    poller.rows,
    polllag.rows,
    memory.rows,
    growth.rows,
    callback.rows,
    media.rows,
    queue.rows,
    retention.rows,
    cheap.rows,
    cli.rows,
    kafka.rows,
    pull.rows,
    start.rows,
    apps.rows,
)

# The stages that load the relay's callback endpoint, counted in the failures row.
FAILED: tuple[Callable[[dict[str, Any]], int], ...] = (
    ingest.failed,
    growth.failed,
    info.failed,
    latency.failed,
    fanout.failed,
    retention.failed,
    cheap.failed,
    endtoend.failed,
    replicas.failed,
)


def rows(r: dict[str, Any]) -> list[Row]:
    """(figure, measured, target, verdict) for the table."""
    out = [row for stage_rows in ROWS for row in stage_rows(r)]
    failed = failures(r)
    out.append(("Requests failed or refused, all runs", str(failed), "0", verdict(failed == 0)))
    return out


def failures(r: dict[str, Any]) -> int:
    """Socket errors, timeouts and non-2xx answers over every load run of the relay."""
    return sum(count(r) for count in FAILED)


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
    p.add_argument(
        "--against",
        type=Path,
        help="an older checkout with its own .venv (git worktree add DIR COMMIT): "
        "ingest and endtoend load its relay too, paired with this one in the same run",
    )
    p.add_argument(
        "--rounds", type=int, help="ingest slice pairs, and endtoend rounds with --against"
    )
    args = p.parse_args()
    stages = [s for s in args.only.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        p.error(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="relay-bench-"))
    plan = Plan.make(args.quick)
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    bench = Bench(plan, work, args.profile)
    if args.against:
        bench.against = against_build(args.against.resolve(), work)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    bench.results["machine"] = machine()
    bench.results["quick"] = args.quick
    try:
        if set(stages) - OWN_STORES:
            log(f"preparing stores in {bench.work}")
            bench.prepare()
        for stage, run in STAGES.items():
            if stage in stages:
                # Filling stores leaves hundreds of MB for the kernel to write back; only
                # the relay fsyncs, so that writeback would be charged to the relay alone.
                os.sync()
                log(f"{stage} ...")
                run(bench)
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


if __name__ == "__main__":
    main()
