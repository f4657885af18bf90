"""The command line's start: the CPU (user + system) of `receiver --help` and of every
command's --help, each run after a bare interpreter (`python -c pass`, the same one), in
rounds; a command's figure is its median over the rounds, against the median of every bare
run beside it. Every command pays this before it does anything.

The same again without the site's start-up (`python -S`, the checkout and site-packages on
PYTHONPATH): an editable install's finder costs a bare interpreter some 25 ms of imports
that the commands would pay anyway, so this view, as an installed (not editable) relay's
interpreter starts, has the cheapest reference and the highest ratios.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from common import BENCH
from harness import Bench, Row, log, verdict

TARGET = 8.0  # times a bare interpreter's CPU (issue 66)


def run(bench: Bench) -> None:
    from receiver.cli.main import main

    entry = Path(sys.executable).with_name("receiver")  # what a user runs, when installed
    receiver = [str(entry)] if entry.exists() else ["-m", "receiver"]
    paths = ["", *(" ".join(p) for p in _paths(main, []))]
    rounds = 3 if bench.plan.quick else 9
    found = {}
    for view, flags, env in (
        ("site", [], {}),
        ("no_site", ["-S"], {"PYTHONPATH": os.pathsep.join(_import_path())}),
    ):
        python = [sys.executable, *flags]
        bare: list[float] = []
        took: dict[str, list[float]] = {path: [] for path in paths}
        for _ in range(rounds):
            for path in paths:
                bare.append(_cpu([*python, "-c", "pass"], env))
                took[path].append(_cpu([*python, *receiver, *path.split(), "--help"], env))
        found[view] = _figures(bare, took)
        top, worst = found[view]["commands"][""], found[view]["worst"]
        log(f"cli ({view}): --help {top['ratio']}x; worst `{worst}`")
    bench.results["cli"] = {"rounds": rounds, "entry": " ".join(receiver), **found}


def _figures(bare: list[float], took: dict[str, list[float]]) -> dict[str, Any]:
    bare_ms = statistics.median(bare) * 1000
    commands = {
        path: {
            "ms": round(statistics.median(t) * 1000, 1),
            "ratio": round(statistics.median(t) * 1000 / bare_ms, 2),
        }
        for path, t in took.items()
    }
    worst = max(commands, key=lambda p: commands[p]["ratio"])
    return {"bare_ms": round(bare_ms, 1), "commands": commands, "worst": worst}


def _import_path() -> list[str]:
    """Where the relay and its libraries are imported from, for an interpreter run
    without its site."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([str(BENCH.parent), paths["purelib"], paths["platlib"]]))


def _paths(group: click.Group, path: list[str]) -> Iterator[list[str]]:
    """Every command under `group`, each as the words that name it."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from _paths(command, [*path, name])


def _cpu(argv: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of `argv`, from the children's usage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def rows(r: dict[str, Any]) -> list[Row]:
    if "cli" not in r:
        return []
    site, bare = r["cli"]["site"], r["cli"]["no_site"]
    top, worst = site["commands"][""], site["commands"][site["worst"]]
    ratios = [x["ratio"] for x in site["commands"].values()]
    no_site = [x["ratio"] for x in bare["commands"].values()]
    return [
        (
            "`receiver --help`, CPU",
            f"{top['ms']:.0f} ms = {top['ratio']:.1f}x a bare interpreter"
            f" ({site['bare_ms']:.0f} ms)",
            f"<= {TARGET:g}x",
            verdict(top["ratio"] <= TARGET),
        ),
        (
            f"Every command's --help, CPU ({len(ratios) - 1} commands)",
            f"at most {worst['ratio']:.1f}x (`{site['worst']} --help`, {worst['ms']:.0f} ms);"
            f" median {statistics.median(ratios):.1f}x",
            f"<= {TARGET:g}x",
            verdict(max(ratios) <= TARGET),
        ),
        (
            "… both without the site's start-up (python -S)",
            f"--help {bare['commands']['']['ratio']:.1f}x, at most {max(no_site):.1f}x"
            f" (`{bare['worst']} --help`), median {statistics.median(no_site):.1f}x"
            f" of a bare {bare['bare_ms']:.0f} ms",
            "-",
            "",
        ),
    ]
