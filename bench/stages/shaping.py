"""Filters and transforms: what a CEL filter plus a transform add to one delivery of the
fan-out, paired with the same delivery without them.

The fan-out's own step is timed, its worker's `prepare` (the body a delivery sends, as the
worker builds it before signing, 8 at a time), on the same event documents: a plain `webhook`
downstream, then one with a filter and a transform, interleaved round by round so that both
see the same machine, in CPU time: the relay's and that of the processes the expressions
are evaluated in (receiver/expressions/pool.py). The figure is the median over
rounds of the per-delivery difference; the target is 50 us. Everything else an attempt
does (the claim, signing, the POST, the record) is the same with or without them, so the
difference is all a filter and a transform cost.
"""

from __future__ import annotations

import statistics
from typing import Any

from harness import Bench, Row, log, verdict

from receiver.config import Downstream
from stages.budget import example_jobs, on_a_loop, per_delivery_us

TARGET_US = 50.0
ROUNDS = 31
PER_ROUND = 2_000
FILTER = 'event.type != "task.progress" && event.data.metadata.tier == "gold"'
TRANSFORM = (
    '{"task": event.data.task_id, "state": event.data.state, "kind": event.data.kind,'
    ' "video": size(event.data.outputs) > 0 ? event.data.outputs[0] : "",'
    ' "customer": event.data.metadata.customer}'
)


def _downstream(**expressions: Any) -> Downstream:
    return Downstream(
        name="bench", url="http://127.0.0.1:9/hook", events=[], timeout=5.0, **expressions
    )


def measure(rounds: int = ROUNDS) -> dict[str, Any]:
    return on_a_loop(_measure(rounds))


async def _measure(rounds: int) -> dict[str, Any]:
    plain = _downstream()
    shaped = _downstream(filter=FILTER, transform=TRANSFORM)
    jobs = example_jobs()
    # The processes started and the programs compiled, once, as on a downstream's change.
    await per_delivery_us(shaped, jobs, 200)
    without, with_, added = [], [], []
    for _ in range(rounds):
        a = await per_delivery_us(plain, jobs, PER_ROUND)
        b = await per_delivery_us(shaped, jobs, PER_ROUND)
        without.append(a)
        with_.append(b)
        added.append(b - a)
    return {
        "rounds": rounds,
        "deliveries_per_round": PER_ROUND,
        "without_us": round(statistics.median(without), 2),
        "with_us": round(statistics.median(with_), 2),
        "added_us": round(statistics.median(added), 2),
        "added_us_p90": round(sorted(added)[int(0.9 * (len(added) - 1))], 2),
    }


def run(bench: Bench) -> None:
    bench.results["shaping"] = measure()
    log(f"shaping: {bench.results['shaping']}")


def rows(r: dict[str, Any]) -> list[Row]:
    if "shaping" not in r:
        return []
    s = r["shaping"]
    return [
        (
            "Filter + transform per delivery (paired)",
            f"+{s['added_us']:.1f} us ({s['without_us']:.1f} -> {s['with_us']:.1f} us the body)",
            f"<= {TARGET_US:g} us",
            verdict(s["added_us"] <= TARGET_US),
        )
    ]
