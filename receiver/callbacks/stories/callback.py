"""A callback arrives: kept as a claim, and CometAPI is asked about its task soon.

CometAPI does not sign callbacks, so the claim changes the task only under `trust_body`.
On a task that has ended it is judged at once against what CometAPI said; otherwise it
waits, `pending`, for the poll it brings forward (never sooner than `min_poll_gap` after
the last poll, so a flood of callbacks is not a flood of calls to CometAPI). Past the
task's history bound nothing is stored: the callback only brings the poll forward.
"""

from __future__ import annotations

import time
from dataclasses import replace

from receiver.callbacks.stories.poll_budget import claim_one
from receiver.kernel.events.rows import observations, polls
from receiver.kernel.events.rules.claims import (
    ClaimPolicy,
    judge_on_ended,
    over_history_bound,
    poll_due,
)
from receiver.kernel.events.rules.corroborate import PENDING, claim_of
from receiver.kernel.events.rules.observation import Observation
from receiver.kernel.events.rules.routing import Subscriptions
from receiver.kernel.events.rules.states import TERMINAL_STATES
from receiver.kernel.events.stories.observe import Audience, Report, lock, record
from receiver.kernel.handoff import PollLease
from receiver.kernel.store import Recorded, Store
from receiver.kernel.store.db import Db, Sql


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


COUNT_CALLBACK = Sql(
    "UPDATE tasks SET callback_count = callback_count + 1,"
    " callback_bytes = callback_bytes + ? WHERE id = ?"
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
            _bring_poll_forward(db, task.id, obs, policy, claim=False, now=now)
        return Recorded("over_limit", task)
    verdict: str | None = PENDING
    if task.state in TERMINAL_STATES:
        verdict = judge_on_ended(task.state, task.outputs, obs, now)
    claim = replace(report, obs=obs, verdict=verdict)
    recorded = record(db, task, claim, audience, now, may_apply=policy.trust_body)
    if recorded.outcome == "duplicate":
        return recorded
    db.execute(COUNT_CALLBACK, (size, task.id))
    if verdict != PENDING:
        return recorded
    _bring_poll_forward(db, task.id, obs, policy, claim=True, now=now)
    if obs.upstream_task_id and task.upstream_task_id is None and task.next_submit_at:
        # CometAPI has it (a send that timed out got through): it is not sent again.
        observations.leave_queue(db, task.id)
    if take_poll is not None:
        recorded = replace(recorded, poll=claim_one(db, task.id, take_poll, now))
    return recorded


def _bring_poll_forward(
    db: Db, task_id: str, obs: Observation, policy: ClaimPolicy, claim: bool, now: float
) -> None:
    due = poll_due(now, polls.last_polled_at(db, task_id), policy)
    polls.bring_poll_forward(db, task_id, obs.upstream_task_id, due, now, claim)
