"""The submit queue in the store: tasks waiting for CometAPI (while `submit_due_at` is set),
claimed under the cap by one replica at a time, and each send and its outcome. A claim marks
a task in flight (`submit_owner`) in one commit right before the call: a send in flight is
never taken over, for no one can tell whether CometAPI took it."""

from __future__ import annotations

from dataclasses import astuple, replace

import orjson

from receiver.kernel.store.db import Db, Row, Sql
from receiver.lifecycle.rules.records import SubmitAttempt, SubmitJob, Task

SUBMIT_GATE = Sql(
    # BEGIN IMMEDIATE already holds the only write lock: a plain read.
    sqlite="SELECT paused_until, reason FROM submit_gate WHERE id = 1",
    # Locked: a replica claiming at the same time waits here, then counts what this one sent.
    postgres="SELECT paused_until, reason FROM submit_gate WHERE id = 1 FOR UPDATE",
)


def paused_until(db: Db) -> float:
    """Until when CometAPI asked every sender to wait; the gate row is locked, so replicas
    never pass the cap together."""
    gate = db.one(SUBMIT_GATE)
    return float(gate["paused_until"]) if gate else 0.0


RUNNING_UPSTREAM = Sql(
    "SELECT COUNT(*) AS n FROM tasks WHERE state IN ('queued', 'running')"
    " AND (upstream_task_id IS NOT NULL OR submit_owner IS NOT NULL)"
)


def running_upstream(db: Db) -> int:
    """Tasks sent and not ended (what the cap counts): it reads every open task."""
    row = db.one(RUNNING_UPSTREAM)
    return int(row["n"]) if row else 0


# Each app's oldest waiting tasks, its line in the fair turns.
_LINES = (
    "SELECT due.id, due.owner, COALESCE(k.weight, 1) AS weight FROM ("
    "SELECT id, COALESCE(owner_key, '') AS owner,"
    " ROW_NUMBER() OVER (PARTITION BY owner_key ORDER BY id) AS place FROM tasks"
)
_DUE_LINES = (
    " WHERE submit_due_at IS NOT NULL AND submit_due_at <= ?) AS due"
    " LEFT JOIN apps k ON k.id = due.owner WHERE due.place <= ? ORDER BY due.id"
)
# SQLite is told to read the queue's own index: left to itself it walks tasks_owner,
# already in the window's order, which is every task ever stored (33 ms a claim at
# 60,000 tasks with none waiting, against microseconds).
DUE_LINES = Sql(
    sqlite=f"{_LINES} INDEXED BY tasks_submit_queue{_DUE_LINES}", postgres=_LINES + _DUE_LINES
)


def due_lines(db: Db, now: float, depth: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each key's oldest `depth` due waiting tasks (the admin's under ''), and its weight."""
    lines: dict[str, list[str]] = {}
    weights: dict[str, int] = {}
    for row in db.all(DUE_LINES, (now, depth)):
        lines.setdefault(row["owner"], []).append(row["id"])
        weights[row["owner"]] = int(row["weight"])
    return lines, weights


_DUE_SUBMITS = (
    "SELECT id, kind, request, state, upstream_task_id, submit_count, submit_since,"
    " resubmits, trace_context FROM tasks WHERE id = ANY(?) AND submit_due_at IS NOT NULL"
)
DUE_SUBMITS = Sql(sqlite=_DUE_SUBMITS, postgres=f"{_DUE_SUBMITS} FOR UPDATE SKIP LOCKED")


def due(db: Db, task_ids: list[str]) -> list[Row]:
    """Those of these tasks still waiting, in order, none another transaction is claiming."""
    by_id = {row["id"]: row for row in db.all(DUE_SUBMITS, (db.array(task_ids),))}
    return [by_id[i] for i in task_ids if i in by_id]


LAST_TURN = Sql("SELECT last_turn, turn_left FROM submit_gate WHERE id = 1")


def last_turn(db: Db) -> tuple[str | None, int]:
    """The key served last and how many more tasks its turn has."""
    row = db.one(LAST_TURN)
    return (row["last_turn"], int(row["turn_left"] or 0)) if row else (None, 0)


START_SUBMIT = Sql(
    "UPDATE tasks SET submit_owner = ?, submit_started_at = ?, submit_due_at = NULL,"
    " submit_count = submit_count + 1 WHERE id = ?"
)


def start(db: Db, row: Row, owner: str, now: float) -> SubmitJob:
    """Out of the queue and in flight for `owner`, in one commit, right before the call."""
    db.execute(START_SUBMIT, (owner, now, row["id"]))
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


BIND_SUBMISSION = Sql(
    "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, ?),"
    " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ? ELSE NULL END,"
    " updated_at = ? WHERE id = ?"
)


def bind(db: Db, task_id: str, upstream_task_id: str, next_poll_at: float, now: float) -> None:
    """CometAPI took the task: its id bound (unless a callback was first), its poll due."""
    db.execute(BIND_SUBMISSION, (upstream_task_id, next_poll_at, now, task_id))


ABANDON_SUBMIT = Sql("UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL WHERE id = ?")


def abandon(db: Db, task_id: str) -> None:
    """A send cut off: no longer in flight, whoever held it."""
    db.execute(ABANDON_SUBMIT, (task_id,))


END_SUBMIT = Sql(
    "UPDATE tasks SET submit_owner = NULL, submit_started_at = NULL, submit_due_at = ?,"
    " updated_at = ? WHERE id = ? AND submit_owner = ?"
)


def end_send(db: Db, job: SubmitJob, owner: str, retry_at: float | None, now: float) -> bool:
    """The send is over (queued again at `retry_at`, if set); False: no longer `owner`'s."""
    return bool(db.execute(END_SUBMIT, (retry_at, now, job.task_id, owner)))


ORPHANED_SUBMISSIONS = Sql(
    "SELECT id FROM tasks WHERE submit_owner IS NOT NULL AND submit_started_at < ?"
    " AND upstream_task_id IS NULL AND state IN ('queued', 'running')"
    " ORDER BY submit_started_at LIMIT ?"
)


def orphaned(db: Db, started_before: float, limit: int) -> list[str]:
    """Tasks whose send has been in flight since before `started_before`: cut off."""
    return [r["id"] for r in db.all(ORPHANED_SUBMISSIONS, (started_before, limit))]


SUBMIT_ATTEMPTS = Sql(
    "SELECT * FROM submit_attempts WHERE task_id = ? ORDER BY finished_at DESC, id DESC LIMIT ?"
)


def attempts(db: Db, task_id: str, limit: int) -> list[SubmitAttempt]:
    """The task's newest `limit` sends, oldest first."""
    rows = db.all(SUBMIT_ATTEMPTS, (task_id, limit))
    rows.reverse()
    return [SubmitAttempt.from_row(r) for r in rows]


def placed(db: Db, tasks: list[Task]) -> list[Task]:
    """The tasks with their place in the queue (1: sent next), those that are waiting."""
    return [_placed(db, t) if t.next_submit_at is not None else t for t in tasks]


# Counted down the queue's index to the task: cheaper than numbering the whole queue.
QUEUE_POSITION = Sql("SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL AND id <= ?")


def _placed(db: Db, task: Task) -> Task:
    row = db.one(QUEUE_POSITION, (task.id,))
    return replace(task, queue_position=int(row["n"])) if row else task


WAITING_SUBMITS = Sql("SELECT COUNT(*) AS n FROM tasks WHERE submit_due_at IS NOT NULL")


def counts(db: Db) -> dict[str, float]:
    """Gauges: tasks waiting to be sent, and tasks running upstream (what the cap counts)."""
    waiting = db.one(WAITING_SUBMITS)
    running = db.one(RUNNING_UPSTREAM)
    return {
        "submit_waiting": waiting["n"] if waiting else 0,
        "upstream_running": running["n"] if running else 0,
    }


LEAVE_QUEUE = Sql("UPDATE tasks SET submit_due_at = NULL WHERE id = ?")


def leave_queue(db: Db, task_id: str) -> None:
    """A task that ended, or was taken back, no longer waits to be sent."""
    db.execute(LEAVE_QUEUE, (task_id,))


REQUEUE_FAILED = Sql(
    "UPDATE tasks SET upstream_task_id = NULL, upstream_status = NULL, progress = NULL,"
    " progress_sent = NULL, progress_sent_at = NULL, next_poll_at = NULL, claim_since = NULL,"
    " replaced_upstream_ids = ?,"
    " submit_due_at = ?, submit_since = ?, resubmits = resubmits + 1, updated_at = ?"
    " WHERE id = ?"
)


def requeue(db: Db, task_id: str, replaced_upstream_ids: list[str], now: float) -> None:
    """Back to the submit queue, with the upstream ids it must no longer be bound to."""
    replaced = orjson.dumps(replaced_upstream_ids).decode()
    db.execute(REQUEUE_FAILED, (replaced, now, now, now, task_id))


INSERT_SUBMIT_ATTEMPT = Sql(
    "INSERT INTO submit_attempts (id, task_id, number, started_at, finished_at, status,"
    " error, outcome, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def keep(db: Db, attempt: SubmitAttempt) -> None:
    """The attempt's row: its columns are its fields, in order."""
    db.execute(INSERT_SUBMIT_ATTEMPT, astuple(attempt))
