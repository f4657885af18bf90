"""The deliveries as the outbox holds them: every one, or an app's own, and a pull
downstream's events, each in one snapshot."""

from __future__ import annotations

from typing import Any

from receiver.kernel.store import Store
from receiver.outbox.rows import pulls as pull_rows
from receiver.outbox.rows.lists import (
    event_documents,
    last_delivered,
    list_app_deliveries,
    list_deliveries,
    newest_event,
)
from receiver.outbox.rows.pulls import Readable
from receiver.outbox.rules.delivery import Delivery, DeliveryFilter
from receiver.outbox.rules.event_types import type_of


async def deliveries(store: Store, wanted: DeliveryFilter) -> list[Delivery]:
    return await store.read(lambda db: list_deliveries(db, wanted))


async def app_deliveries(
    store: Store, app_id: str, wanted: DeliveryFilter, delivery_id: str | None = None
) -> list[Delivery]:
    """An app's deliveries: its downstreams' and its own tasks' webhooks'."""
    return await store.read(lambda db: list_app_deliveries(db, app_id, wanted, delivery_id))


async def types_of(store: Store, deliveries: list[Delivery]) -> dict[str, str]:
    """The type of the event each of these deliveries carries, by event id."""
    ids = [d.event_id for d in deliveries]
    documents = await store.read(lambda db: event_documents(db, ids))
    return {event_id: type_of(document) for event_id, document in documents.items()}


async def newest_event_of(store: Store, downstream: str) -> dict[str, Any] | None:
    """The newest event offered to the downstream (read apart: it sorts its deliveries)."""
    return await store.read(lambda db: newest_event(db, downstream), apart=True)


async def pulled(
    store: Store, downstream: str, after: tuple[float, str], until: float, limit: int
) -> Readable:
    """A pull downstream's events settled after `after` and by `until`, oldest first."""
    return await store.read(lambda db: pull_rows.pulled(db, downstream, after, until, limit))


async def pullable(store: Store, names: list[str]) -> dict[str, int]:
    """How many events each pull downstream holds to be read (kept for the retention
    period), in one snapshot."""
    return await store.read(lambda db: {n: pull_rows.count_pulled(db, n) for n in names})


async def last_delivered_to(store: Store, names: list[str]) -> dict[str, float]:
    """When each of these downstreams last had a delivery go through, in one snapshot."""
    return await store.read(lambda db: last_delivered(db, names))
