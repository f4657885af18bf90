"""What is learnt of a task, written: its events, its new state, the verdicts on callbacks'
claims, when it is polled next. What to write is decided by the stories in
receiver/transitions/, with the domain's rules; these functions only read and write rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.events.rules.corroborate import Claim
from receiver.kernel.store.db import Db
from receiver.kernel.store.records import Task


@dataclass(frozen=True)
class Locked:
    """A task locked for the transaction, with what only the transitions read of it."""

    task: Task
    replaced_upstream_ids: list[str]  # upstream tasks it was sent as before, and failed
    callback_count: int
    callback_bytes: int


@dataclass(frozen=True)
class NewEvent:
    """One observation of a task as an event row; `document` is what downstreams receive."""

    id: str
    task_id: str
    source: str
    dedupe_key: str
    state: str | None
    upstream_status: str | None
    applied: bool
    at: float
    raw: str
    document: dict[str, Any]
    verdict: str | None
    verdict_at: float | None


def lock_task(db: Db, task_id: str) -> Locked | None:
    """The task, locked against other writers until the transaction ends."""
    row = db.one(db.sql.LOCKED_TASK, (task_id,))
    if row is None:
        return None
    return Locked(
        Task.from_row(row),
        orjson.loads(row["replaced_upstream_ids"]),
        row["callback_count"],
        row["callback_bytes"],
    )


def insert_event(db: Db, event: NewEvent) -> bool:
    """False when an event with this dedupe key is already stored (nothing is written)."""
    return bool(
        db.execute(
            db.sql.INSERT_EVENT,
            (
                event.id,
                event.task_id,
                event.source,
                event.dedupe_key,
                event.state,
                event.upstream_status,
                int(event.applied),
                event.at,
                event.raw,
                orjson.dumps(event.document).decode(),
                event.verdict,
                event.verdict_at,
            ),
        )
    )


def write_state(db: Db, before: Task, after: Task) -> None:
    """The task as `after` has it, from `before`. SQLite rewrites an index whenever the SET
    names one of its columns, changed or not (upstream_task_id and next_poll_at are
    indexed): the common path names none of the columns that seldom change, and each of
    those has its own UPDATE when it does. A final state also ends the polls; the poll
    lease stays, for its holder's finish must still apply."""
    db.execute(
        db.sql.ADVANCE_TASK if after.terminal_at is None else db.sql.END_TASK,
        (
            after.state,
            after.upstream_status,
            orjson.dumps(after.outputs).decode(),
            after.thumbnail,
            after.error,
            after.updated_at,
            after.terminal_at,
            after.id,
        ),
    )
    if (after.point, after.refund) != (before.point, before.refund):
        set_cost(db, after.id, after.point, after.refund)
    if after.progress != before.progress:
        set_progress(db, after.id, after.progress, after.updated_at)
    if after.upstream_task_id != before.upstream_task_id:
        db.execute(db.sql.BIND_UPSTREAM, (after.upstream_task_id, after.id))


def set_cost(db: Db, task_id: str, point: float | None, refund: float | None) -> None:
    db.execute(db.sql.SET_TASK_COST, (point, refund, task_id))


def bind_submission(
    db: Db, task_id: str, upstream_task_id: str, next_poll_at: float, now: float
) -> None:
    db.execute(db.sql.BIND_SUBMISSION, (upstream_task_id, next_poll_at, now, task_id))


def leave_queue(db: Db, task_id: str) -> None:
    db.execute(db.sql.LEAVE_QUEUE, (task_id,))


def count_callback(db: Db, task_id: str, size: int) -> None:
    db.execute(db.sql.COUNT_CALLBACK, (size, task_id))


def last_polled_at(db: Db, task_id: str) -> float | None:
    row = db.one(db.sql.LAST_POLLED, (task_id,))
    return row["last_polled_at"] if row else None


def bring_poll_forward(
    db: Db, task_id: str, upstream_task_id: str | None, due: float, now: float, claim: bool
) -> None:
    """Poll by `due`; `claim`: a callback's claim now waits for the poll's answer."""
    db.execute(db.sql.BRING_POLL_FORWARD, (claim, now, upstream_task_id, due, due, task_id))


def pending_claims(db: Db, task_id: str) -> list[Claim]:
    claims = []
    for r in db.all(db.sql.PENDING_CLAIMS, (task_id,)):
        outputs = tuple(orjson.loads(r["payload"])["outputs"])
        claims.append(Claim(r["id"], r["state"], outputs, r["received_at"]))
    return claims


def set_verdict(db: Db, event_id: str, verdict: str, now: float) -> None:
    db.execute(db.sql.SET_VERDICT, (verdict, now, event_id))


def set_progress(db: Db, task_id: str, progress: float | None, now: float) -> None:
    db.execute(db.sql.SET_PROGRESS, (progress, now, task_id))


def set_progress_sent(db: Db, task_id: str, progress: float, now: float) -> None:
    """The figure and time of the task's latest progress event."""
    db.execute(db.sql.SET_PROGRESS_SENT, (progress, now, task_id))


def set_poll_timing(
    db: Db, task_id: str, started_at: float | None, expected_end_at: float | None
) -> None:
    db.execute(db.sql.SET_POLL_TIMING, (started_at, expected_end_at, task_id))


def recent_durations(db: Db, timing_key: str, limit: int) -> list[float]:
    """Seconds from submit to end of the last finished tasks like this one, newest first."""
    return [r["seconds"] for r in db.all(db.sql.RECENT_DURATIONS, (timing_key, limit))]


def keep_duration(db: Db, timing_key: str, seconds: float, now: float, keep: int) -> None:
    """One more finished task in the history of its kind, of which the newest `keep` stay."""
    db.execute(db.sql.KEEP_DURATION, (timing_key, seconds, now))
    db.execute(db.sql.TRIM_DURATIONS, (timing_key, timing_key, keep - 1))


@dataclass(frozen=True)
class PollEnd:
    """A poll's lease given back, with when the task is polled next (None: never)."""

    task_id: str
    owner: str
    next_poll_at: float | None
    polled_at: float
    claim_since: float | None  # the oldest claim still waiting for CometAPI's word


def finish_poll(db: Db, end: PollEnd) -> None:
    db.execute(
        db.sql.FINISH_POLL,
        (end.next_poll_at, end.polled_at, end.claim_since, end.task_id, end.owner),
    )


def requeue(db: Db, task_id: str, replaced_upstream_ids: list[str], now: float) -> None:
    """Back to the submit queue, with the upstream ids it must no longer be bound to."""
    replaced = orjson.dumps(replaced_upstream_ids).decode()
    db.execute(db.sql.REQUEUE_FAILED, (replaced, now, now, now, task_id))
