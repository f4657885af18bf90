"""What a worker or a route of this process stands on, made once at start-up
(receiver/app/build.py) and given to each as itself, never the whole service."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store
from receiver.lifecycle.handoff import Wakers


@dataclass(frozen=True)
class WorkerParts:
    """The store, the metrics, the log, this process in leases (`owner`), and the wake-ups
    of its workers and of the requests waiting on a task (the lifecycle's hand-off)."""

    store: Store
    metrics: Metrics
    log: Log
    owner: str
    wakers: Wakers
