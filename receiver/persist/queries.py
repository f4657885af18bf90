"""Every read and write of the store, as plain functions over one open transaction.

They are synchronous and backend-neutral: a backend runs each one inside a transaction and
supplies a `Db` (receiver/persist/dialect.py) that speaks its dialect. Keeping the logic
here means SQLite and PostgreSQL cannot drift apart in behaviour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import orjson

from receiver.domain.claims import (
    ClaimPolicy,
    judge_on_ended,
    next_poll,
    over_history_bound,
    poll_due,
    settle,
)
from receiver.domain.corroborate import PENDING, Claim, with_cost
from receiver.domain.document import event_document
from receiver.domain.observation import Observation, progress_fraction
from receiver.domain.retry import row_state
from receiver.domain.routing import recipients, waits_for_copy
from receiver.domain.states import TERMINAL_STATES, advances
from receiver.persist import downstreams, mirrors
from receiver.persist.dialect import Db, Row
from receiver.persist.records import (
    Activity,
    Attempt,
    Change,
    Delivery,
    DeliveryJob,
    Event,
    NewTask,
    PollJob,
    PollResult,
    Recorded,
    Settled,
    Task,
    TaskFilter,
    new_id,
)


def create_task(db: Db, new: NewTask, now: float) -> tuple[Task, bool]:
    """Insert a task in state `queued`; with an idempotency key seen before, the old task."""
    if new.idempotency_key:
        row = db.one("SELECT * FROM tasks WHERE idempotency_key = ?", (new.idempotency_key,))
        if row:
            return Task.from_row(row), False
    task_id = new_id("tsk")
    inserted = db.execute(
        "INSERT INTO tasks (id, kind, state, request, idempotency_key,"
        " created_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING",
        (
            task_id,
            new.kind,
            json.dumps(new.request),
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


def task_history(db: Db, task_id: str, limit: int) -> tuple[list[Event], list[Delivery]]:
    """The task's newest `limit` events and deliveries, oldest first; raw bodies stay in
    the store (a task's history is bounded, and its reader's cost with it)."""
    events = db.all(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE task_id = ?"
        " ORDER BY received_at DESC, id DESC LIMIT ?",
        (task_id, limit),
    )
    deliveries = db.all(
        "SELECT * FROM deliveries WHERE task_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        (task_id, limit),
    )
    events.reverse()
    deliveries.reverse()
    return [Event.from_row(r) for r in events], [Delivery.from_row(r) for r in deliveries]


_EVENT_COLUMNS = (
    "id, task_id, source, state, upstream_status, applied, received_at, verdict, verdict_at"
)


def event_bodies(db: Db, task_id: str, limit: int) -> dict[str, tuple[dict[str, Any], str]]:
    """The newest `limit` events' documents (with `media` once mirrored) and the raw bodies
    they came with, by event id: what an operator reads on the console's task page."""
    rows = db.all(
        "SELECT id, payload, raw FROM events WHERE task_id = ?"
        " ORDER BY received_at DESC, id DESC LIMIT ?",
        (task_id, limit),
    )
    return {r["id"]: (orjson.loads(r["payload"]), r["raw"]) for r in rows}


def list_tasks(db: Db, wanted: TaskFilter) -> list[Task]:
    clauses: list[str] = ["kind <> 'relay'"]
    params: list[object] = []
    for column, value in (("state", wanted.state), ("kind", wanted.kind)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if wanted.since is not None:
        clauses.append("created_at >= ?")
        params.append(wanted.since)
    if wanted.text:
        clauses.append("LOWER(request) LIKE ? ESCAPE '!'")
        params.append(f"%{_like(wanted.text.lower())}%")
    if wanted.before:
        clauses.append("id < ?")
        params.append(wanted.before)
    where = " AND ".join(clauses)
    rows = db.all(
        f"SELECT * FROM tasks WHERE {where} ORDER BY id DESC LIMIT ?", (*params, wanted.limit)
    )
    return [Task.from_row(r) for r in rows]


def _like(text: str) -> str:
    """`text` matched literally by LIKE (its wildcards escaped with `!`). The request is
    stored as JSON, so the text is matched as JSON writes it."""
    quoted = orjson.dumps(text).decode()[1:-1]
    return quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _insert_event(
    db: Db,
    task: Task,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    applied: bool,
    now: float,
    verdict: str | None = None,
) -> str | None:
    """The event's id, or None when an event with this dedupe key is already stored."""
    event_id = new_id("evt")
    payload = event_document(task, event_id, obs, source, now)
    inserted = db.execute(
        "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
        " received_at, raw, payload, verdict, verdict_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?) ON CONFLICT (task_id, dedupe_key) DO NOTHING",
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
            verdict,
            None if verdict in (None, PENDING) else now,
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
    hold: bool = False,
) -> list[str]:
    """One outbox row per downstream subscribed to `state`, in the event's transaction;
    held, not pending, for a downstream that is disabled, and `mirroring` while the
    event's files are being copied (`hold`)."""
    delivery_ids = []
    disabled = downstreams.disabled_names(db) if subscriptions else set()
    for downstream, first_state in recipients(state, subscriptions, disabled, hold):
        delivery_id = new_id("msg")
        db.execute(
            "INSERT INTO deliveries (id, event_id, task_id, downstream, state,"
            " next_attempt_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (delivery_id, event_id, task.id, downstream, first_state, now, now, now),
        )
        delivery_ids.append(delivery_id)
    return delivery_ids


def _locked_task(db: Db, task_id: str, obs: Observation) -> tuple[Row, Task] | Recorded:
    """The task, locked for this transaction, or why the observation cannot be about it."""
    row = db.locked_task(task_id)
    if row is None:
        return Recorded("unknown_task")
    task = Task.from_row(row)
    if obs.upstream_task_id and task.upstream_task_id not in (None, obs.upstream_task_id):
        return Recorded("task_mismatch", task)
    return row, task


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
    locked = _locked_task(db, task_id, obs)
    if isinstance(locked, Recorded):
        return locked
    _, task = locked
    return _record(db, task, source, dedupe_key, obs, raw, subscriptions, now, may_apply=True)


def _record(
    db: Db,
    task: Task,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: dict[str, frozenset[str]],
    now: float,
    may_apply: bool,
    verdict: str | None = None,
    mirror: bool = False,
) -> Recorded:
    applied = may_apply and obs.state is not None and advances(task.state, obs.state)
    event_id = _insert_event(db, task, source, dedupe_key, obs, raw, applied, now, verdict)
    if event_id is None:
        return Recorded("duplicate", task)
    if not applied or obs.state is None:
        return Recorded("history", task, event_id, verdict=verdict)
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
        point=obs.point if obs.point is not None else task.point,
        refund=obs.refund if obs.refund is not None else task.refund,
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
    if (updated.point, updated.refund) != (task.point, task.refund):
        sets["point"], sets["refund"] = updated.point, updated.refund
    if updated.upstream_task_id != task.upstream_task_id:
        sets["upstream_task_id"] = updated.upstream_task_id
    if terminal:
        # The poll lease stays: its holder's finish_poll must still apply, or the
        # task, still due, would be polled again at once by any replica.
        sets["next_poll_at"] = None
    assignments = ", ".join(f"{column} = ?" for column in sets)
    db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*sets.values(), task.id))
    files = {"outputs": updated.outputs, "thumbnail": updated.thumbnail}
    copy = waits_for_copy(mirror, obs.state, [s["url"] for s in mirrors.sources_of(files)])
    hold = copy and mirrors.start(db, event_id, task.id, files, now)
    delivery_ids = _fan_out(db, task, event_id, obs.state, subscriptions, now, hold)
    return Recorded("applied", updated, event_id, delivery_ids, verdict)


def record_callback(
    db: Db,
    task_id: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: dict[str, frozenset[str]],
    now: float,
    policy: ClaimPolicy,
) -> Recorded:
    """Keep a callback as a claim and have CometAPI asked about its task soon.

    The claim changes the task only under `trust_body`. On a finished task it is judged at
    once against what CometAPI already said; otherwise it waits, `pending`, for the poll it
    brings forward (never sooner than `min_poll_gap` after the last poll, so a flood of
    callbacks cannot become a flood of calls to CometAPI). Past the task's history bound,
    nothing is stored: the callback only brings the poll forward (`over_limit`).
    """
    locked = _locked_task(db, task_id, obs)
    if isinstance(locked, Recorded):
        return locked
    row, task = locked
    size = len(raw.encode())
    if over_history_bound(row["callback_count"], row["callback_bytes"], size, policy):
        if task.state not in TERMINAL_STATES:
            _bring_poll_forward(db, task.id, obs, now, policy, claim=False)
        return Recorded("over_limit", task)
    verdict: str | None = PENDING
    if task.state in TERMINAL_STATES:
        verdict = judge_on_ended(task.state, task.outputs, obs, now)
        if verdict == "confirmed" and (obs.point, obs.refund) != (None, None):
            db.execute(
                "UPDATE tasks SET point = COALESCE(point, ?), refund = COALESCE(refund, ?)"
                " WHERE id = ?",
                (obs.point, obs.refund, task.id),
            )
    recorded = _record(
        db, task, "callback", dedupe_key, obs, raw, subscriptions, now, policy.trust_body, verdict
    )
    if recorded.outcome == "duplicate":
        return recorded
    db.execute(
        "UPDATE tasks SET callback_count = callback_count + 1,"
        " callback_bytes = callback_bytes + ? WHERE id = ?",
        (size, task.id),
    )
    if verdict == PENDING:
        _bring_poll_forward(db, task.id, obs, now, policy, claim=True)
    return recorded


def _bring_poll_forward(
    db: Db, task_id: str, obs: Observation, now: float, policy: ClaimPolicy, claim: bool
) -> None:
    row = db.one("SELECT last_polled_at FROM tasks WHERE id = ?", (task_id,))
    due = poll_due(now, (row or {}).get("last_polled_at"), policy)
    db.execute(
        "UPDATE tasks SET claim_since = CASE WHEN ? THEN COALESCE(claim_since, ?)"
        " ELSE claim_since END,"
        " upstream_task_id = COALESCE(upstream_task_id, ?),"
        " next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > ? THEN ?"
        " ELSE next_poll_at END"
        " WHERE id = ?",
        (claim, now, obs.upstream_task_id, due, due, task_id),
    )


def _pending_claims(db: Db, task_id: str) -> list[Claim]:
    rows = db.all(
        "SELECT id, state, payload, received_at FROM events"
        " WHERE task_id = ? AND verdict = 'pending' ORDER BY received_at",
        (task_id,),
    )
    claims = []
    for r in rows:
        document = orjson.loads(r["payload"])
        outputs = tuple(document["outputs"])
        point, refund = document.get("point"), document.get("refund")
        claims.append(Claim(r["id"], r["state"], outputs, r["received_at"], point, refund))
    return claims


def finish_poll(
    db: Db,
    task_id: str,
    owner: str,
    answer: Observation | None,
    raw: str,
    subscriptions: dict[str, frozenset[str]],
    now: float,
    next_poll_at: float | None,
    window: float,
    mirror: bool = False,
) -> PollResult:
    """Store one poll's outcome in one transaction: the callbacks' claims it settles, the
    answer (applied when it moves the task forward), and when to poll next (None: never);
    then give the poll lease back."""
    row = db.locked_task(task_id)
    if row is None:
        return PollResult(None, [])
    task = Task.from_row(row)
    claims = _pending_claims(db, task_id) if task.claim_since is not None else []
    settlement = settle(claims, answer, now, window, polled_again=next_poll_at is not None)
    settled = [Settled(claim, verdict) for claim, verdict in settlement.verdicts]
    for claim, verdict in settlement.verdicts:
        db.execute(
            "UPDATE events SET verdict = ?, verdict_at = ? WHERE id = ?",
            (verdict, now, claim.event_id),
        )
    recorded = None
    if answer is not None:
        answer = with_cost(answer, [s.claim for s in settled if s.verdict == "confirmed"])
        key = f"poll:{answer.state}:{answer.upstream_status}"
        recorded = _record(
            db, task, "poll", key, answer, raw, subscriptions, now, may_apply=True, mirror=mirror
        )
    state = recorded.task.state if recorded and recorded.task else task.state
    progress = progress_fraction(answer.progress) if answer is not None else None
    if progress is not None and state not in TERMINAL_STATES and progress != task.progress:
        db.execute(
            "UPDATE tasks SET progress = ?, updated_at = ? WHERE id = ?", (progress, now, task_id)
        )
    waiting_since = settlement.waiting_since
    next_poll_at = next_poll(now, next_poll_at, waiting_since, state in TERMINAL_STATES)
    db.execute(
        "UPDATE tasks SET next_poll_at = ?, poll_attempts = poll_attempts + 1, last_polled_at = ?,"
        " claim_since = ?, poll_lease_owner = NULL, poll_lease_until = NULL"
        " WHERE id = ? AND poll_lease_owner = ?",
        (next_poll_at, now, waiting_since, task_id, owner),
    )
    return PollResult(recorded, settled)


def claim_deliveries(
    db: Db, owner: str, now: float, lease: float, limit: int, downstream: str
) -> list[DeliveryJob]:
    """Lease up to `limit` of a downstream's due deliveries to `owner`; expired leases are
    taken over, and a task's later event waits for its earlier one to that downstream."""
    ids = tuple(db.due_delivery_ids(now, limit, downstream))
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    db.execute(
        f"UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})",
        (owner, now + lease, *ids),
    )
    full = db.all(
        "SELECT d.*, e.payload, c.message_id, c.media FROM deliveries d"
        " JOIN events e ON e.id = d.event_id LEFT JOIN chat_messages c"
        " ON c.task_id = d.task_id AND c.downstream = d.downstream"
        f" WHERE d.id IN ({marks}) ORDER BY d.next_attempt_at",
        ids,
    )
    return [
        DeliveryJob(
            Delivery.from_row(row),
            orjson.loads(row["payload"]),
            (row["message_id"], bool(row["media"])) if row["message_id"] else None,
        )
        for row in full
    ]


def finish_attempt(
    db: Db,
    attempt: Attempt,
    owner: str,
    next_attempt_at: float,
    now: float,
    health: AttemptHealth | None,
    posted: tuple[str, bool] | None = None,
) -> tuple[bool, bool]:
    """Store one attempt and its outcome (ignored when the lease was lost to another
    worker) and what it says of the downstream's health. Returns (kept, this attempt
    disabled it)."""
    state = row_state(attempt.outcome)
    kept = bool(
        db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
            " last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL,"
            " lease_until = NULL,"
            " delivered_at = CASE WHEN ? = 'succeeded' THEN ? ELSE delivered_at END"
            " WHERE id = ? AND lease_owner = ? AND state = 'pending'",
            (
                state,
                next_attempt_at,
                attempt.status,
                attempt.error,
                now,
                state,
                now,
                attempt.delivery_id,
                owner,
            ),
        )
    )
    if kept:
        columns = ", ".join(Attempt.__dataclass_fields__)
        marks = ", ".join("?" * len(Attempt.__dataclass_fields__))
        db.execute(
            f"INSERT INTO delivery_attempts ({columns}) VALUES ({marks})",
            tuple(getattr(attempt, name) for name in Attempt.__dataclass_fields__),
        )
    if kept and posted is not None:
        # The first message this task posted there: its later states edit it.
        db.execute(
            "INSERT INTO chat_messages (task_id, downstream, message_id, media)"
            " SELECT task_id, downstream, ?, ? FROM deliveries WHERE id = ?"
            " ON CONFLICT (task_id, downstream) DO NOTHING",
            (posted[0], int(posted[1]), attempt.delivery_id),
        )
    if health is None:
        return kept, False
    disabled = downstreams.note_attempt(
        db, health.downstream, health.ok, now, health.disable_after, health.subscriptions
    )
    return kept, disabled


@dataclass(frozen=True)
class AttemptHealth:
    """What an attempt says of its downstream's health (None when it says nothing, as when
    the receiver asked the relay to stop retrying one message)."""

    downstream: str
    ok: bool
    disable_after: float
    subscriptions: dict[str, frozenset[str]]


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
    rows = db.due_polls(now, limit)
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


def counts(db: Db) -> dict[str, float]:
    """Gauges for operators: tasks by state, deliveries by state, credits."""
    out: dict[str, float] = {}
    for row in db.all(
        "SELECT state, COUNT(*) AS n FROM tasks WHERE kind <> 'relay' GROUP BY state"
    ):
        out[f"tasks_{row['state']}"] = row["n"]
    for row in db.all("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state"):
        out[f"deliveries_{row['state']}"] = row["n"]
    credits = db.one("SELECT SUM(point) AS charged, SUM(refund) AS refunded FROM tasks")
    for kind in ("charged", "refunded"):
        out[f"credits_{kind}"] = (credits or {}).get(kind) or 0
    for name in downstreams.disabled_names(db):
        out[f"disabled:{name}"] = 1
    return out


def task_attempts(db: Db, task_id: str, limit: int) -> list[Attempt]:
    """The task's newest `limit` delivery attempts, oldest first."""
    rows = db.all(
        "SELECT * FROM delivery_attempts WHERE task_id = ?"
        " ORDER BY finished_at DESC, id DESC LIMIT ?",
        (task_id, limit),
    )
    rows.reverse()
    return [Attempt.from_row(r) for r in rows]


def changes(db: Db, since: float, task_id: str | None, limit: int) -> list[Change]:
    """Tasks that changed and attempts that ended after `since`, oldest first."""
    only, params = ("AND id = ?", (task_id,)) if task_id else ("AND kind <> 'relay'", ())
    tasks = db.all(
        f"SELECT * FROM tasks WHERE updated_at > ? {only} ORDER BY updated_at LIMIT ?",
        (since, *params, limit),
    )
    only = "AND task_id = ?" if task_id else ""
    attempts = db.all(
        f"SELECT * FROM delivery_attempts WHERE finished_at > ? {only}"
        " ORDER BY finished_at LIMIT ?",
        (since, *params, limit),
    )
    found = [
        *(Change("task", t.updated_at, t.id, t.id, t.summary()) for t in map(Task.from_row, tasks)),
        *(
            Change("attempt", a.finished_at, a.id, a.task_id, a.summary())
            for a in map(Attempt.from_row, attempts)
        ),
    ]
    found.sort(key=lambda c: (c.at, c.key))
    return found[:limit]


def activity(db: Db, since: float) -> Activity:
    """Tasks ended, by hour and final state; delivery latency, by hour and downstream."""
    tasks = db.all(
        f"SELECT {db.hour('terminal_at')} AS hour, state, COUNT(*) AS n FROM tasks"
        " WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2",
        (since,),
    )
    latency = db.all(
        f"SELECT {db.hour('finished_at')} AS hour, downstream, AVG(latency_ms) AS ms,"
        " COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ? GROUP BY 1, 2 ORDER BY 1, 2",
        (since,),
    )
    return Activity(
        [(float(r["hour"]), r["state"], int(r["n"])) for r in tasks],
        [(float(r["hour"]), r["downstream"], float(r["ms"]), int(r["n"])) for r in latency],
    )
