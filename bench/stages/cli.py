"""The command line's start: the CPU (user + system) of `receiver --help` and of every
command's --help, each run after a bare interpreter (`python -c pass`, the same one), in
rounds; a command's figure is its median over the rounds, against the median of every bare
run beside it. Every command pays this before it does anything.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from harness import Bench, Row, log, verdict

TARGET = 8.0  # times a bare interpreter's CPU (issue 66)


def run(bench: Bench) -> None:
    from receiver.cli.main import main

    entry = Path(sys.executable).with_name("receiver")  # what a user runs, when installed
    receiver = [str(entry)] if entry.exists() else [sys.executable, "-m", "receiver"]
    paths = ["", *(" ".join(p) for p in _paths(main, []))]
    rounds = 3 if bench.plan.quick else 9
    bare: list[float] = []
    took: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            bare.append(_cpu([sys.executable, "-c", "pass"]))
            took[path].append(_cpu([*receiver, *path.split(), "--help"]))
    bare_ms = statistics.median(bare) * 1000
    commands = {
        path: {
            "ms": round(statistics.median(t) * 1000, 1),
            "ratio": round(statistics.median(t) * 1000 / bare_ms, 2),
        }
        for path, t in took.items()
    }
    worst = max(commands, key=lambda p: commands[p]["ratio"])
    bench.results["cli"] = {
        "bare_ms": round(bare_ms, 1),
        "rounds": rounds,
        "entry": " ".join(receiver),
        "commands": commands,
        "worst": worst,
    }
    log(f"cli: --help {commands['']['ratio']}x; worst `{worst}` {commands[worst]['ratio']}x")


def _paths(group: click.Group, path: list[str]) -> Iterator[list[str]]:
    """Every command under `group`, each as the words that name it."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from _paths(command, [*path, name])


def _cpu(argv: list[str]) -> float:
    """User + system CPU seconds of one run of `argv`, from the children's usage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def rows(r: dict[str, Any]) -> list[Row]:
    if "cli" not in r:
        return []
    c = r["cli"]
    top, worst = c["commands"][""], c["commands"][c["worst"]]
    ratios = [x["ratio"] for x in c["commands"].values()]
    return [
        (
            "`receiver --help`, CPU",
            f"{top['ms']:.0f} ms = {top['ratio']:.1f}x a bare interpreter ({c['bare_ms']:.0f} ms)",
            f"<= {TARGET:g}x",
            verdict(top["ratio"] <= TARGET),
        ),
        (
            f"Every command's --help, CPU ({len(ratios) - 1} commands)",
            f"at most {worst['ratio']:.1f}x (`{c['worst']} --help`, {worst['ms']:.0f} ms);"
            f" median {statistics.median(ratios):.1f}x",
            f"<= {TARGET:g}x",
            verdict(max(ratios) <= TARGET),
        ),
    ]
