"""The running service's parts, wired once at start-up and shared by every step."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from receiver.config import Config
from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import Store
from receiver.kernel.supervisor import Supervisor
from receiver.lifecycle.comet import CometClient
from receiver.lifecycle.handoff import DeliveryHandoff, PollHandoff, Wakers
from receiver.lifecycle.rules.records import Work
from receiver.lifecycle.transactions import leases
from receiver.outbox.rules.delivery import DownstreamLabels


def process_owner() -> str:
    """Identifies this process in leases, so replicas can tell their rows apart; the random
    part keeps two containers with the same hostname and pid apart."""
    return f"{os.uname().nodename}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class Service:
    """What every step shares, made once at start-up (receiver/app/build.py): the store and
    the clients; and this process's workers, woken when there is work. It holds no rule of
    the product: the policies the configuration sets are given to the steps that apply them
    (receiver/app/parts.py)."""

    config: Config
    store: Store
    comet: CometClient
    signer: CallbackSigner
    log: Log
    metrics: Metrics
    # Each app's name by its id, for its downstreams' labels in the metrics.
    labels: DownstreamLabels
    owner: str  # this process in leases (`process_owner`)
    wakers: Wakers  # this process's workers, each woken when a change gives it work
    workers: Supervisor  # and kept running: each started again after a failure
    # True once the server is shutting down: long-lived answers (the live stream) end, so
    # they do not hold the shutdown for its whole grace period.
    draining: Callable[[], bool] = lambda: False
    polls: PollHandoff = field(default_factory=PollHandoff)  # leased by callbacks, run at once
    # Leased by polls, sent at once.
    deliveries: DeliveryHandoff = field(default_factory=DeliveryHandoff)
    # Told when a key is revoked or a session ends here (the live streams check their holders).
    _access_listeners: list[Callable[[], None]] = field(default_factory=list)

    def drains_by(self, draining: Callable[[], bool]) -> None:
        """Told by the server once it runs (receiver/app/server.py)."""
        self.draining = draining

    def on_access_change(self, listener: Callable[[], None]) -> None:
        self._access_listeners.append(listener)

    def access_changed(self) -> None:
        """A key was revoked, an app deleted or a session ended in this process."""
        for listener in self._access_listeners:
            listener()

    def wake(self, work: Work) -> None:
        """Wake the workers that have something new to do (committed already)."""
        self.wakers.wake(work)

    async def close(self) -> None:
        """Give this process's leases back, then close its connections. Call it only once
        no poll or delivery is in flight: other processes may take the rows at once."""
        try:
            await leases.release(self.store, self.owner)
        except Exception:
            self.log.exception("service.release_leases_failed")
        await self.comet.aclose()
        await self.store.close()
