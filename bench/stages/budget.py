"""Every filter and transform evaluated under a budget the kernel enforces (issue 72), in the
processes of receiver/expressions/pool.py, never on the relay's event loop.

Four figures. (1) The loop: the longest it went unanswered while 8 hostile evaluations ran
at once (in process, a 1 ms ticker on the loop the evaluations are awaited on), and on a
real relay the slowest `/livez` while 8 hostile previews were out (each a 422). (2) The CPU
a hostile evaluation costs: the relay's and its processes' together, each stopped at 100 ms
and its evaluator forked again. (3) An honest filter and transform per delivery (the
fan-out worker's `prepare`, 8 at a time as the fan-out runs them), the relay's CPU and its
processes', paired round by round with the same deliveries on a41becd's in-process path
(`--against`'s checkout, else a41becd exported with `git archive`), run in a process of its
own. Hostile: macros nested behind `//` comments, and a regex compiled at each `matches`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from common import ADMIN_TOKEN, BENCH
from harness import Bench, Row, log, verdict

from receiver.config import Downstream
from receiver.deliveries.fanout.worker import prepare
from receiver.expressions import evaluate as expressions
from receiver.expressions import pool
from receiver.expressions.lines import OPERATOR
from receiver.expressions.rules import Shaped
from receiver.outbox.rules.delivery import Delivery, DeliveryJob
from receiver.outbox.rules.event_types import TASK_TYPES, example, example_document

T = TypeVar("T")

BASELINE = "a41becd"
HUNDRED = "[" + ", ".join(["0"] * 100) + "]"
COMMENTED = f"{HUNDRED}.map //\n(x, {HUNDRED}.map //\n(y, {HUNDRED}.map //\n(z, 1))).size() > 0"
REGEX = "[" + ", ".join(["0"] * 300) + "].exists(x, 'a'.matches('\\\\w{200}'))"
HOSTILE = [COMMENTED, REGEX] * 4  # 8 at once
FILTER = 'event.type != "task.progress" && event.data.metadata.tier == "gold"'
TRANSFORM = (
    '{"task": event.data.task_id, "state": event.data.state, "kind": event.data.kind,'
    ' "video": size(event.data.outputs) > 0 ? event.data.outputs[0] : "",'
    ' "customer": event.data.metadata.customer}'
)
AT_ONCE = 8
STALL_TARGET_MS = 50.0
LIVEZ_TARGET_MS = 100.0
HOSTILE_CPU_TARGET_MS = 150.0  # 100 ms stopped, a fresh evaluator forked, the round trip


def run(bench: Bench) -> None:
    rounds = 4 if bench.plan.quick else 8
    out: dict[str, Any] = on_a_loop(_in_process(rounds))
    out["honest"] = _paired(bench, rounds)
    db = bench.work / "budget.db"
    for leftover in bench.work.glob("budget.db*"):
        leftover.unlink()
    with bench.relay("budget", db) as (_, port):
        out["relay"] = _on_relay(port, rounds)
    bench.results["budget"] = out
    log(f"budget: {out}")


def on_a_loop(awaited: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed, as the relay does."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(awaited)
    return asyncio.run(awaited)


def _cpu(pid: int, reaped: bool) -> float:
    """A process's CPU seconds (with its reaped children's, when `reaped`)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used = int(fields[11]) + int(fields[12])
        used += int(fields[13]) + int(fields[14]) if reaped else 0
        return used / os.sysconf("SC_CLK_TCK")
    return 0.0


def workers_cpu() -> float:
    """The CPU seconds this loop's pool's processes have used: each supervisor, the
    evaluators it reaped, and the one it runs now."""
    total = 0.0
    for pid in pool.pool().workers():
        total += _cpu(pid, reaped=True)
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            total += sum(_cpu(int(child), reaped=False) for child in children)
    return total


def _reaped_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def _in_process(rounds: int) -> dict[str, Any]:
    envelope = example("task.succeeded")
    await expressions.evaluate("true", None, envelope, OPERATOR)  # the pool started
    stalls, cpu, stopped = [], [], 0
    for _ in range(rounds):
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker(gaps: list[float] = gaps, done: asyncio.Event = done) -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        before = time.process_time() + _reaped_cpu() + workers_cpu()
        verdicts = await asyncio.gather(
            *(expressions.evaluate(source, None, envelope, OPERATOR) for source in HOSTILE)
        )
        done.set()
        await ticking
        # Its processes' CPU: those that died are reaped, the live ones read.
        await expressions.evaluate("true", None, envelope, OPERATOR)
        after = time.process_time() + _reaped_cpu() + workers_cpu()
        stopped += sum(v.cut for v, _ in verdicts)
        stalls.append(max(gaps) - 0.001)
        cpu.append((after - before) / len(HOSTILE))
    return {
        "hostile_at_once": len(HOSTILE),
        "stopped": f"{stopped}/{rounds * len(HOSTILE)}",
        "loop_stall_max_ms": round(max(stalls) * 1000, 1),
        "loop_stall_median_ms": round(statistics.median(stalls) * 1000, 1),
        "cpu_per_hostile_ms": round(statistics.median(cpu) * 1000, 1),
        "cpu_per_hostile_max_ms": round(max(cpu) * 1000, 1),
    }


def bench_job(key: str, task_id: str, document: dict[str, Any]) -> DeliveryJob:
    """A pending delivery (`dlv_KEY` of event `evt_KEY`) of `document` to the bench's downstream."""
    row = {
        "id": f"dlv_{key}",
        "event_id": f"evt_{key}",
        "task_id": task_id,
        "downstream": "bench",
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": 0.0,
        "last_status": None,
        "last_error": None,
        "created_at": 0.0,
        "updated_at": 0.0,
        "delivered_at": None,
    }
    return DeliveryJob(Delivery.from_row(row), document)


def example_jobs() -> list[DeliveryJob]:
    """A pending delivery of each task event type's example document, to the bench's downstream."""
    return [
        bench_job(str(n), "tsk_example", example_document(event_type))
        for n, event_type in enumerate(TASK_TYPES)
    ]


# a41becd's path, in a process of its own: one round of `count` deliveries per line read,
# its CPU per delivery (µs) written back. Its imports are a41becd's modules, as they were
# then: a later move of the relay's modules leaves them be.
_OLD = """
import sys, time
from receiver.config import Downstream
from receiver.deliveries.fanout.outgoing import default_body
from receiver.deliveries.fanout.shaping import prepare
from receiver.lifecycle.rules.catalog import TASK_TYPES, example_document
from receiver.lifecycle.rules.records import Delivery, DeliveryJob
jobs = []
for n, event_type in enumerate(TASK_TYPES):
    row = dict(id=f"dlv_{n}", event_id=f"evt_{n}", task_id="tsk_example", downstream="bench",
        state="pending", attempts=0, next_attempt_at=0.0, last_status=None, last_error=None,
        created_at=0.0, updated_at=0.0, delivered_at=None)
    jobs.append(DeliveryJob(Delivery.from_row(row), example_document(event_type)))
d = Downstream(name="bench", url="http://127.0.0.1:9/hook", events=[], timeout=5.0,
    filter=sys.argv[1], transform=sys.argv[2])
for line in sys.stdin:
    count = int(line)
    started = time.process_time()
    for i in range(count):
        job = jobs[i % len(jobs)]
        prepare(d, job, lambda job=job: default_body(d, job))
    print((time.process_time() - started) / count * 1e6, flush=True)
"""


def _baseline(bench: Bench) -> tuple[str, dict[str, str], str]:
    """The interpreter, environment and name of the build paired with this one: a41becd's
    tree always (`--against` pairs ingest and endtoend; _OLD is written for a41becd)."""
    tree = bench.work / BASELINE
    if not (tree / "receiver").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = bench.work / f"{BASELINE}.tar"
        command = ["git", "archive", "-o", str(archive), BASELINE, "receiver"]
        subprocess.run(command, cwd=BENCH.parent, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
    return sys.executable, {**os.environ, "PYTHONPATH": str(tree)}, BASELINE


def _body_of(downstream: Downstream, job: DeliveryJob) -> Callable[[], Shaped]:
    return lambda: downstream.default_body(job)


async def per_delivery_us(downstream: Downstream, jobs: list[DeliveryJob], count: int) -> float:
    """CPU per delivery, the relay's and its processes', `AT_ONCE` deliveries at a time."""

    async def some(start: int) -> None:
        for i in range(start, count, AT_ONCE):
            job = jobs[i % len(jobs)]
            await prepare(downstream, job, _body_of(downstream, job))

    before = time.process_time() + workers_cpu()
    await asyncio.gather(*(some(n) for n in range(AT_ONCE)))
    return (time.process_time() + workers_cpu() - before) / count * 1e6


async def _new_rounds(
    rounds: int, count: int, old: subprocess.Popen[str]
) -> tuple[list[float], list[float]]:
    shaped = Downstream.model_validate(
        {
            "name": "bench",
            "url": "http://127.0.0.1:9/hook",
            "events": [],
            "timeout": 5.0,
            "filter": FILTER,
            "transform": TRANSFORM,
        }
    )
    jobs = example_jobs()
    await per_delivery_us(shaped, jobs, 200)  # the processes started, the programs compiled
    assert old.stdin is not None and old.stdout is not None
    olds, news = [], []
    for _ in range(rounds):
        old.stdin.write(f"{count}\n")
        old.stdin.flush()
        olds.append(float(old.stdout.readline()))
        news.append(await per_delivery_us(shaped, jobs, count))
    return olds, news


def _paired(bench: Bench, rounds: int) -> dict[str, Any]:
    python, env, name = _baseline(bench)
    count = 2_000 if bench.plan.quick else 6_000
    with subprocess.Popen(
        [python, "-c", _OLD, FILTER, TRANSFORM],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=bench.work,
    ) as old:
        assert old.stdin is not None
        old.stdin.write("200\n")  # compiled, warmed
        old.stdin.flush()
        assert old.stdout is not None
        old.stdout.readline()
        olds, news = on_a_loop(_new_rounds(rounds, count, old))
        old.stdin.close()
    ratios = [new / was for new, was in zip(news, olds, strict=True)]
    return {
        "baseline": name,
        "rounds": rounds,
        "deliveries_per_round": count,
        "baseline_us": round(statistics.median(olds), 1),
        "this_us": round(statistics.median(news), 1),
        "ratio": round(statistics.median(ratios), 2),
        "ratios": [round(r, 2) for r in ratios],
    }


def _on_relay(port: int, rounds: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = f"http://127.0.0.1:{port}"
    livez: list[float] = []
    statuses: list[int] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        for _ in range(rounds):

            def preview(source: str) -> None:
                ask = {"filter": source, "type": "task.succeeded"}
                statuses.append(api.post("/v1/downstreams/preview", json=ask).status_code)

            threads = [threading.Thread(target=preview, args=(s,)) for s in HOSTILE]
            with httpx.Client(base_url=url, timeout=60) as probe:
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    started = time.perf_counter()
                    probe.get("/livez").raise_for_status()
                    livez.append(time.perf_counter() - started)
            for thread in threads:
                thread.join()
        # The control: as many probes with nothing else asked, on the same machine.
        quiet: list[float] = []
        with httpx.Client(base_url=url, timeout=60) as probe:
            for _ in range(len(livez)):
                started = time.perf_counter()
                probe.get("/livez").raise_for_status()
                quiet.append(time.perf_counter() - started)
    return {
        "previews": len(statuses),
        "refused_422": sum(s == 422 for s in statuses),
        "livez_max_ms": round(max(livez) * 1000, 1),
        "livez_median_ms": round(statistics.median(livez) * 1000, 1),
        "livez_probes": len(livez),
        "livez_quiet_max_ms": round(max(quiet) * 1000, 1),
        "livez_quiet_median_ms": round(statistics.median(quiet) * 1000, 1),
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "budget" not in r:
        return []
    b = r["budget"]
    relay, honest = b["relay"], b["honest"]
    stall_ok = b["loop_stall_max_ms"] <= STALL_TARGET_MS
    livez_ok = relay["livez_max_ms"] <= LIVEZ_TARGET_MS
    return [
        (
            "Loop stall, 8 hostile evaluations at once (in process; relay /livez)",
            f"{b['loop_stall_max_ms']} ms max (median {b['loop_stall_median_ms']});"
            f" /livez max {relay['livez_max_ms']} ms over {relay['livez_probes']} probes"
            f" (quiet: max {relay['livez_quiet_max_ms']} ms),"
            f" {relay['refused_422']}/{relay['previews']} previews 422",
            f"<= {STALL_TARGET_MS:g} ms; /livez <= {LIVEZ_TARGET_MS:g} ms",
            verdict(stall_ok and livez_ok),
        ),
        (
            "CPU per hostile evaluation (stopped, its evaluator forked again)",
            f"{b['cpu_per_hostile_ms']} ms (max {b['cpu_per_hostile_max_ms']}); {b['stopped']}",
            f"<= {HOSTILE_CPU_TARGET_MS:g} ms",
            verdict(b["cpu_per_hostile_ms"] <= HOSTILE_CPU_TARGET_MS),
        ),
        (
            f"Honest filter + transform per delivery, vs {honest['baseline']} (paired)",
            f"{honest['this_us']} us vs {honest['baseline_us']} us: x{honest['ratio']}",
            "recorded",
            "-",
        ),
    ]
