"""A submit: waiting tasks claimed under the concurrency cap, and each send accepted or
refused by CometAPI, or cut off.

A claim takes a task out of the queue and marks it in flight in one commit, right before
the call: a send in flight is never taken over, for no one can tell whether CometAPI took
it. What follows a refusal (wait and send again, or fail) is
receiver/kernel/events/rules/queue.py's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from receiver.kernel.events.rows import observations, polls
from receiver.kernel.events.rules.polling import PollRule
from receiver.kernel.events.rules.queue import Refused, free_slots
from receiver.kernel.events.rules.reports import Observation
from receiver.kernel.events.rules.routing import Subscriptions
from receiver.kernel.events.rules.task import NOT_SERVED, TERMINAL_STATES, is_passed_through
from receiver.kernel.events.stories.observe import Audience, Report, fan_out, insert_event, observed
from receiver.kernel.store import Recorded, Store, SubmitAttempt, SubmitJob
from receiver.kernel.store.db import Db, Sql
from receiver.retention import rows as retention
from receiver.tasks.rows import queue as submit_queue
from receiver.tasks.rows.tasks import get_task
from receiver.tasks.rules.turns import take_turns
from receiver.tasks.stories import schedule


async def claim(store: Store, owner: str, cap: int | None, limit: int) -> list[SubmitJob]:
    """Up to `limit` waiting tasks that are due, as many as the cap leaves room for, in
    flight for `owner`: key by key in turn, each key's oldest first."""
    return await store.run(lambda db: _claim(db, owner, cap, limit, time.time()))


SET_LAST_TURN = Sql("UPDATE submit_gate SET last_turn = ?, turn_left = ? WHERE id = 1")


def _claim(db: Db, owner: str, cap: int | None, limit: int, now: float) -> list[SubmitJob]:
    paused_until = submit_queue.paused_until(db)
    if free_slots(cap, 0, paused_until, now) == 0:
        return []
    lines, weights = submit_queue.due_lines(db, now, limit)
    slots = limit
    if lines and cap is not None:
        # Counted only when a cap applies and something waits: every open task is read.
        slots = min(
            limit, free_slots(cap, submit_queue.running_upstream(db), paused_until, now) or 0
        )
    after, left = submit_queue.last_turn(db)
    turns = take_turns(lines, after, slots, weights, left)
    if not turns.chosen:
        return []
    db.execute(SET_LAST_TURN, (turns.last, turns.left))
    due = submit_queue.due(db, turns.chosen)
    jobs = []
    for row in due:
        if row["state"] in TERMINAL_STATES or row["upstream_task_id"] is not None:
            # Ended while it waited, or bound by its callback after a send that timed out.
            observations.leave_queue(db, row["id"])
            continue
        jobs.append(submit_queue.start(db, row, owner, now))
    return jobs


@dataclass(frozen=True)
class Accepted:
    """CometAPI took the task: its id there and its answer, and when to poll it first: at a
    time, or (a callback-route task) at the end of its grace period unless the rule brings
    it forward to where tasks like it usually end, in case its callback is lost."""

    upstream_task_id: str
    raw: str
    next_poll_at: float | tuple[float, PollRule]


async def accepted(
    store: Store,
    job: SubmitJob,
    owner: str,
    accepted: Accepted,
    attempt: SubmitAttempt,
    subscriptions: Subscriptions,
) -> Recorded:
    """The send is over, its id is bound, the first poll is due, `queued` is announced (a
    task sent again after a retryable failure announces nothing new)."""

    def write(db: Db) -> Recorded:
        now = time.time()
        submit_queue.end_send(db, job, owner, None, now)
        submit_queue.keep(db, attempt)
        key = f"submit:resubmit:{job.resubmits}" if job.resubmits else "submit"
        return bind(db, job.task_id, accepted, Audience(subscriptions), key, now)

    return await store.run(write)


BIND_SUBMISSION = Sql(
    "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, ?),"
    " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ? ELSE NULL END,"
    " updated_at = ? WHERE id = ?"
)


def bind(
    db: Db, task_id: str, accepted: Accepted, audience: Audience, key: str, now: float
) -> Recorded:
    """CometAPI's id bound to the task, and `queued` announced the first time (`key`: the
    send's, so that a repeat changes nothing)."""
    upstream = accepted.upstream_task_id
    when = accepted.next_poll_at
    grace_at, rule = when if isinstance(when, tuple) else (when, None)
    db.execute(BIND_SUBMISSION, (upstream, grace_at, now, task_id))
    task = get_task(db, task_id)
    if task is None:
        return Recorded("unknown_task")
    if rule is not None:
        due = schedule.first_poll(db, task, grace_at, rule)
        polls.bring_poll_forward(db, task_id, None, due, now, claim=False)
    obs = Observation(state="queued", upstream_task_id=upstream)
    first = task.state == "queued"
    event_id = insert_event(db, task, Report("submit", key, obs, accepted.raw), first, now)
    if event_id is None or not first:
        return Recorded("history", task, event_id)
    delivery_ids = fan_out(db, task, event_id, "queued", audience.subscriptions, now)
    return Recorded("applied", task, event_id, delivery_ids)


PAUSE_SUBMITS = Sql(
    "UPDATE submit_gate SET paused_until = ?, reason = ? WHERE id = 1 AND paused_until < ?"
)


async def refused(
    store: Store,
    job: SubmitJob,
    owner: str,
    refusal: Refused,
    attempt: SubmitAttempt,
    subscriptions: Subscriptions,
) -> Recorded | None:
    """CometAPI did not take the task: back in the queue until `retry_at`, or failed with
    the reason (the recorded failure; None when it waits again, or when the send is not
    `owner`'s any more and nothing of it is decided here)."""

    def write(db: Db) -> Recorded | None:
        now = time.time()
        retry_at = refusal.retry_at if refusal.outcome == "retry" else None
        if not submit_queue.end_send(db, job, owner, retry_at, now):
            return None
        submit_queue.keep(db, attempt)
        if refusal.pause_until is not None:
            db.execute(
                PAUSE_SUBMITS,
                (refusal.pause_until, f"CometAPI: {refusal.error}", refusal.pause_until),
            )
        if refusal.outcome == "retry":
            return None
        if is_passed_through(job.kind) and attempt.status in NOT_SERVED:
            # A route passed through that CometAPI does not serve: the call could never be
            # made, so nothing of it is kept or delivered (the front door says so).
            retention.remove(db, [job.task_id])
            return None
        failed = Observation(state="failed", error=f"submit: {refusal.error}")
        report = Report("submit", "submit:refused", failed, refusal.error)
        return observed(db, job.task_id, report, Audience(subscriptions), now)

    return await store.run(write)


async def orphaned(store: Store, started_before: float, limit: int = 100) -> list[str]:
    """Tasks whose send has been in flight since before `started_before`: cut off."""
    return await store.run(lambda db: submit_queue.orphaned(db, started_before, limit))


ABANDON_SUBMIT = Sql("UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL WHERE id = ?")


async def fail_orphan(store: Store, task_id: str, subscriptions: Subscriptions) -> Recorded:
    """A send cut off (the process stopped mid-call) and never bound by a callback: failed,
    for whether CometAPI took it cannot be known, and sending it again could run it twice."""
    error = "submission interrupted: the relay stopped before CometAPI answered"
    report = Report("submit", "submit:orphaned", Observation(state="failed", error=error))

    def write(db: Db) -> Recorded:
        db.execute(ABANDON_SUBMIT, (task_id,))
        return observed(db, task_id, report, Audience(subscriptions), time.time())

    return await store.run(write)
