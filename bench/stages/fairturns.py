"""Fair turns in the expression pool (receiver/expressions/pool.py, lines.py): app B's honest
filtered deliveries while app A floods previews and filters at the pool's full rate.

Each round times B's 24 deliveries' filters (`prepare`, the step a delivery's filter is
evaluated in, in the relay's own code: B's downstream `<B's id>.hooks`, each event a task of
its own so that none is an answer kept from before) from their start to the last answer:
alone, then beside A's flood (its line held full: every answer asked again at once, a
refusal asked again a few ms later; half its downstream's deliveries' filters, half
previews). The figure is the median ratio over rounds (paired in each round, alone first and
flooded second, then the other way), the target 2x; a B delivery not shaped (refused,
stopped) is lost, the target none. A's flood is honest (one filter on events each of its
own: the pool's full rate of cheap evaluations) and, recorded beside it, CPU-hungry (each
distinct, stopped at 80 ms of CPU). B's and A's evaluations share this process's loop, as
they share the relay's.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from functools import partial
from typing import Any

from harness import Bench, Row, log, verdict

from receiver.config import Downstream
from receiver.deliveries.fanout.worker import prepare
from receiver.expressions import pool
from receiver.expressions.evaluate import evaluate
from receiver.expressions.rules import Shaped
from receiver.kernel.errors import Overloaded
from receiver.outbox.rules.delivery import DeliveryJob
from receiver.outbox.rules.event_types import example_document
from stages.budget import bench_job, on_a_loop

B_DELIVERIES = 24
# Apps' ids, as the store makes them: a downstream kept as `<app id>.<name>` is that app's.
APP_A, APP_B = "app_" + "a" * 24, "app_" + "b" * 24
TARGET_RATIO = 2.0
HONEST = 'event.data.task_id != ""'
HUNGRY = "[" + ", ".join(["0"] * 100) + "].exists(x, 'a'.matches('\\\\w{200}')) || "
# More of A's at once than the processes' room and its whole line hold: some are refused.
A_AT_ONCE = pool.SIZE * pool.DEPTH + pool.MAX_WAITING + 16
REFUSED_WAIT = 0.005


def _downstream(app: str, source: str) -> Downstream:
    return Downstream.model_validate(
        {
            "name": f"{app}.hooks",
            "url": "http://127.0.0.1:9/hook",
            "events": [],
            "timeout": 5.0,
            "filter": source,
        }
    )


def _job(task_id: str) -> DeliveryJob:
    document = {**example_document("task.succeeded"), "task_id": task_id}
    return bench_job(task_id, task_id, document)


async def _b_round(tag: str) -> tuple[float, int]:
    """Seconds until B's deliveries are all shaped, and how many were lost."""
    b = _downstream(APP_B, HONEST)
    jobs = [_job(f"tsk_b_{tag}_{i}") for i in range(B_DELIVERIES)]
    started = time.perf_counter()
    made = await asyncio.gather(
        *(prepare(b, job, partial(b.default_body, job)) for job in jobs),
        return_exceptions=True,
    )
    return time.perf_counter() - started, sum(not isinstance(m, Shaped) for m in made)


async def _flood(stop: asyncio.Event, hungry: bool, counts: dict[str, int]) -> None:
    """A's evaluations, A_AT_ONCE at a time, each asked again as it is answered."""
    numbers = itertools.count()

    def source(n: int) -> str:
        # An honest flood is one filter on events each of its own (compiled once).
        return f"{HUNGRY}{n} == 0" if hungry else HONEST

    honest = _downstream(APP_A, HONEST)

    async def asking(k: int) -> None:
        while not stop.is_set():
            n = next(numbers)
            try:
                if k % 2:  # a delivery's filter
                    a = _downstream(APP_A, source(n)) if hungry else honest
                    job = _job(f"tsk_a_{n}")
                    await prepare(a, job, partial(a.default_body, job))
                else:  # a preview
                    envelope = {"type": "task.succeeded", "data": {"task_id": f"tsk_p_{n}"}}
                    await evaluate(source(n), None, envelope, APP_A, always=True)
                counts["answered"] += 1
            except Overloaded:
                counts["refused"] += 1
                await asyncio.sleep(REFUSED_WAIT)

    await asyncio.gather(*(asking(k) for k in range(A_AT_ONCE)))


async def _measure(rounds: int, hungry: bool) -> dict[str, Any]:
    await _b_round("warm")  # the processes started
    ratios, alone_s, flooded_s, lost = [], [], [], 0
    counts = {"answered": 0, "refused": 0}
    for n in range(rounds):
        timed: dict[str, float] = {}
        for flooded in (False, True) if n % 2 == 0 else (True, False):
            stop = asyncio.Event()
            flood = asyncio.create_task(_flood(stop, hungry, counts)) if flooded else None
            if flood is not None:
                refused = counts["refused"]
                while counts["refused"] == refused:  # A's line is full, in this round too
                    await asyncio.sleep(0.01)
            seconds, missing = await _b_round(f"{hungry}_{n}_{flooded}")
            stop.set()
            if flood is not None:
                await flood
            timed["flooded" if flooded else "alone"] = seconds
            lost += missing
        ratios.append(timed["flooded"] / timed["alone"])
        alone_s.append(timed["alone"])
        flooded_s.append(timed["flooded"])
    pool.close()
    return {
        "alone_ms": round(statistics.median(alone_s) * 1000, 1),
        "flooded_ms": round(statistics.median(flooded_s) * 1000, 1),
        "ratio": round(statistics.median(ratios), 2),
        "lost": lost,
        "b_deliveries": rounds * B_DELIVERIES,
        "a_answered": counts["answered"],
        "a_refused": counts["refused"],
    }


def run(bench: Bench) -> None:
    rounds = 5 if bench.plan.quick else 11
    out = {
        "honest": on_a_loop(_measure(rounds, hungry=False)),
        "hungry": on_a_loop(_measure(max(3, rounds // 2), hungry=True)),
    }
    bench.results["fairturns"] = out
    log(f"fairturns: {out}")


def rows(r: dict[str, Any]) -> list[Row]:
    if "fairturns" not in r:
        return []
    honest, hungry = r["fairturns"]["honest"], r["fairturns"]["hungry"]
    return [
        (
            f"App B's {B_DELIVERIES} filtered deliveries, app A flooding the pool (median)",
            f"{honest['alone_ms']} ms alone, {honest['flooded_ms']} ms flooded:"
            f" x{honest['ratio']}; lost {honest['lost']}/{honest['b_deliveries']}",
            f"<= x{TARGET_RATIO:g}, none lost",
            verdict(honest["ratio"] <= TARGET_RATIO and honest["lost"] == 0),
        ),
        (
            "The same, app A's flood CPU-hungry (each stopped at 80 ms)",
            f"{hungry['alone_ms']} ms alone, {hungry['flooded_ms']} ms flooded:"
            f" x{hungry['ratio']}; lost {hungry['lost']}/{hungry['b_deliveries']}",
            "recorded; none lost",
            verdict(hungry["lost"] == 0),
        ),
    ]
