"""A callback kept as a claim, in one transaction: CometAPI does not sign callbacks, so the
claim changes the task only under `trust_body`. On a task that has ended it is judged at once
against what CometAPI said; otherwise it waits, `pending`, for the poll it brings forward
(never sooner than `min_poll_gap` after the last poll, so a flood of callbacks is not a flood
of calls to CometAPI), and that poll, due at once, may be leased in the same transaction to
the process that took the callback (`claim_one`). Past the task's history bound nothing is
stored: the callback only brings the poll forward. The poll's answer settles the claim
(`polls.py`).
"""

from __future__ import annotations

import time
from dataclasses import replace

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rows.tasks import polls, states, submits
from receiver.lifecycle.rows.tasks.states import Locked
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import PollJob, Recorded
from receiver.lifecycle.rules.reports import (
    PENDING,
    ClaimPolicy,
    Observation,
    claim_of,
    judge_on_ended,
    over_history_bound,
    poll_due,
)
from receiver.lifecycle.rules.routing import Subscriptions
from receiver.lifecycle.rules.task import TERMINAL_STATES
from receiver.lifecycle.transactions.observe import Audience, Report, lock, record


async def arrive(
    store: Store,
    report: Report,
    task_id: str,
    subscriptions: Subscriptions,
    policy: ClaimPolicy,
    take_poll: PollLease | None = None,
) -> Recorded:
    """Keep the callback `report` on `task_id` in one transaction. With `take_poll`, a poll
    due at once is leased here to its owner and returned, so that
    it runs without a claim transaction of its own. The answer may go out once this
    returns: the claim is committed."""
    audience = Audience(subscriptions)
    return await store.run(
        lambda db: arrived(db, task_id, report, audience, policy, take_poll, time.time())
    )


def arrived(
    db: Db,
    task_id: str,
    report: Report,
    audience: Audience,
    policy: ClaimPolicy,
    take_poll: PollLease | None,
    now: float,
) -> Recorded:
    obs = claim_of(report.obs)  # its credits are never taken: only CometAPI's answer prices
    locked = lock(db, task_id, obs)
    if isinstance(locked, Recorded):
        return locked
    task = locked.task
    size = len(report.raw.encode())
    if over_history_bound(locked.callback_count, locked.callback_bytes, size, policy):
        if task.state not in TERMINAL_STATES:
            _bring_poll_forward(db, locked, obs, policy, claim=False, now=now)
        return Recorded("over_limit", task)
    verdict: str | None = PENDING
    if task.state in TERMINAL_STATES:
        verdict = judge_on_ended(task.state, task.outputs, obs, now)
    claim = replace(report, obs=obs, verdict=verdict)
    recorded = record(db, task, claim, audience, now, may_apply=policy.trust_body)
    if recorded.outcome == "duplicate":
        return recorded
    states.count_callback(db, task.id, size)
    if verdict != PENDING:
        return recorded
    _bring_poll_forward(db, locked, obs, policy, claim=True, now=now)
    if obs.upstream_task_id and task.upstream_task_id is None and task.next_submit_at:
        # CometAPI has it (a send that timed out got through): it is not sent again.
        submits.leave_queue(db, task.id)
    if take_poll is not None:
        recorded = replace(recorded, poll=claim_one(db, task.id, take_poll, now))
    return recorded


def _bring_poll_forward(
    db: Db, locked: Locked, obs: Observation, policy: ClaimPolicy, claim: bool, now: float
) -> None:
    due = poll_due(now, locked.last_polled_at, policy)
    polls.bring_poll_forward(db, locked.task.id, obs.upstream_task_id, due, now, claim)


def claim_one(db: Db, task_id: str, lease: PollLease, now: float) -> PollJob | None:
    """A callback's own poll, leased in its transaction unless a 429 holds polls. Under a
    budget it is left to the next claim, which takes the polls of callbacks first: taking
    the budget's lock in every callback's transaction would queue the callbacks behind it."""
    if lease.max_per_second is not None:
        return None
    return polls.claim_poll(db, task_id, lease.owner, now, lease.seconds)
