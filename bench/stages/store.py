"""Group commit: the store alone, no HTTP, at one caller and at the load's connections."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from common import BENCH
from harness import CONNECTIONS, Bench, Row


def run(bench: Bench) -> None:
    out = {}
    for concurrency in (1, CONNECTIONS):
        db = bench.fresh_copy(bench.snapshot(10_000), f"store-{concurrency}")
        argv = ["--db", str(db), "--pairs", str(bench.work / "pairs.txt")]
        argv += [
            "--concurrency",
            str(concurrency),
            "--seconds",
            "2" if bench.plan.quick else "3",
        ]
        got = subprocess.run(
            [sys.executable, str(BENCH / "storebench.py"), *argv],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out[f"c{concurrency}"] = json.loads(got)
    bench.results["store"] = out


def rows(r: dict[str, Any]) -> list[Row]:
    if "store" not in r:
        return []
    st = r["store"]
    one, many = st["c1"], st[f"c{CONNECTIONS}"]
    return [
        (
            "Store alone, synchronous=FULL (records/s)",
            f"{one['records_per_s']:.0f} at 1 caller, {many['records_per_s']:.0f} at "
            f"{CONNECTIONS} ({many['records_per_commit']:.0f} per fsync)",
            "-",
            "",
        )
    ]
