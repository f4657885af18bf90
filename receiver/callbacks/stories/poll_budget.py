"""Which due polls go now: the nearest their end first, as many as the replicas' one budget
allows (receiver/callbacks/rules/poll_budget.py), each leased to the process that will make it.
"""

from __future__ import annotations

import time

from receiver.callbacks.rules.poll_budget import Bucket, give_back, held, take
from receiver.kernel.events.rows import polls
from receiver.kernel.handoff import PollLease
from receiver.kernel.store import PollJob, Store
from receiver.kernel.store.db import Db, Sql

SET_POLL_BUDGET = Sql("UPDATE poll_budget SET tokens = ?, refilled_at = ? WHERE id = 1")


def _settle(db: Db, lease: PollLease, before: Bucket, after: Bucket, unused: int) -> None:
    left = give_back(after, unused, lease.max_per_second)
    if left != before:
        db.execute(SET_POLL_BUDGET, (left.tokens, left.at))


def claim_due(db: Db, lease: PollLease, limit: int, now: float) -> list[PollJob]:
    """Lease up to `limit` due polls within the budget, in one transaction."""
    before = Bucket(*polls.poll_budget(db))
    granted, after = take(before, now, lease.max_per_second, limit)
    jobs = polls.claim_polls(db, lease.owner, now, (lease.seconds, lease.ceiling), granted)
    _settle(db, lease, before, after, granted - len(jobs))
    return jobs


def claim_one(db: Db, task_id: str, lease: PollLease, now: float) -> PollJob | None:
    """A callback's own poll, leased in its transaction unless a 429 holds polls. Under a
    budget it is left to the next claim, which takes the polls of callbacks first: taking
    the budget's lock in every callback's transaction would queue the callbacks behind it."""
    if lease.max_per_second is not None or now < polls.polls_held_until(db):
        return None
    return polls.claim_poll(db, task_id, lease.owner, now, lease.seconds)


async def claim(store: Store, lease: PollLease, limit: int) -> list[PollJob]:
    return await store.run(lambda db: claim_due(db, lease, limit, time.time()), durable=False)


async def hold(store: Store, wait: float) -> None:
    """CometAPI's 429 on a poll: every replica's polls wait `wait` seconds."""

    def empty(db: Db) -> None:
        bucket = Bucket(*polls.poll_budget(db))
        after = held(bucket, time.time(), wait)
        db.execute(SET_POLL_BUDGET, (after.tokens, after.at))

    await store.run(empty, durable=False)
