"""What is learnt of a task once it has gone upstream: its state (locked for the transaction
that records a report), credits, progress and callbacks; and its polls: when the next is
due, who holds its lease, how long tasks of a kind take, and the replicas' one poll budget."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from receiver.kernel.store.db import Db, Row, Sql, record
from receiver.lifecycle.rules.records import PollJob, Task
from receiver.lifecycle.rules.task import Claim


@dataclass(frozen=True)
class Locked:
    """A task locked for the transaction, with what only the transitions read of it."""

    task: Task
    replaced_upstream_ids: list[str]  # upstream tasks it was sent as before, and failed
    callback_count: int
    callback_bytes: int
    last_polled_at: float | None
    poll_attempts: int


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
        row["poll_attempts"],
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
    names one of its columns, changed or not: the common path names none of the indexed
    columns that seldom change. A final state ends the polls; the lease stays, for its
    holder's finish must still apply."""
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
    """The task's own webhook marked gone (no row for it after); False: no such task."""
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


# Due polls nearest their task's end first: a callback's claim (its task says it has ended)
# at the claim's time, a task whose end is estimated at that end, and one with no estimate a
# ceiling past when it fell due; never later than that, so that nothing waits for ever.
_DUE_POLLS = (
    "SELECT id, kind, upstream_task_id, created_at, poll_attempts, trace_context FROM tasks"
    " WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
    " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
    " ORDER BY CASE WHEN claim_since IS NOT NULL THEN claim_since"
    " WHEN expected_end_at IS NULL OR expected_end_at > next_poll_at + CAST(? AS DOUBLE PRECISION)"
    " THEN next_poll_at + CAST(? AS DOUBLE PRECISION)"
    " WHEN expected_end_at > next_poll_at THEN expected_end_at ELSE next_poll_at END,"
    " next_poll_at LIMIT ?"
)


DUE_POLLS = Sql(sqlite=_DUE_POLLS, postgres=f"{_DUE_POLLS} FOR UPDATE SKIP LOCKED")
LEASE_POLL = Sql("UPDATE tasks SET poll_lease_owner = ?, poll_lease_until = ? WHERE id = ?")


def claim_polls(
    db: Db, owner: str, now: float, seconds: float, ceiling: float, limit: int
) -> list[PollJob]:
    """Lease up to `limit` tasks due for a poll for `seconds`, so one replica polls each task
    at a time, nearest their end first (none put further back than the polls' `ceiling`)."""
    rows = db.all(DUE_POLLS, (now, now, ceiling, ceiling, limit))
    for row in rows:
        db.execute(LEASE_POLL, (owner, now + seconds, row["id"]))
    return [_job(r) for r in rows]


POLL_BUDGET = Sql(
    sqlite="SELECT tokens, refilled_at FROM poll_budget WHERE id = 1",
    postgres="SELECT tokens, refilled_at FROM poll_budget WHERE id = 1 FOR UPDATE",
)


def poll_budget(db: Db) -> tuple[float, float]:
    """The replicas' poll budget, locked until the transaction ends: (tokens, refilled_at)."""
    row = db.one(POLL_BUDGET, ())
    return (row["tokens"], row["refilled_at"]) if row else (0.0, 0.0)


# A 429 holds every poll until the budget's refill time (read here without its lock).
LEASE_DUE_POLL = Sql(
    "UPDATE tasks SET poll_lease_owner = ?, poll_lease_until = ?"
    " WHERE id = ? AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
    " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
    " AND COALESCE((SELECT refilled_at FROM poll_budget WHERE id = 1), 0) <= ?"
    " RETURNING id, kind, upstream_task_id, created_at, poll_attempts, trace_context"
)


def claim_poll(db: Db, task_id: str, owner: str, now: float, lease: float) -> PollJob | None:
    """Lease one task's poll if it is due now, nobody holds it and no 429 holds the polls."""
    # Every row fetched (one at most), so that SQLite's statement is done before the commit.
    rows = db.all(LEASE_DUE_POLL, (owner, now + lease, task_id, now, now, now))
    return _job(rows[0]) if rows else None


def _job(row: Row) -> PollJob:
    return record(PollJob, row, task_id=row["id"])


BRING_POLL_FORWARD = Sql(
    "UPDATE tasks SET claim_since = CASE WHEN ? THEN COALESCE(claim_since, ?)"
    " ELSE claim_since END, upstream_task_id = COALESCE(upstream_task_id, ?),"
    " next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > ? THEN ?"
    " ELSE next_poll_at END, callback_count = callback_count + ?,"
    " callback_bytes = callback_bytes + ? WHERE id = ?"
)


def bring_poll_forward(
    db: Db,
    task_id: str,
    upstream_task_id: str | None,
    due: float,
    now: float,
    claim: bool,
    kept: int | None = None,
) -> None:
    """Poll by `due`; `claim`: a callback's claim now waits for the poll's answer; `kept`:
    the size of the callback kept with it, counted in the same statement."""
    counted = (0, 0) if kept is None else (1, kept)
    db.execute(BRING_POLL_FORWARD, (claim, now, upstream_task_id, due, due, *counted, task_id))


PENDING_CLAIMS = Sql(
    "SELECT id, state, payload, received_at FROM events WHERE task_id = ?"
    " AND verdict = 'pending' ORDER BY received_at"
)


def pending_claims(db: Db, task_id: str) -> list[Claim]:
    claims = []
    for r in db.all(PENDING_CLAIMS, (task_id,)):
        outputs = tuple(orjson.loads(r["payload"])["outputs"])
        claims.append(Claim(r["id"], r["state"], outputs, r["received_at"]))
    return claims


SET_POLL_TIMING = Sql("UPDATE tasks SET started_at = ?, expected_end_at = ? WHERE id = ?")


def set_poll_timing(
    db: Db, task_id: str, started_at: float | None, expected_end_at: float | None
) -> None:
    db.execute(SET_POLL_TIMING, (started_at, expected_end_at, task_id))


RECENT_DURATIONS = Sql(
    "SELECT seconds FROM task_durations WHERE timing_key = ? ORDER BY ended_at DESC LIMIT ?"
)


def recent_durations(db: Db, timing_key: str, limit: int) -> list[float]:
    """Seconds from submit to end of the last finished tasks like this one, newest first."""
    return [r["seconds"] for r in db.all(RECENT_DURATIONS, (timing_key, limit))]


KEEP_DURATION = Sql("INSERT INTO task_durations (timing_key, seconds, ended_at) VALUES (?, ?, ?)")


TRIM_DURATIONS = Sql(
    "DELETE FROM task_durations WHERE timing_key = ? AND ended_at < (SELECT ended_at"
    " FROM task_durations WHERE timing_key = ? ORDER BY ended_at DESC LIMIT 1 OFFSET ?)"
)


def keep_duration(db: Db, timing_key: str, seconds: float, now: float) -> None:
    """One more finished task in the history of its kind."""
    db.execute(KEEP_DURATION, (timing_key, seconds, now))


def trim_durations(db: Db, timing_key: str, keep: int) -> None:
    """The history of a kind cut to its newest `keep`."""
    db.execute(TRIM_DURATIONS, (timing_key, timing_key, keep - 1))


@dataclass(frozen=True)
class PollEnd:
    """A poll's lease given back, with when the task is polled next (None: never). A poll
    with no lease (a callback's, asked at once) is recorded only while no poller holds the
    task's lease: that poller's answer has the last word."""

    task_id: str
    owner: str | None
    next_poll_at: float | None
    polled_at: float
    claim_since: float | None  # the oldest claim still waiting for CometAPI's word


FINISH_POLL = Sql(
    "UPDATE tasks SET next_poll_at = ?, poll_attempts = poll_attempts + 1, last_polled_at = ?,"
    " claim_since = ?, poll_lease_owner = NULL, poll_lease_until = NULL"
    " WHERE id = ? AND poll_lease_owner = ?"
)

FINISH_UNLEASED_POLL = Sql(
    "UPDATE tasks SET next_poll_at = ?, poll_attempts = poll_attempts + 1, last_polled_at = ?,"
    " claim_since = ? WHERE id = ? AND (poll_lease_owner IS NULL OR poll_lease_until < ?)"
)


def finish_poll(db: Db, end: PollEnd) -> None:
    values = (end.next_poll_at, end.polled_at, end.claim_since, end.task_id)
    if end.owner is None:
        db.execute(FINISH_UNLEASED_POLL, (*values, end.polled_at))
    else:
        db.execute(FINISH_POLL, (*values, end.owner))


RELEASE_POLL_LEASES = Sql(
    "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL WHERE poll_lease_owner = ?"
)


def release_leases(db: Db, owner: str) -> None:
    """The polls `owner` holds, free for any poller."""
    db.execute(RELEASE_POLL_LEASES, (owner,))


RELEASE_ALL_POLL_LEASES = Sql(
    "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
    " WHERE poll_lease_owner IS NOT NULL"
)


def release_every_lease(db: Db) -> None:
    db.execute(RELEASE_ALL_POLL_LEASES)
