"""The running service's parts, wired once at start-up and shared by every step."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from receiver.config import Config
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import Store
from receiver.lifecycle.comet.client import CometClient
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import Recorded
from receiver.lifecycle.rules.reports import ClaimPolicy
from receiver.lifecycle.rules.routing import DownstreamLabels
from receiver.lifecycle.rules.wakeups import Wakeups, Work
from receiver.lifecycle.stories import leases
from receiver.wiring.handoff import DeliveryHandoff, PollHandoff, TaskChanges


def process_owner() -> str:
    """Identifies this process in leases, so replicas can tell their rows apart; the random
    part keeps two containers with the same hostname and pid apart."""
    return f"{os.uname().nodename}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class Service:
    """What every step shares, made once at start-up (receiver/app/build.py): the store and
    the clients, and the policies the configuration sets (each built by its section, applied
    by the lifecycle's rules); and this process's workers, woken when there is work."""

    config: Config
    store: Store
    comet: CometClient
    signer: CallbackSigner
    log: Any
    metrics: Metrics
    # Each app's name by its id, for its downstreams' labels in the metrics.
    labels: DownstreamLabels
    owner: str  # this process in leases (`process_owner`)
    claim_policy: ClaimPolicy  # how a callback's claim is judged
    poll_lease: PollLease  # how this process leases its polls, and their budget
    wakeups: Wakeups  # which workers a recorded change wakes
    # True once the server is shutting down: long-lived answers (the live stream) end, so
    # they do not hold the shutdown for its whole grace period.
    draining: Callable[[], bool] = lambda: False
    _deliveries_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _polls_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _mirrors_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _submits_ready: asyncio.Event = field(default_factory=asyncio.Event)
    polls: PollHandoff = field(default_factory=PollHandoff)  # leased by callbacks, run at once
    # Leased by polls, sent at once.
    deliveries: DeliveryHandoff = field(default_factory=DeliveryHandoff)
    # Requests waiting on one task's next change (the front door's create).
    task_changes: TaskChanges = field(default_factory=TaskChanges)
    # Told when a key is revoked or a session ends here (the live streams check their holders).
    _access_listeners: list[Callable[[], None]] = field(default_factory=list)

    def on_access_change(self, listener: Callable[[], None]) -> None:
        self._access_listeners.append(listener)

    def access_changed(self) -> None:
        """A key was revoked, an app deleted or a session ended in this process."""
        for listener in self._access_listeners:
            listener()

    def wake(self, work: Work) -> None:
        """Wake the workers that have something new to do (committed already)."""
        if Work.DELIVERIES in work:
            self._deliveries_ready.set()
        if Work.POLLS in work:
            self._polls_ready.set()
        if Work.MIRRORS in work:
            self._mirrors_ready.set()
        if Work.SUBMITS in work:
            self._submits_ready.set()

    def recorded(self, recorded: Recorded, handed: frozenset[str] = frozenset()) -> None:
        """Wake whatever a recorded observation gives work to (`handed`: its deliveries
        already handed to this process's fan-out)."""
        self.wake(self.wakeups.work_after(recorded, handed))
        if recorded.task is not None:
            self.task_changes.changed(recorded.task.id)

    async def wait_for_deliveries(self, timeout: float) -> None:
        await _wait_and_clear(self._deliveries_ready, timeout)

    async def wait_for_mirrors(self, timeout: float) -> None:
        await _wait_and_clear(self._mirrors_ready, timeout)

    async def wait_for_polls(self, timeout: float) -> None:
        await _wait_and_clear(self._polls_ready, timeout)

    async def wait_for_submits(self, timeout: float) -> None:
        await _wait_and_clear(self._submits_ready, timeout)

    async def close(self) -> None:
        """Give this process's leases back, then close its connections. Call it only once
        no poll or delivery is in flight: other processes may take the rows at once."""
        try:
            await leases.release(self.store, self.owner)
        except Exception:
            self.log.exception("service.release_leases_failed")
        await self.comet.aclose()
        await self.store.close()


async def _wait_and_clear(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()


async def service_of(request: Request) -> Service:
    # A coroutine, as every dependency here: FastAPI runs a plain function in a worker
    # thread, a hop per request that cost a front-door create about a tenth of its CPU.
    service: Service = request.app.state.service
    return service


# A route's service, the process's one, put on the application at start-up.
Served = Annotated[Service, Depends(service_of)]
