"""The submit queue in the store: tasks waiting for CometAPI, claimed under the concurrency
cap by one replica at a time, each send and its outcome, and waiting tasks cancelled here.

A task waits while `submit_due_at` is set. A claim takes it out of the queue and marks it
in flight (`submit_owner`) in one commit, right before the call: a send in flight is never
taken over, for no one can tell whether CometAPI took it. The rules (how many may go, what
follows a refusal) are receiver/domain/queue.py's.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from receiver.domain.observation import Observation
from receiver.domain.queue import Refused, free_slots
from receiver.domain.routing import Subscriptions
from receiver.domain.states import TERMINAL_STATES
from receiver.persist import observations
from receiver.persist.db import Db
from receiver.persist.records import Recorded, SubmitAttempt, SubmitJob, Task


def claim(db: Db, owner: str, now: float, cap: int | None, limit: int) -> list[SubmitJob]:
    """Take up to `limit` waiting tasks that are due, oldest first, as many as the cap
    leaves room for, and mark them in flight for `owner`. The gate row is locked first, so
    replicas count and claim one at a time and never pass the cap together."""
    gate = db.one(db.sql.SUBMIT_GATE)
    paused_until = gate["paused_until"] if gate else 0.0
    if free_slots(cap, 0, paused_until, now) == 0:
        return []
    due = db.all(db.sql.DUE_SUBMITS, (now, limit))
    if due and cap is not None:
        # Counted only when a cap applies and something waits: it reads every open task,
        # and every task that ends wakes this claim.
        running = db.one(db.sql.RUNNING_UPSTREAM)
        slots = free_slots(cap, running["n"] if running else 0, paused_until, now)
        due = due[: slots or 0]
    jobs = []
    for row in due:
        if row["state"] in TERMINAL_STATES or row["upstream_task_id"] is not None:
            # Ended while it waited, or bound by its callback after a send that timed out.
            db.execute(db.sql.LEAVE_QUEUE, (row["id"],))
            continue
        db.execute(db.sql.START_SUBMIT, (owner, now, row["id"]))
        jobs.append(
            SubmitJob(
                row["id"],
                row["kind"],
                orjson.loads(row["request"]),
                row["submit_count"] + 1,
                row["submit_since"],
                row["resubmits"],
                now,
            )
        )
    return jobs


def _keep(db: Db, attempt: SubmitAttempt) -> None:
    db.execute(
        db.sql.INSERT_SUBMIT_ATTEMPT,
        (
            attempt.id,
            attempt.task_id,
            attempt.number,
            attempt.started_at,
            attempt.finished_at,
            attempt.status,
            attempt.error,
            attempt.outcome,
            attempt.retry_at,
        ),
    )


def accepted(
    db: Db,
    job: SubmitJob,
    owner: str,
    upstream_task_id: str,
    raw: str,
    next_poll_at: float,
    attempt: SubmitAttempt,
    subscriptions: Subscriptions,
    now: float,
) -> Recorded:
    """CometAPI took the task: the send is over, its id is bound, the first poll is due."""
    db.execute(db.sql.END_SUBMIT, (None, now, job.task_id, owner))
    _keep(db, attempt)
    key = f"submit:resubmit:{job.resubmits}" if job.resubmits else "submit"
    return observations.accept_submission(
        db, job.task_id, upstream_task_id, raw, next_poll_at, subscriptions, now, key
    )


def refused(
    db: Db,
    job: SubmitJob,
    owner: str,
    refusal: Refused,
    attempt: SubmitAttempt,
    subscriptions: Subscriptions,
    now: float,
) -> Recorded | None:
    """CometAPI did not take the task: back in the queue until `retry_at`, or failed with
    the reason (the recorded failure; None when it waits again)."""
    retry_at = refusal.retry_at if refusal.outcome == "retry" else None
    if not db.execute(db.sql.END_SUBMIT, (retry_at, now, job.task_id, owner)):
        return None  # not this process's send any more: nothing of it is decided here
    _keep(db, attempt)
    if refusal.pause_until is not None:
        reason = f"CometAPI: {refusal.error}"
        db.execute(db.sql.PAUSE_SUBMITS, (refusal.pause_until, reason, refusal.pause_until))
    if refusal.outcome == "retry":
        return None
    obs = Observation(state="failed", error=f"submit: {refusal.error}")
    return observations.record(
        db, job.task_id, "submit", "submit:refused", obs, refusal.error, subscriptions, now
    )


def cancel_waiting(
    db: Db, task_id: str, subscriptions: Subscriptions, now: float
) -> Recorded | None:
    """Cancel a task that is still waiting in the queue, here and at once: it never reaches
    CometAPI. None when it is not waiting (sent, being sent, or ended)."""
    row = db.one(db.sql.LOCKED_TASK, (task_id,))
    if row is None or row["submit_due_at"] is None or row["state"] in TERMINAL_STATES:
        return None
    db.execute(db.sql.LEAVE_QUEUE, (task_id,))
    obs = Observation(state="cancelled", error="cancelled before it was sent to CometAPI")
    return observations.record(db, task_id, "cancel", "cancel", obs, "", subscriptions, now)


def fail_orphan(db: Db, task_id: str, subscriptions: Subscriptions, now: float) -> Recorded:
    """A send cut off (the process stopped mid-call) and never bound by a callback: failed,
    for whether CometAPI took it cannot be known, and sending it again could run it twice."""
    db.execute(db.sql.ABANDON_SUBMIT, (task_id,))
    obs = Observation(
        state="failed",
        error="submission interrupted: the relay stopped before CometAPI answered",
    )
    return observations.record(
        db, task_id, "submit", "submit:orphaned", obs, "", subscriptions, now
    )


def orphaned(db: Db, started_before: float, limit: int) -> list[str]:
    """Tasks whose send has been in flight since before `started_before`: cut off."""
    return [r["id"] for r in db.all(db.sql.ORPHANED_SUBMISSIONS, (started_before, limit))]


def attempts(db: Db, task_id: str, limit: int) -> list[SubmitAttempt]:
    """The task's newest `limit` sends, oldest first."""
    rows = db.all(db.sql.SUBMIT_ATTEMPTS, (task_id, limit))
    rows.reverse()
    return [SubmitAttempt.from_row(r) for r in rows]


def placed(db: Db, tasks: list[Task]) -> list[Task]:
    """The tasks with their place in the queue (1: sent next), those that are waiting."""
    return [_placed(db, t) if t.next_submit_at is not None else t for t in tasks]


def _placed(db: Db, task: Task) -> Task:
    row = db.one(db.sql.QUEUE_POSITION, (task.id,))
    return replace(task, queue_position=int(row["n"])) if row else task


def counts(db: Db) -> dict[str, float]:
    """Gauges: tasks waiting to be sent, and tasks running upstream (what the cap counts)."""
    waiting = db.one(db.sql.WAITING_SUBMITS)
    running = db.one(db.sql.RUNNING_UPSTREAM)
    return {
        "submit_waiting": waiting["n"] if waiting else 0,
        "upstream_running": running["n"] if running else 0,
    }
