"""A task's state as what is learnt of it moves it: the task locked for the transaction
that records a report, its new state, its credits and progress, the progress last told,
the callbacks it was sent, its own webhook gone, and a task set aside. When it is polled
next is polls.py's; its place in the submit queue, submits.py's. What to write is decided
by the transactions, with the rules; these functions only read and write rows.
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
    replaced = row["replaced_upstream_ids"]
    return Locked(
        Task.from_row(row),
        # Almost always none: the empty list is not decoded, twice a corroborated callback.
        [] if replaced == "[]" else orjson.loads(replaced),
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


SET_PROGRESS_SENT = Sql("UPDATE tasks SET progress_sent = ?, progress_sent_at = ? WHERE id = ?")


def set_progress_sent(db: Db, task_id: str, progress: float, now: float) -> None:
    """The progress a progress event told, and when: the next is told from there."""
    db.execute(SET_PROGRESS_SENT, (progress, now, task_id))


COUNT_CALLBACK = Sql(
    "UPDATE tasks SET callback_count = callback_count + 1,"
    " callback_bytes = callback_bytes + ? WHERE id = ?"
)


def count_callback(db: Db, task_id: str, size: int) -> None:
    """One more callback kept for the task, of `size` bytes (its history's bound)."""
    db.execute(COUNT_CALLBACK, (size, task_id))


SET_TASK_ROUTING = Sql("UPDATE tasks SET routing = ? WHERE id = ?")


def mark_webhook_gone(db: Db, task_id: str, now: float) -> bool:
    """The task's own webhook marked gone: its later events make no row for it. False when
    there is no such task."""
    row = db.one(LOCKED_TASK, (task_id,))
    if row is None:
        return False
    routing = orjson.loads(row["routing"]) if row["routing"] else {}
    routing["webhook_gone_at"] = now
    db.execute(SET_TASK_ROUTING, (orjson.dumps(routing).decode(), task_id))
    return True


SET_TASK_ASIDE = Sql(
    "UPDATE tasks SET error = CASE WHEN state IN ('queued', 'running') THEN ? ELSE error END,"
    " state = CASE WHEN state IN ('queued', 'running') THEN 'failed' ELSE state END,"
    " terminal_at = COALESCE(terminal_at, ?), updated_at = ?, next_poll_at = NULL,"
    " poll_lease_owner = NULL, poll_lease_until = NULL, submit_due_at = NULL,"
    " submit_owner = NULL, submit_started_at = NULL WHERE id = ?"
)


def set_aside(db: Db, task_id: str, reason: str, now: float) -> None:
    """Failed with `reason` if it was unfinished, and out of every queue (no event)."""
    db.execute(SET_TASK_ASIDE, (reason, now, now, task_id))
