"""What the live streams read: the changes after a moment, in one snapshot."""

from __future__ import annotations

from receiver.kernel.store import Store
from receiver.lifecycle.rules.records import Change
from receiver.stream import rows as change_rows


async def changes(
    store: Store, since: float, task_id: str | None = None, limit: int = 500
) -> list[Change]:
    """Tasks that changed and attempts that ended after `since`, oldest first."""
    return await store.read(lambda db: change_rows.changes(db, since, task_id, limit))
