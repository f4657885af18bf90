"""The running service's parts, wired once at start-up and shared by every step."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from dataclasses import dataclass, field
from typing import Any

from receiver.config import Config
from receiver.metrics import Metrics
from receiver.persist import Store
from receiver.upstream import CometClient
from receiver.verify import CallbackSigner


@dataclass
class Service:
    config: Config
    store: Store
    comet: CometClient
    signer: CallbackSigner
    log: Any
    metrics: Metrics
    # Identifies this process in leases, so replicas can tell their rows apart; the random
    # part keeps two containers with the same hostname and pid apart.
    owner: str = field(
        default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}:{os.urandom(3).hex()}"
    )
    _deliveries_ready: asyncio.Event = field(default_factory=asyncio.Event)

    @functools.cached_property
    def subscriptions(self) -> dict[str, frozenset[str]]:
        """Downstream name -> the states it takes; read on every event, fixed at start."""
        return {d.name: d.events for d in self.config.downstreams}

    def callback_url(self, task_id: str) -> str:
        return f"{self.config.public_url}/callbacks/runway/{self.signer.token_for(task_id)}"

    def deliveries_ready(self) -> None:
        """Wake the fan-out worker: new outbox rows are committed."""
        self._deliveries_ready.set()

    async def wait_for_deliveries(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._deliveries_ready.wait(), timeout)
        self._deliveries_ready.clear()

    async def close(self) -> None:
        """Give this process's leases back, then close its connections. Call it only once
        no poll or delivery is in flight: other processes may take the rows at once."""
        try:
            await self.store.release_leases(self.owner)
        except Exception:
            self.log.exception("service.release_leases_failed")
        await self.comet.aclose()
        await self.store.close()
