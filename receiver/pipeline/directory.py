"""Every downstream the relay delivers to: the config file's, fixed at start, and those made
through the API, read from the store.

Each process keeps its own copy and compares, every tick, when each managed downstream last
changed: a change made through any replica is in use everywhere within a tick, and one made
here at once. Their secrets are opened here, from the sealed values the store keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from receiver.adapters.sealing import Sealer, Unsealable
from receiver.config import Config, Downstream, ManagedDownstreamConfig, managed_downstream
from receiver.domain.routing import Subscription
from receiver.observability import logs
from receiver.persist import Store
from receiver.persist.managed import ManagedRow

REMOVED = "the downstream was removed"
# Ticks after a removal during which rows a slower replica still made for it are ended too.
_STRAGGLER_TICKS = 3


def subscription(d: Downstream) -> Subscription:
    return Subscription(d.events, frozenset(d.channels))


class Directory:
    def __init__(self, config: Config, store: Store, sealer: Sealer, log: Any) -> None:
        self.configured = {d.name: d for d in config.downstreams}
        self._store, self.sealer, self._log = store, sealer, log
        self._managed: dict[str, Downstream] = {}
        self._seen: list[tuple[str, float]] = []
        self.generation = 0  # grows with every change the fan-out must follow
        self._gone: dict[str, int] = {}  # removed lately -> ticks left to end stragglers
        self._subscriptions = {n: subscription(d) for n, d in self.configured.items()}

    @property
    def every(self) -> dict[str, Downstream]:
        return {**self.configured, **self._managed}

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """Downstream name -> the states and channels it takes; read on every event."""
        return self._subscriptions

    def knows(self, name: str) -> bool:
        """A downstream of this name exists (usable or not: a managed one whose secret does
        not open can still be disabled, enabled or removed)."""
        return name in self.configured or any(name == seen for seen, _ in self._seen)

    def get(self, name: str) -> Downstream | None:
        return self.configured.get(name) or self._managed.get(name)

    async def refresh(self) -> bool:
        """Read the managed downstreams again if any changed; True when one did."""
        await self._end_stragglers()
        seen = sorted(await self._store.managed_versions())
        if seen == self._seen:
            return False
        rows = await self._store.managed_downstreams()
        names = {row.name for row in rows}
        for name, _ in self._seen:
            if name not in names:
                self._gone[name] = _STRAGGLER_TICKS
        self._managed = {d.name: d for row in rows if (d := self._open(row)) is not None}
        self._seen = sorted((row.name, row.changed_at) for row in rows)
        self._subscriptions = {n: subscription(d) for n, d in self.every.items()}
        self.generation += 1
        return True

    async def _end_stragglers(self) -> None:
        """A replica that had not seen a removal yet may have queued deliveries for it:
        they end as dead letters too, for a few ticks after."""
        for name, left in list(self._gone.items()):
            if name not in self._managed:
                await self._store.end_deliveries(name, REMOVED)
            if left <= 1:
                del self._gone[name]
            else:
                self._gone[name] = left - 1

    def _open(self, row: ManagedRow) -> Downstream | None:
        """A row as a downstream; None (and a log line) when it cannot be used: its secret
        was sealed under a key this relay no longer has, or its settings no longer pass."""
        try:
            settings = ManagedDownstreamConfig.model_validate({**row.spec, "name": row.name})
            secret = self.sealer.open(row.sealed_secret, row.name)
            previous = (
                self.sealer.open(row.sealed_previous, row.name) if row.sealed_previous else None
            )
        except (Unsealable, ValidationError) as exc:
            self._log.error("downstream.unusable", downstream=row.name, reason=str(exc)[:200])
            return None
        d = managed_downstream(settings, secret, previous, row.previous_until)
        # Never in a log line, nor in an error kept from a receiver's answer.
        url_secrets = [d.url if d.url_is_secret else None, urlsplit(d.url).password]
        logs.add_secrets([secret, previous, *url_secrets])
        return d

    async def reseal(self) -> int:
        """Seal again, under the newest key, every secret sealed under an older one (after
        the relay's secret was rotated); how many downstreams."""
        count = 0
        for row in await self._store.managed_downstreams():
            sealed = [row.sealed_secret, row.sealed_previous]
            if all(s is None or self.sealer.is_current(s) for s in sealed):
                continue
            try:
                opened = [self.sealer.open(s, row.name) if s else None for s in sealed]
            except Unsealable:
                continue  # refresh() says so
            secret, previous = (self.sealer.seal(s, row.name) if s else None for s in opened)
            assert secret is not None
            await self._store.reseal_managed(row.name, secret, previous)
            count += 1
        return count

    async def start(self) -> None:
        """At a process's start: re-seal what an older key sealed, then read them all."""
        if resealed := await self.reseal():
            self._log.info("downstream.resealed", downstreams=resealed)
        await self.refresh()

    async def run(self, stopping: asyncio.Event, every: float) -> None:
        """Follow the store's changes until `stopping` is set."""
        while not stopping.is_set():
            try:
                await self.refresh()
            except Exception:
                self._log.exception("directory.refresh_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every)
