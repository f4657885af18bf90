"""Every read and write of the store, as plain functions over one open transaction.

They are synchronous and backend-neutral: a backend runs each one inside a transaction on
its own worker thread and supplies a `Db` that speaks its dialect. Keeping the logic here
means SQLite and PostgreSQL cannot drift apart in behaviour.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Protocol

import orjson

from receiver.parse import Observation
from receiver.persist.records import (
    Delivery,
    DeliveryJob,
    Event,
    NewTask,
    PollJob,
    Recorded,
    Task,
    new_id,
)
from receiver.persist.schema import MIGRATIONS
from receiver.states import TERMINAL_STATES, advances

Row = dict[str, Any]


class Db(Protocol):
    """One transaction on one connection, in `?` placeholder style."""

    #: Appended to SELECTs that claim rows, so concurrent replicas skip each other's rows.
    skip_locked: str
    #: Appended to a SELECT that must lock its row for the rest of the transaction.
    for_update: str
    #: After `FROM deliveries` in the claim: SQLite without ANALYZE statistics would sort
    #: every pending row through another index; this pins the due-time index.
    due_index: str

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]: ...
    def script(self, sql: str) -> None: ...
    def lock_migrations(self) -> None: ...


def migrate(db: Db) -> list[int]:
    """Apply the migrations this database lacks; safe when two processes start at once."""
    db.lock_migrations()
    db.script("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
    done = {row["version"] for row in db.all("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in MIGRATIONS:
        if version not in done:
            db.script(sql)
            db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            applied.append(version)
    return applied


def create_task(db: Db, new: NewTask, now: float) -> tuple[Task, bool]:
    """Insert a task in state `queued`; with an idempotency key seen before, the old task."""
    if new.idempotency_key:
        row = db.one("SELECT * FROM tasks WHERE idempotency_key = ?", (new.idempotency_key,))
        if row:
            return Task.from_row(row), False
    task_id = new_id("tsk")
    inserted = db.execute(
        "INSERT INTO tasks (id, kind, state, request, has_callback, idempotency_key,"
        " created_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING",
        (
            task_id,
            new.kind,
            json.dumps(new.request),
            int(new.has_callback),
            new.idempotency_key,
            now,
            now,
        ),
    )
    if not inserted:
        # A concurrent request with the same key committed first (PostgreSQL waited for it).
        row = db.one("SELECT * FROM tasks WHERE idempotency_key = ?", (new.idempotency_key,))
        assert row is not None
        return Task.from_row(row), False
    task = get_task(db, task_id)
    assert task is not None
    return task, True


def accept_submission(
    db: Db,
    task_id: str,
    upstream_task_id: str,
    raw: str,
    next_poll_at: float,
    subscriptions: dict[str, frozenset[str]],
    now: float,
) -> Recorded:
    """CometAPI took the task: bind its id, schedule the first poll, announce `queued`."""
    db.execute(
        "UPDATE tasks SET upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ? ELSE NULL END,"
        " updated_at = ? WHERE id = ?",
        (upstream_task_id, next_poll_at, now, task_id),
    )
    task = get_task(db, task_id)
    if task is None:
        return Recorded("unknown_task")
    obs = Observation(state="queued", upstream_task_id=upstream_task_id)
    event_id = _insert_event(db, task, "submit", "submit", obs, raw, task.state == "queued", now)
    if event_id is None or task.state != "queued":
        return Recorded("history", task, event_id)
    return Recorded(
        "applied", task, event_id, _fan_out(db, task, event_id, "queued", subscriptions, now)
    )


def get_task(db: Db, task_id: str) -> Task | None:
    row = db.one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    return Task.from_row(row) if row else None


def task_history(db: Db, task_id: str) -> tuple[list[Event], list[Delivery]]:
    events = db.all("SELECT * FROM events WHERE task_id = ? ORDER BY received_at, id", (task_id,))
    deliveries = db.all(
        "SELECT * FROM deliveries WHERE task_id = ? ORDER BY created_at, id", (task_id,)
    )
    return [Event.from_row(r) for r in events], [Delivery.from_row(r) for r in deliveries]


def list_tasks(db: Db, state: str | None, limit: int, before: str | None) -> list[Task]:
    clauses, params = [], []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if before:
        clauses.append("id < ?")
        params.append(before)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.all(f"SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ?", (*params, limit))
    return [Task.from_row(r) for r in rows]


def _event_payload(task: Task, event_id: str, obs: Observation, source: str, now: float) -> Row:
    """The document downstreams receive for this event, fixed when the event is recorded."""
    return {
        "event_id": event_id,
        "task_id": task.id,
        "upstream_task_id": task.upstream_task_id or obs.upstream_task_id,
        "kind": task.kind,
        "state": obs.state,
        "upstream_status": obs.upstream_status,
        "outputs": list(obs.outputs) or task.outputs,
        "thumbnail": obs.thumbnail or task.thumbnail,
        "error": obs.error,
        "source": source,
        "occurred_at": now,
    }


def _insert_event(
    db: Db,
    task: Task,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    applied: bool,
    now: float,
) -> str | None:
    """The event's id, or None when an event with this dedupe key is already stored."""
    event_id = new_id("evt")
    payload = _event_payload(task, event_id, obs, source, now)
    inserted = db.execute(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
        " received_at, raw, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (task_id, dedupe_key) DO NOTHING",
        (
            event_id,
            task.id,
            source,
            dedupe_key,
            obs.state,
            obs.upstream_status,
            int(applied),
            now,
            raw,
            orjson.dumps(payload).decode(),
        ),
    )
    return event_id if inserted else None


def _fan_out(
    db: Db,
    task: Task,
    event_id: str,
    state: str,
    subscriptions: dict[str, frozenset[str]],
    now: float,
) -> list[str]:
    """One outbox row per downstream subscribed to `state`, in the event's transaction."""
    delivery_ids = []
    for downstream, states in subscriptions.items():
        if state in states:
            delivery_id = new_id("msg")
            db.execute(
                "INSERT INTO deliveries (id, event_id, task_id, downstream, state,"
                " next_attempt_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                (delivery_id, event_id, task.id, downstream, now, now, now),
            )
            delivery_ids.append(delivery_id)
    return delivery_ids


def record(
    db: Db,
    task_id: str,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: dict[str, frozenset[str]],
    now: float,
) -> Recorded:
    """Record one observation of a task and, when it moves the task forward, its deliveries.

    One transaction: the event row, the task's new state and one outbox row per subscribed
    downstream commit together or not at all. Reports that do not advance the state are
    kept as history; exact repeats (same dedupe key) change nothing.
    """
    row = db.one(f"SELECT * FROM tasks WHERE id = ?{db.for_update}", (task_id,))
    if row is None:
        return Recorded("unknown_task")
    task = Task.from_row(row)
    if obs.upstream_task_id and task.upstream_task_id not in (None, obs.upstream_task_id):
        return Recorded("task_mismatch", task)
    applied = obs.state is not None and advances(task.state, obs.state)
    event_id = _insert_event(db, task, source, dedupe_key, obs, raw, applied, now)
    if event_id is None:
        return Recorded("duplicate", task)
    if not applied or obs.state is None:
        return Recorded("history", task, event_id)
    terminal = obs.state in TERMINAL_STATES
    # The row as the UPDATE leaves it (it is locked, or SQLite's only writer holds it), so
    # the caller gets the new task without reading it back.
    updated = replace(
        task,
        state=obs.state,
        upstream_status=obs.upstream_status,
        upstream_task_id=task.upstream_task_id
        if task.upstream_task_id is not None
        else obs.upstream_task_id,
        outputs=list(obs.outputs) or task.outputs,
        thumbnail=obs.thumbnail or task.thumbnail,
        error=obs.error,
        updated_at=now,
        terminal_at=now if terminal else None,
        next_poll_at=None if terminal else task.next_poll_at,
    )
    # Only the columns that change: SQLite rewrites an index whenever the SET names one of
    # its columns, changed or not (upstream_task_id and next_poll_at are indexed).
    sets = {
        "state": obs.state,
        "upstream_status": obs.upstream_status,
        "outputs": orjson.dumps(updated.outputs).decode(),
        "thumbnail": updated.thumbnail,
        "error": obs.error,
        "updated_at": now,
        "terminal_at": updated.terminal_at,
    }
    if updated.upstream_task_id != task.upstream_task_id:
        sets["upstream_task_id"] = updated.upstream_task_id
    if terminal:
        # The poll lease stays: its holder's reschedule_poll must still apply, or the
        # task, still due, would be polled again at once by any replica.
        sets["next_poll_at"] = None
    assignments = ", ".join(f"{column} = ?" for column in sets)
    db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*sets.values(), task_id))
    delivery_ids = _fan_out(db, task, event_id, obs.state, subscriptions, now)
    return Recorded("applied", updated, event_id, delivery_ids)


def claim_deliveries(db: Db, owner: str, now: float, lease: float, limit: int) -> list[DeliveryJob]:
    """Lease up to `limit` due deliveries to `owner`; expired leases are taken over."""
    rows = db.all(
        f"SELECT id FROM deliveries{db.due_index} WHERE state = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?)"
        f" ORDER BY next_attempt_at LIMIT ?{db.skip_locked}",
        (now, now, limit),
    )
    if not rows:
        return []
    ids = tuple(row["id"] for row in rows)
    marks = ", ".join("?" * len(ids))
    db.execute(
        f"UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})",
        (owner, now + lease, *ids),
    )
    full = db.all(
        "SELECT d.*, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
        f" WHERE d.id IN ({marks}) ORDER BY d.next_attempt_at",
        ids,
    )
    return [DeliveryJob(Delivery.from_row(row), orjson.loads(row["payload"])) for row in full]


def finish_attempt(
    db: Db,
    delivery_id: str,
    owner: str,
    state: str,
    next_attempt_at: float,
    status: int | None,
    error: str | None,
    now: float,
) -> bool:
    """Store one attempt's outcome; ignored when the lease was lost to another worker."""
    return bool(
        db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
            " last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL,"
            " lease_until = NULL,"
            " delivered_at = CASE WHEN ? = 'succeeded' THEN ? ELSE delivered_at END"
            " WHERE id = ? AND lease_owner = ? AND state = 'pending'",
            (state, next_attempt_at, status, error, now, state, now, delivery_id, owner),
        )
    )


def release_leases(db: Db, owner: str) -> None:
    """Give back what `owner` holds, so another worker (or the next start) takes it at once."""
    db.execute(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
        (owner,),
    )
    db.execute(
        "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE poll_lease_owner = ?",
        (owner,),
    )


def release_all_leases(db: Db, deliveries: bool, polls: bool) -> None:
    """At the start of the only process doing this work on the store (delivering, polling):
    every such lease belongs to a dead one."""
    if deliveries:
        db.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL"
            " WHERE lease_owner IS NOT NULL"
        )
    if polls:
        db.execute(
            "UPDATE tasks SET poll_lease_owner = NULL, poll_lease_until = NULL"
            " WHERE poll_lease_owner IS NOT NULL"
        )


def list_deliveries(
    db: Db, state: str | None, downstream: str | None, task_id: str | None, limit: int
) -> list[Delivery]:
    clauses, params = [], []
    for column, value in (("state", state), ("downstream", downstream), ("task_id", task_id)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.all(
        f"SELECT * FROM deliveries {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    return [Delivery.from_row(r) for r in rows]


def replay(db: Db, delivery_ids: list[str], now: float) -> int:
    """Put deliveries back in the queue for an immediate attempt, whatever their state."""
    count = 0
    for delivery_id in delivery_ids:
        count += db.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
            " lease_until = NULL, updated_at = ? WHERE id = ?",
            (now, now, delivery_id),
        )
    return count


def dead_letter_ids(db: Db, downstream: str) -> list[str]:
    rows = db.all(
        "SELECT id FROM deliveries WHERE state = 'dead' AND downstream = ? ORDER BY created_at",
        (downstream,),
    )
    return [r["id"] for r in rows]


def claim_polls(db: Db, owner: str, now: float, lease: float, limit: int) -> list[PollJob]:
    """Lease up to `limit` tasks due for a poll, so one replica polls each task at a time."""
    rows = db.all(
        "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks"
        " WHERE next_poll_at IS NOT NULL AND next_poll_at <= ?"
        " AND upstream_task_id IS NOT NULL"
        " AND (poll_lease_until IS NULL OR poll_lease_until < ?)"
        f" ORDER BY next_poll_at LIMIT ?{db.skip_locked}",
        (now, now, limit),
    )
    for row in rows:
        db.execute(
            "UPDATE tasks SET poll_lease_owner = ?, poll_lease_until = ? WHERE id = ?",
            (owner, now + lease, row["id"]),
        )
    return [
        PollJob(r["id"], r["kind"], r["upstream_task_id"], r["created_at"], r["poll_attempts"])
        for r in rows
    ]


def orphaned_submissions(db: Db, created_before: float, limit: int) -> list[str]:
    """Tasks whose submit never got CometAPI's answer (the process stopped mid-call)."""
    rows = db.all(
        "SELECT id FROM tasks WHERE upstream_task_id IS NULL AND state = 'queued'"
        " AND created_at < ? ORDER BY created_at LIMIT ?",
        (created_before, limit),
    )
    return [r["id"] for r in rows]


def reschedule_poll(db: Db, task_id: str, owner: str, next_poll_at: float | None) -> None:
    """After a poll: when to poll next (None: never), and give the lease back."""
    db.execute(
        "UPDATE tasks SET next_poll_at = CASE WHEN state IN ('queued', 'running') THEN ?"
        " ELSE NULL END, poll_attempts = poll_attempts + 1,"
        " poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE id = ? AND poll_lease_owner = ?",
        (next_poll_at, task_id, owner),
    )


def counts(db: Db) -> dict[str, int]:
    """Gauges for operators: tasks by state, deliveries by state."""
    out: dict[str, int] = {}
    for row in db.all("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state"):
        out[f"tasks_{row['state']}"] = row["n"]
    for row in db.all("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state"):
        out[f"deliveries_{row['state']}"] = row["n"]
    return out
