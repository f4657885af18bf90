"""The running service's parts, wired once at start-up and shared by every step."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from receiver.adapters.comet.client import CometClient
from receiver.adapters.media.links import MediaLinks
from receiver.adapters.tokens import CallbackSigner
from receiver.config import Config
from receiver.observability.metrics import Metrics
from receiver.persist import ClaimPolicy, Store


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
    # True once the server is shutting down: long-lived answers (the live stream) end, so
    # they do not hold the shutdown for its whole grace period.
    draining: Callable[[], bool] = lambda: False
    _deliveries_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _polls_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _mirrors_ready: asyncio.Event = field(default_factory=asyncio.Event)

    @functools.cached_property
    def subscriptions(self) -> dict[str, frozenset[str]]:
        """Downstream name -> the states it takes; read on every event, fixed at start."""
        return {d.name: d.events for d in self.config.downstreams}

    @functools.cached_property
    def claim_policy(self) -> ClaimPolicy:
        c = self.config.settings.callbacks
        return ClaimPolicy(
            c.trust_body,
            c.corroborate_seconds,
            c.min_poll_gap_seconds,
            c.max_history_per_task,
            c.max_history_bytes_per_task,
        )

    def callback_url(self, task_id: str) -> str:
        return f"{self.config.public_url}/callbacks/runway/{self.signer.token_for(task_id)}"

    def deliveries_ready(self) -> None:
        """Wake the fan-out worker: new outbox rows are committed."""
        self._deliveries_ready.set()

    async def wait_for_deliveries(self, timeout: float) -> None:
        await _wait_and_clear(self._deliveries_ready, timeout)

    @functools.cached_property
    def media_links(self) -> MediaLinks:
        ttl = self.config.settings.media.url_ttl_seconds
        return MediaLinks(self.config.secrets.signing_keys, self.config.public_url, ttl)

    def mirrors_ready(self) -> None:
        """Wake the mirror worker: a finished render waits to be copied."""
        self._mirrors_ready.set()

    async def wait_for_mirrors(self, timeout: float) -> None:
        await _wait_and_clear(self._mirrors_ready, timeout)

    def polls_ready(self) -> None:
        """Wake the poller: a callback brought a task's poll forward."""
        self._polls_ready.set()

    async def wait_for_polls(self, timeout: float) -> None:
        await _wait_and_clear(self._polls_ready, timeout)

    async def close(self) -> None:
        """Give this process's leases back, then close its connections. Call it only once
        no poll or delivery is in flight: other processes may take the rows at once."""
        try:
            await self.store.release_leases(self.owner)
        except Exception:
            self.log.exception("service.release_leases_failed")
        await self.comet.aclose()
        await self.store.close()


async def _wait_and_clear(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()
