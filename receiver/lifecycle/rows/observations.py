"""What is learnt of a task, written: its events, its new state, the verdicts on callbacks'
claims, and a finished render's copies started in the transaction that records it (one
mirror job for the event's files, its deliveries held until the copy ends; receiver/media/
takes the job from there). When it is polled next is polls.py's; its place in the queue,
receiver/tasks/rows/queue.py's. What to write is decided by the stories, with the rules;
these functions only read and write rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rules.records import Task


@dataclass(frozen=True)
class Locked:
    """A task locked for the transaction, with what only the transitions read of it."""

    task: Task
    replaced_upstream_ids: list[str]  # upstream tasks it was sent as before, and failed
    callback_count: int
    callback_bytes: int
    last_polled_at: float | None


LOCKED_TASK = Sql(
    # BEGIN IMMEDIATE already holds the only write lock: a plain read.
    sqlite="SELECT * FROM tasks WHERE id = ?",
    # Locked: a replica recording a report on the same task waits for this one to commit.
    postgres="SELECT * FROM tasks WHERE id = ? FOR UPDATE",
)


def lock_task(db: Db, task_id: str) -> Locked | None:
    """The task, locked against other writers until the transaction ends."""
    row = db.one(LOCKED_TASK, (task_id,))
    if row is None:
        return None
    return Locked(
        Task.from_row(row),
        orjson.loads(row["replaced_upstream_ids"]),
        row["callback_count"],
        row["callback_bytes"],
        row["last_polled_at"],
    )


ADVANCE_TASK = Sql(
    "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
    " point = ?, refund = ?, progress = ?, updated_at = ?, terminal_at = ? WHERE id = ?"
)

END_TASK = Sql(
    "UPDATE tasks SET state = ?, upstream_status = ?, outputs = ?, thumbnail = ?, error = ?,"
    " point = ?, refund = ?, progress = ?, updated_at = ?, terminal_at = ?, next_poll_at = NULL"
    " WHERE id = ?"
)

BIND_UPSTREAM = Sql("UPDATE tasks SET upstream_task_id = ? WHERE id = ?")


def write_state(db: Db, before: Task, after: Task) -> None:
    """The task as `after` has it, from `before`. SQLite rewrites an index whenever the SET
    names one of its columns, changed or not (upstream_task_id and next_poll_at are
    indexed): the common path names none of the columns that seldom change, and each of
    those has its own UPDATE when it does. A final state also ends the polls; the poll
    lease stays, for its holder's finish must still apply."""
    db.execute(
        ADVANCE_TASK if after.terminal_at is None else END_TASK,
        (
            after.state,
            after.upstream_status,
            orjson.dumps(after.outputs).decode(),
            after.thumbnail,
            after.error,
            after.point,
            after.refund,
            after.progress,
            after.updated_at,
            after.terminal_at,
            after.id,
        ),
    )
    if after.upstream_task_id != before.upstream_task_id:
        db.execute(BIND_UPSTREAM, (after.upstream_task_id, after.id))


SET_TASK_COST = Sql("UPDATE tasks SET point = ?, refund = ? WHERE id = ?")


def set_cost(db: Db, task_id: str, point: float | None, refund: float | None) -> None:
    db.execute(SET_TASK_COST, (point, refund, task_id))


SET_PROGRESS = Sql("UPDATE tasks SET progress = ?, updated_at = ? WHERE id = ?")


def set_progress(db: Db, task_id: str, progress: float | None, now: float) -> None:
    db.execute(SET_PROGRESS, (progress, now, task_id))


LEAVE_QUEUE = Sql("UPDATE tasks SET submit_due_at = NULL WHERE id = ?")


def leave_queue(db: Db, task_id: str) -> None:
    """A task that ended, or was taken back, no longer waits to be sent."""
    db.execute(LEAVE_QUEUE, (task_id,))
