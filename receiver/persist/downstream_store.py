"""The store's methods for downstreams: every one's health, and the rows of those made
through the API (a part of `Store`, kept apart to keep each file small)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from receiver.domain.routing import Subscriptions
from receiver.persist import downstreams, managed
from receiver.persist.db import Db
from receiver.persist.downstreams import DownstreamHealth
from receiver.persist.managed import ManagedRow

T = TypeVar("T")


class DownstreamMethods(ABC):
    @abstractmethod
    async def _run(
        self,
        fn: Callable[[Db], T],
        timeout: float | None = 0.0,
        durable: bool = True,
        urgent: bool = True,
    ) -> T: ...

    async def register_downstreams(self, names: list[str]) -> None:
        await self._run(lambda db: downstreams.register(db, names))

    async def downstream_health(self, names: list[str]) -> list[DownstreamHealth]:
        return await self._run(lambda db: downstreams.health(db, names))

    async def disabled_downstreams(self) -> set[str]:
        return await self._run(downstreams.disabled_names)

    async def disable_downstream(
        self, name: str, reason: str, subscriptions: Subscriptions
    ) -> bool:
        return await self._run(
            lambda db: downstreams.disable(db, name, reason, time.time(), subscriptions)
        )

    async def enable_downstream(self, name: str, recover_since: float | None) -> int:
        return await self._run(lambda db: downstreams.enable(db, name, recover_since, time.time()))

    async def note_breaker(self, name: str, state: str) -> None:
        await self._run(lambda db: downstreams.note_breaker(db, name, state, time.time()))

    async def managed_versions(self) -> list[tuple[str, float]]:
        return await self._run(managed.versions)

    async def managed_downstreams(self) -> list[ManagedRow]:
        return await self._run(managed.every)

    async def managed_downstream(self, name: str) -> ManagedRow:
        return await self._run(lambda db: managed.one(db, name))

    async def create_managed(self, name: str, spec: dict[str, Any], sealed: str) -> ManagedRow:
        return await self._run(lambda db: managed.create(db, name, spec, sealed, time.time()))

    async def change_managed(self, name: str, spec: dict[str, Any]) -> ManagedRow:
        return await self._run(lambda db: managed.change(db, name, spec, time.time()))

    async def rotate_managed(
        self, name: str, sealed: str, sealed_previous: str | None, overlap: float
    ) -> None:
        def rotate(db: Db) -> None:
            now = time.time()
            managed.rotate(db, name, sealed, sealed_previous, now + overlap, now)

        await self._run(rotate)

    async def reseal_managed(self, name: str, sealed: str, sealed_previous: str | None) -> None:
        await self._run(lambda db: managed.reseal(db, name, sealed, sealed_previous))

    async def remove_managed(self, name: str, reason: str) -> int:
        return await self._run(lambda db: managed.remove(db, name, reason, time.time()))

    async def end_deliveries(self, downstream: str, reason: str) -> int:
        return await self._run(
            lambda db: managed.end_deliveries(db, downstream, reason, time.time())
        )
