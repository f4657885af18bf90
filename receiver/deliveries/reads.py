"""The deliveries as the outbox holds them: every one, or an app's own, in one snapshot."""

from __future__ import annotations

from receiver.kernel.events.rows import outbox
from receiver.kernel.store import (
    Delivery,
    Store,
)


async def deliveries(
    store: Store,
    state: str | None = None,
    downstream: str | None = None,
    task_id: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    return await store.read(
        lambda db: outbox.list_deliveries(db, state, downstream, task_id, limit)
    )


async def app_deliveries(
    store: Store,
    app_id: str,
    state: str | None,
    downstream: str | None,
    task_id: str | None,
    delivery_id: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """An app's deliveries: its downstreams' and its own tasks' webhooks'."""
    return await store.read(
        lambda db: outbox.app_deliveries(db, app_id, state, downstream, task_id, delivery_id, limit)
    )
