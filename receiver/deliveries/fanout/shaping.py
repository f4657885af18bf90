"""What one delivery sends, before it is signed: whether its downstream's filter takes the
event, and the body (the format's own, or what its transform makes of the event), with the
method, a path and the headers to add.

Every format goes through `prepare`, the HTTP formats and each broker's alike, so a new
format gets filters and transforms by building its default body here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from receiver.config import Downstream
from receiver.destinations.webhook import webhook
from receiver.expressions.evaluate import evaluate
from receiver.expressions.rules import REFUSED, ExpressionFailed, Shaped
from receiver.lifecycle.rules.records import DeliveryJob


@dataclass(frozen=True)
class Refused:
    """The filter did not take the event (or failed on it): why, kept on the delivery."""

    reason: str
    failed: bool  # the expression failed, rather than answering false


def filter_of(downstream: Downstream, job: DeliveryJob) -> str | None:
    """A task's own webhook carries the task's filter; any other downstream its own."""
    return job.webhook_filter if job.webhook is not None else downstream.filter


async def prepare(
    downstream: Downstream, job: DeliveryJob, default: Callable[[], Shaped]
) -> Shaped | Refused:
    """The request's parts, or why it is not sent: the filter and the transform evaluated in
    one round trip to a process (receiver/expressions/pool.py), never on the loop. One
    stopped for passing its budget is refused with why. A transform that fails raises
    ExpressionFailed (a body over 1 MiB, too): sending it again cannot help until the
    transform changes; Overloaded when the processes are too busy (tried again later)."""
    source = filter_of(downstream, job)
    transform = downstream.transform
    if source is None and transform is None:  # the common case: nothing to evaluate
        shaped = default()
    else:
        verdict, made = await evaluate(source, transform, event(job.payload))
        if not verdict.matched:
            reason = verdict.reason or REFUSED
            return Refused(reason, failed=verdict.cut or reason.startswith("filter failed"))
        shaped = made or default()
    if not downstream.headers:
        return shaped
    return Shaped(shaped.body, shaped.method, shaped.path, {**downstream.headers, **shaped.headers})


def event(payload: dict[str, Any]) -> dict[str, Any]:
    """The event as the `webhook` format delivers it: what an expression sees."""
    return webhook(payload)


__all__ = ["ExpressionFailed", "Refused", "Shaped", "filter_of", "prepare"]
