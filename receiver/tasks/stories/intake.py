"""A task comes in: stored, waiting in the submit queue, unless its API key's own limits
(receiver/keys/rules/limits.py) refuse it.

A key with limits is locked before its tasks are counted, in the transaction that inserts
the new one, so that two submits on two replicas cannot both take its last place. A repeat
of an earlier request (the same Idempotency-Key) answers that request's task and counts
for nothing.
"""

from __future__ import annotations

import time

from receiver.kernel.errors import LimitReached
from receiver.kernel.store import NewTask, Store, Task
from receiver.kernel.store.db import Db
from receiver.keys.rows import keys
from receiver.keys.rules.limits import KeyLimits, Usage, day_start, freeing_offset, over_limit
from receiver.tasks.rows import queue as submit_queue
from receiver.tasks.rows import tasks

INPUTS_SECONDS = 30.0


async def queue(store: Store, new: NewTask, limits: KeyLimits) -> tuple[Task, bool]:
    """The task, with its place in the queue, and whether it is new (False: a repeat);
    LimitReached when the key that makes it is at one of its limits."""
    # Thousands of data URIs, or tens of MiB of one, take longer to write than the store's
    # usual deadline, which is made for the rows of one task.
    timeout = INPUTS_SECONDS if new.inputs else 0.0
    return await store.run(lambda db: _queue(db, new, limits, time.time()), timeout=timeout)


def _queue(db: Db, new: NewTask, limits: KeyLimits, now: float) -> tuple[Task, bool]:
    if new.owner_key is not None and limits.any:
        # The row's limits, read under its lock, are the ones that count.
        locked = KeyLimits(*keys.locked_limits(db, new.owner_key))
        if tasks.replayed(db, new) is None:
            _refuse_over_limit(db, new.owner_key, locked, now)
    task, created = tasks.create_task(db, new, now)
    return submit_queue.placed(db, [task])[0], created


def _refuse_over_limit(db: Db, key_id: str, limits: KeyLimits, now: float) -> None:
    since = day_start(now)
    made = keys.tasks_since(db, key_id, since) if limits.max_per_day is not None else 0
    offset = freeing_offset(limits, made)
    usage = Usage(
        keys.open_tasks(db, key_id) if limits.max_queued is not None else 0,
        made,
        None if offset is None else keys.task_made_at(db, key_id, since, offset),
    )
    refused = over_limit(limits, usage, now)
    if refused is not None:
        raise LimitReached(refused.reason, refused.limit, refused.retry_after)
