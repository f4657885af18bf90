"""How a task changes on the way to CometAPI, one transaction each: taken in (`queue`), sent
or refused (`claim`, `accepted`, `refused`), cancelled (`while_waiting`, `upstream`). A key
with limits is locked before its tasks are counted, in the transaction that inserts the new
one, so that two submits on two replicas cannot both take its last place."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from receiver.kernel.errors import LimitReached
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.keys.rules import KeyLimits, Usage, day_start, freeing_offset, over_limit
from receiver.lifecycle.rows.tasks import intake, submits, tracking
from receiver.lifecycle.rules.queue import free_slots, take_turns
from receiver.lifecycle.rules.records import NewTask, Recorded, SubmitAttempt, SubmitJob, Task
from receiver.lifecycle.rules.retries import Refused
from receiver.lifecycle.rules.task import (
    NOT_SERVED,
    TERMINAL_STATES,
    Observation,
    is_passed_through,
)
from receiver.lifecycle.transactions.observe import (
    Audience,
    Report,
    fan_out,
    insert_event,
    observe,
    observed,
)
from receiver.outbox.rules.delivery import Subscribers
from receiver.retention import rows as retention

INPUTS_SECONDS = 30.0


async def queue(store: Store, new: NewTask, limits: KeyLimits) -> tuple[Task, bool]:
    """The task, with its place in the queue, and whether it is new (or LimitReached)."""
    # Thousands of data URIs, or tens of MiB of one, take longer to write than the store's
    # usual deadline, which is made for the rows of one task.
    timeout = INPUTS_SECONDS if new.inputs else 0.0
    return await store.run(lambda db: _queue(db, new, limits, time.time()), timeout=timeout)


def _queue(db: Db, new: NewTask, limits: KeyLimits, now: float) -> tuple[Task, bool]:
    if new.owner_key is not None and limits.any:
        # The row's limits, read under its lock, are the ones that count.
        locked = KeyLimits(*intake.locked_limits(db, new.owner_key))
        if intake.replayed(db, new) is None:
            _refuse_over_limit(db, new.owner_key, locked, now)
    task, created = intake.create_task(db, new, now)
    return submits.placed(db, [task])[0], created


def _refuse_over_limit(db: Db, key_id: str, limits: KeyLimits, now: float) -> None:
    since = day_start(now)
    made = intake.tasks_since(db, key_id, since) if limits.max_per_day is not None else 0
    offset = freeing_offset(limits, made)
    usage = Usage(
        intake.open_tasks(db, key_id) if limits.max_queued is not None else 0,
        made,
        None if offset is None else intake.task_made_at(db, key_id, since, offset),
    )
    refused = over_limit(limits, usage, now)
    if refused is not None:
        raise LimitReached(refused.reason, refused.limit, refused.retry_after)


async def claim(
    store: Store,
    owner: str,
    cap: int | None,
    limit: int,
    per_app: int | None = None,
    held: Mapping[str, int] | None = None,
) -> list[SubmitJob]:
    """Up to `limit` due waiting tasks, as many as the cap leaves room for, in flight for
    `owner`: key by key in turn; none of an app past `per_app` sends in flight (with `held`)."""
    return await store.run(
        lambda db: _claim(db, owner, cap, limit, time.time(), per_app, held or {})
    )


SET_LAST_TURN = Sql("UPDATE submit_gate SET last_turn = ?, turn_left = ? WHERE id = 1")


def _claim(
    db: Db,
    owner: str,
    cap: int | None,
    limit: int,
    now: float,
    per_app: int | None,
    held: Mapping[str, int],
) -> list[SubmitJob]:
    paused_until = submits.paused_until(db)
    if free_slots(cap, 0, paused_until, now) == 0:
        return []
    lines, weights = submits.due_lines(db, now, limit)
    if per_app is not None:
        # An app whose sends fill its share waits for one of them to end: its line is cut.
        lines = {app: line[: max(0, per_app - held.get(app, 0))] for app, line in lines.items()}
    slots = limit
    if any(lines.values()) and cap is not None:
        # Counted only when a cap applies and something waits: every open task is read.
        slots = min(limit, free_slots(cap, submits.running_upstream(db), paused_until, now) or 0)
    after, left = submits.last_turn(db)
    turns = take_turns(lines, after, slots, weights, left)
    if not turns.chosen:
        return []
    db.execute(SET_LAST_TURN, (turns.last, turns.left))
    apps = {task_id: app for app, line in lines.items() for task_id in line}
    due = submits.due(db, turns.chosen)
    jobs = []
    for row in due:
        if row["state"] in TERMINAL_STATES or row["upstream_task_id"] is not None:
            # Ended while it waited, or bound by its callback after a send that timed out.
            submits.leave_queue(db, row["id"])
            continue
        jobs.append(replace(submits.start(db, row, owner, now), app=apps[row["id"]]))
    return jobs


@dataclass(frozen=True)
class Accepted:
    """CometAPI took the task: its id there and its answer, and when to poll it first."""

    upstream_task_id: str
    raw: str
    next_poll_at: float


async def accepted(
    store: Store,
    job: SubmitJob,
    owner: str,
    accepted: Accepted,
    attempt: SubmitAttempt,
    subscribers: Subscribers,
) -> Recorded:
    """The send is over, its id bound, the first poll due, `queued` announced once."""

    def write(db: Db) -> Recorded:
        now = time.time()
        submits.end_send(db, job, owner, None, now)
        submits.keep(db, attempt)
        key = f"submit:resubmit:{job.resubmits}" if job.resubmits else "submit"
        return bind(db, job.task_id, accepted, Audience(subscribers), key, now)

    return await store.run(write)


def bind(
    db: Db, task_id: str, accepted: Accepted, audience: Audience, key: str, now: float
) -> Recorded:
    """CometAPI's id bound to the task, and `queued` announced the first time."""
    upstream = accepted.upstream_task_id
    submits.bind(db, task_id, upstream, accepted.next_poll_at, now)
    task = intake.get_task(db, task_id)
    if task is None:
        return Recorded("unknown_task")
    obs = Observation(state="queued", upstream_task_id=upstream)
    first = task.state == "queued"
    event_id = insert_event(db, task, Report("submit", key, obs, accepted.raw), first, now)
    if event_id is None or not first:
        return Recorded("history", task, event_id)
    delivery_ids, _ = fan_out(db, task, event_id, "queued", audience, now)
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
    subscribers: Subscribers,
) -> Recorded | None:
    """CometAPI did not take the task: back in the queue until `retry_at` (None), or failed
    with the reason (the recorded failure)."""

    def write(db: Db) -> Recorded | None:
        now = time.time()
        retry_at = refusal.retry_at if refusal.outcome == "retry" else None
        if not submits.end_send(db, job, owner, retry_at, now):
            return None
        submits.keep(db, attempt)
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
        return observed(db, job.task_id, report, Audience(subscribers), now)

    return await store.run(write)


_NEVER_SENT = "cancelled before it was sent to CometAPI"


async def while_waiting(store: Store, task_id: str, subscribers: Subscribers) -> Recorded | None:
    """None when the task is not waiting (sent, being sent, or ended)."""

    def write(db: Db) -> Recorded | None:
        locked = tracking.lock_task(db, task_id)
        task = locked.task if locked else None
        if task is None or task.next_submit_at is None or task.state in TERMINAL_STATES:
            return None
        submits.leave_queue(db, task_id)
        report = Report("cancel", "cancel", Observation(state="cancelled", error=_NEVER_SENT))
        return observed(db, task_id, report, Audience(subscribers), time.time())

    return await store.run(write)


async def upstream(store: Store, task_id: str, subscribers: Subscribers) -> Recorded:
    """CometAPI accepted the cancel of the task it runs."""
    obs = Observation(state="cancelled", upstream_status="CANCELLED")
    return await observe(store, task_id, Report("cancel", "cancel", obs), Audience(subscribers))
