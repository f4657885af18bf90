"""The transactions of receiver/tasks/transactions.py as the store tests call them, with a
task's steps that no worker takes alone (CometAPI's answer to a send, bound without a
claimed send)."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.keys.rules import NO_LIMITS
from receiver.lifecycle.rules.records import NewTask, Recorded, Task
from receiver.lifecycle.transactions.observe import Audience
from receiver.outbox.rules.delivery import Subscriptions
from receiver.tasks import transactions as task_transactions
from receiver.tasks.transactions import Accepted, bind
from tests.testkit import listed


async def accept_for(
    store: Store,
    task_id: str,
    upstream_task_id: str,
    raw: str,
    next_poll_at: float,
    subscriptions: Subscriptions,
) -> Recorded:
    """CometAPI took the task: its id bound and the first poll due at `next_poll_at`."""
    accepted = Accepted(upstream_task_id, raw, next_poll_at)
    audience = Audience(listed(subscriptions))
    return await store.run(lambda db: bind(db, task_id, accepted, audience, "submit", time.time()))


async def make_task(store: Store, new: NewTask) -> tuple[Task, bool]:
    """A task made as the API makes one, through the intake story, under no key's limits."""
    return await task_transactions.queue(store, new, NO_LIMITS)
