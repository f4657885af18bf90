"""A task is cancelled: here and at once while it waits in the submit queue (it never
reaches CometAPI), else once CometAPI has accepted the cancel."""

from __future__ import annotations

import time

from receiver.kernel.events.rows import observations
from receiver.kernel.events.rules.reports import Observation
from receiver.kernel.events.rules.routing import Subscriptions
from receiver.kernel.events.rules.task import TERMINAL_STATES
from receiver.kernel.events.stories.observe import Audience, Report, observe, observed
from receiver.kernel.store import Recorded, Store
from receiver.kernel.store.db import Db

_NEVER_SENT = "cancelled before it was sent to CometAPI"


async def while_waiting(
    store: Store, task_id: str, subscriptions: Subscriptions
) -> Recorded | None:
    """None when the task is not waiting (sent, being sent, or ended)."""

    def write(db: Db) -> Recorded | None:
        locked = observations.lock_task(db, task_id)
        task = locked.task if locked else None
        if task is None or task.next_submit_at is None or task.state in TERMINAL_STATES:
            return None
        observations.leave_queue(db, task_id)
        report = Report("cancel", "cancel", Observation(state="cancelled", error=_NEVER_SENT))
        return observed(db, task_id, report, Audience(subscriptions), time.time())

    return await store.run(write)


async def upstream(store: Store, task_id: str, subscriptions: Subscriptions) -> Recorded:
    """CometAPI accepted the cancel of the task it runs."""
    obs = Observation(state="cancelled", upstream_status="CANCELLED")
    return await observe(store, task_id, Report("cancel", "cancel", obs), Audience(subscriptions))
