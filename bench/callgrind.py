"""A corroborated callback's instructions, counted by callgrind: stable on a loaded machine,
where CPU time is not (two cores shared with other work moved a callback's CPU by a third
between two runs of the same code). User-space instructions only: the kernel's share (the
sockets' sends, the WAL's writes and fsyncs) is not in them.

    bench/run --quick --only endtoend --workdir DIR     # once: DIR's stores filled
    python bench/callgrind.py DIR floor                 # the floor
    python bench/callgrind.py DIR .                     # this checkout's relay
    python bench/callgrind.py DIR ../old                # another checkout's code

Each runs the server under `valgrind --tool=callgrind`, instrumenting nothing until its warm-up
load has passed, then counts the instructions of every thread over a load of finished tasks'
flat callbacks at `--rate` (valgrind runs a process some fifty times slower: 10/s keeps the
relay's queues as short as 150/s does natively), up to the last delivery, and prints them
per callback. Run from the checkout's root with PYTHONPATH=. (as bench/run sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from common import BENCH, Child, relay_env, relay_settings
from harness import Bench, Plan, wait_until

from tests.testkit import free_port, to_toml


def _server(bench: Bench, what: str, port: int, sink_url: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of the floor, or of the relay of checkout `what`."""
    if what == "floor":
        floor = [str(BENCH / "servers.py"), "floor", str(port), bench.upstream(), sink_url]
        return [sys.executable, *floor], {}
    root = Path(what).resolve()
    name = f"callgrind-{root.name}"
    db = bench.fresh_copy(bench.snapshot(10_000), name)
    os.sync()  # the copy on disk before the relay's commits wait on their fsyncs
    config = bench.work / f"{name}.toml"
    settings = relay_settings(
        db, port, bench.upstream(), downstream_urls=[f"{sink_url}/hook"], level="info"
    )
    config.write_text(to_toml(settings))
    # This interpreter, with the checkout's code first on its path: valgrind follows no
    # wrapper script, and the two builds' dependencies are the same.
    argv = [sys.executable, "-m", "receiver", "serve", "--config", str(config)]
    return argv, {**relay_env(port), "PYTHONPATH": str(root)}


def count(work: Path, what: str, rate: float, seconds: float) -> dict[str, float]:
    bench = Bench(Plan.make(True), work, None)
    sink_port = free_port()
    sink_url = f"http://127.0.0.1:{sink_port}"
    args = [str(BENCH / "servers.py"), "timed-sink", str(sink_port)]
    bench.child("callgrind-sink", args, f"{sink_url}/")
    label = "floor" if what == "floor" else Path(what).resolve().name
    out = work / f"callgrind-{label}.out"
    for old in work.glob(f"{out.name}*"):
        old.unlink()
    port = free_port()
    try:
        argv, env = _server(bench, what, port, sink_url)
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        child = Child(
            f"callgrind-{label}", [*valgrind, f"--callgrind-out-file={out}", *argv], work, env
        )
        bench.children.append(child)
        child.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=600)
        load = ["--rate", f"{rate:g}", "--flat"]
        bench.loadgen(port, load, 3, f"callgrind-{label}-warm", "succeeded")
        time.sleep(2)
        httpx.get(f"{sink_url}/reset")
        control = ["callgrind_control", "-i", "on", str(child.pid)]
        subprocess.run(control, check=True, capture_output=True)
        tag = f"callgrind-{label}-load"
        # Tasks past the warm-up's: a task called back twice is judged at once, with no poll.
        got = bench.loadgen(port, load, seconds, tag, "succeeded", offset=1000)
        wait_until(lambda: httpx.get(sink_url).json(), lambda s: s["total"] >= got["ok"], 300)
        time.sleep(1)  # an attempt's outcome, held for company, is committed too
        for step in (["-i", "off"], ["-d"]):
            subprocess.run(["callgrind_control", *step, str(child.pid)], check=True)
        dump = Path(f"{out}.1")
        wait_until(lambda: {"ok": dump.exists()}, lambda s: bool(s["ok"]), 60)
        time.sleep(1)
        totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
        instructions = int(totals[0].split()[1])
    finally:
        for child in list(bench.children):
            child.stop()
    return {
        "callbacks": got["ok"],
        "instructions_per_callback": round(instructions / max(got["ok"], 1)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path, help="a bench/run --workdir whose stores are filled")
    p.add_argument("what", help="floor, or a checkout whose relay is counted")
    p.add_argument("--rate", type=float, default=10.0, help="callbacks a second")
    p.add_argument("--seconds", type=float, default=12.0)
    args = p.parse_args()
    figures = count(args.workdir.resolve(), args.what, args.rate, args.seconds)
    print(json.dumps({"what": args.what, "rate": args.rate, **figures}))


if __name__ == "__main__":
    main()
