"""What a worker or a route of this process stands on, made once at start-up
(receiver/app/build.py) and given to each as itself, never the whole service; and what a
worker does with an item that raised.

One bad row never stops a worker: a task whose handling raised is set aside. The task is
failed with the reason (if it was unfinished) and taken out of every queue in one statement
that writes nothing of the task's own data (that data may be what could not be written),
the failure is counted by worker, and it is logged once: set aside, the task is never picked
up again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store
from receiver.lifecycle.handoff import Wakers
from receiver.lifecycle.rules.records import Wakeups
from receiver.lifecycle.transactions import leases

if TYPE_CHECKING:
    from receiver.config import Settings


@dataclass(frozen=True)
class WorkerParts:
    """The store, the metrics, the log, this process in leases (`owner`), and the wake-ups
    of its workers and of the requests waiting on a task (the lifecycle's hand-off)."""

    store: Store
    metrics: Metrics
    log: Log
    owner: str
    wakers: Wakers


def wakers_for(settings: Settings) -> Wakers:
    """This process's wakers, under the lifecycle's rule as the settings set it up: a
    recorded change wakes the copies of finished renders (when copies are on), and the
    submits a task that ends makes room for under a cap (when one is set)."""
    return Wakers(Wakeups(settings.media.enabled, settings.upstream.max_concurrent_tasks > 0))


class AsideParts(Protocol):
    """What setting a task aside uses of the worker that hands it (the worker itself)."""

    @property
    def store(self) -> Store: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def log(self) -> Log: ...


async def set_aside(parts: AsideParts, worker: str, task_id: str, exc: BaseException) -> None:
    reason = f"the relay could not handle this task ({type(exc).__name__}); set aside"
    parts.metrics.item_failures.labels(worker).inc()
    parts.log.error(f"{worker}.item_set_aside", task_id=task_id, reason=reason, exc_info=exc)
    try:
        await leases.set_aside(parts.store, task_id, reason)
    except Exception:
        # The store itself is failing: the worker's own retry finds the task again.
        parts.log.exception(f"{worker}.set_aside_failed", task_id=task_id)
