"""A task a worker could not handle, set aside: failed with the reason if it was unfinished,
and out of every queue, so that it never stops the worker again. It writes no event: the
task's own data may be what could not be written."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql

SET_TASK_ASIDE = Sql(
    "UPDATE tasks SET error = CASE WHEN state IN ('queued', 'running') THEN ? ELSE error END,"
    " state = CASE WHEN state IN ('queued', 'running') THEN 'failed' ELSE state END,"
    " terminal_at = COALESCE(terminal_at, ?), updated_at = ?, next_poll_at = NULL,"
    " poll_lease_owner = NULL, poll_lease_until = NULL, submit_due_at = NULL,"
    " submit_owner = NULL, submit_started_at = NULL WHERE id = ?"
)


async def set_aside(store: Store, task_id: str, reason: str) -> None:
    def write(db: Db) -> None:
        now = time.time()
        db.execute(SET_TASK_ASIDE, (reason, now, now, task_id))

    await store.run(write)
