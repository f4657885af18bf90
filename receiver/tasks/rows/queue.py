"""The submit queue in the store: tasks waiting for CometAPI, claimed under the concurrency
cap by one replica at a time, each send and its outcome, and waiting tasks cancelled here.

A task waits while `submit_due_at` is set. A claim takes it out of the queue and marks it
in flight (`submit_owner`) in one commit, right before the call: a send in flight is never
taken over, for no one can tell whether CometAPI took it. What is written is decided in
receiver/tasks/stories/submit.py, by receiver/kernel/events/rules/queue.py's rules.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from receiver.kernel.store.db import Db, Row
from receiver.kernel.store.records import SubmitAttempt, SubmitJob, Task


def paused_until(db: Db) -> float:
    """Until when CometAPI asked every sender to wait; the gate row is locked, so replicas
    count and claim one at a time and never pass the cap together."""
    gate = db.one(db.sql.SUBMIT_GATE)
    return float(gate["paused_until"]) if gate else 0.0


def running_upstream(db: Db) -> int:
    """Tasks sent and not ended (what the cap counts): it reads every open task."""
    row = db.one(db.sql.RUNNING_UPSTREAM)
    return int(row["n"]) if row else 0


def due_lines(db: Db, now: float, depth: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each key's oldest `depth` waiting tasks that are due (the admin token's under ''),
    and each key's weight."""
    lines: dict[str, list[str]] = {}
    weights: dict[str, int] = {}
    for row in db.all(db.sql.DUE_LINES, (now, depth)):
        lines.setdefault(row["owner"], []).append(row["id"])
        weights[row["owner"]] = int(row["weight"])
    return lines, weights


def due(db: Db, task_ids: list[str]) -> list[Row]:
    """Those of these tasks still waiting, in the order given, none another transaction
    is claiming."""
    by_id = {row["id"]: row for row in db.all(db.sql.DUE_SUBMITS, (db.array(task_ids),))}
    return [by_id[i] for i in task_ids if i in by_id]


def last_turn(db: Db) -> tuple[str | None, int]:
    """The key served last and how many more tasks its turn has."""
    row = db.one(db.sql.LAST_TURN)
    return (row["last_turn"], int(row["turn_left"] or 0)) if row else (None, 0)


def set_last_turn(db: Db, key: str | None, left: int) -> None:
    db.execute(db.sql.SET_LAST_TURN, (key, left))


def start(db: Db, row: Row, owner: str, now: float) -> SubmitJob:
    """Out of the queue and in flight for `owner`, in one commit, right before the call."""
    db.execute(db.sql.START_SUBMIT, (owner, now, row["id"]))
    return SubmitJob(
        row["id"],
        row["kind"],
        orjson.loads(row["request"]),
        row["submit_count"] + 1,
        row["submit_since"],
        row["resubmits"],
        now,
        row["trace_context"],
    )


def keep(db: Db, attempt: SubmitAttempt) -> None:
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


def end_send(db: Db, job: SubmitJob, owner: str, retry_at: float | None, now: float) -> bool:
    """The send is over (back in the queue at `retry_at`, if set); False when it is not
    `owner`'s send any more, and nothing was written."""
    return bool(db.execute(db.sql.END_SUBMIT, (retry_at, now, job.task_id, owner)))


def pause(db: Db, until: float, reason: str) -> None:
    """Every replica's sends wait until then."""
    db.execute(db.sql.PAUSE_SUBMITS, (until, reason, until))


def abandon(db: Db, task_id: str) -> None:
    """A send cut off: no longer in flight, and not sent again."""
    db.execute(db.sql.ABANDON_SUBMIT, (task_id,))


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
