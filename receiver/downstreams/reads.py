"""The downstreams' health and those made through the API, in one snapshot."""

from __future__ import annotations

from receiver.kernel.store import Store
from receiver.lifecycle.rows import downstreams
from receiver.lifecycle.rows.downstreams import DownstreamHealth, ManagedRow


async def health(store: Store, names: list[str]) -> list[DownstreamHealth]:
    return await store.read(lambda db: downstreams.health(db, names))


async def downstreams_made(
    store: Store, names: list[str]
) -> tuple[list[ManagedRow], list[DownstreamHealth]]:
    """The downstreams made through the API, and the health of those `names`."""
    return await store.read(lambda db: (downstreams.every_made(db), downstreams.health(db, names)))
