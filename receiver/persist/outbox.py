"""The work queues in the store: the delivery outbox (its rows for a recorded event, claims,
attempts, replays, dead letters) and the polls due, each leased to one worker at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.domain.progress import Waiting
from receiver.domain.routing import TASK_WEBHOOK
from receiver.persist.db import Db, Row
from receiver.persist.records import Attempt, Delivery, DeliveryJob, PollJob, new_id


def insert_deliveries(
    db: Db,
    task_id: str,
    event_id: str,
    recipients: list[tuple[str, str]],
    now: float,
    reasons: Mapping[str, str] | None = None,
) -> list[str]:
    """One outbox row per (downstream, first state), in the event's transaction; `reasons`:
    why a downstream's rows are held, kept as each row's last error."""
    delivery_ids = []
    for downstream, first_state in recipients:
        delivery_id = new_id("msg")
        reason = (reasons or {}).get(downstream) if first_state == "held" else None
        db.execute(
            db.sql.INSERT_DELIVERY,
            (delivery_id, event_id, task_id, downstream, first_state, reason, now, now, now),
        )
        delivery_ids.append(delivery_id)
    return delivery_ids


def waiting_progress(db: Db, task_id: str) -> list[Waiting]:
    """The task's progress deliveries not yet sent (pending or held)."""
    return [
        Waiting(r["id"], r["downstream"], r["state"], r["attempts"], r["lease_until"])
        for r in db.all(db.sql.WAITING_PROGRESS, (task_id,))
    ]


def repoint(db: Db, delivery_ids: list[str], event_id: str, now: float) -> None:
    """These rows now carry `event_id`'s document in place of their own event's."""
    if delivery_ids:
        db.execute(db.sql.REPOINT_DELIVERIES, (event_id, now, db.array(delivery_ids)))


def supersede_progress(db: Db, task_id: str, now: float) -> int:
    """The task's progress deliveries not yet sent end as `superseded`; how many."""
    return db.execute(db.sql.SUPERSEDE_PROGRESS, (now, task_id, task_id))


def due_downstreams(db: Db, now: float) -> set[str]:
    """The downstreams with a delivery due and not leased."""
    return {r["name"] for r in db.all(db.sql.DUE_DOWNSTREAMS, (now, now))}


def claim_deliveries(
    db: Db, owner: str, now: float, lease: float, limit: int, downstream: str
) -> list[DeliveryJob]:
    """Lease up to `limit` of a downstream's due deliveries to `owner`; expired leases are
    taken over, and a task's later event waits for its earlier one to that downstream."""
    due = db.all(db.sql.DUE_DELIVERIES, (downstream, now, now, limit))
    return _lease(db, [r["id"] for r in due], owner, now + lease)


def lease_new_deliveries(
    db: Db, ids: list[str], downstreams: frozenset[str], owner: str, now: float, lease: float
) -> list[DeliveryJob]:
    """Lease, in the transaction that inserted them, those of an event's deliveries that
    are due now and go to one of `downstreams` (those with a free slot in this process):
    they are sent at once, with no claim of their own."""
    if not ids or not downstreams:
        return []
    due = db.all(db.sql.DUE_NEW_DELIVERIES, (db.array(ids), now))
    return _lease(db, [r["id"] for r in due if r["downstream"] in downstreams], owner, now + lease)


def _lease(db: Db, due: list[str], owner: str, until: float) -> list[DeliveryJob]:
    if not due:
        return []
    ids = db.array(due)
    db.execute(db.sql.LEASE_DELIVERIES, (owner, until, ids))
    rows = db.all(db.sql.LEASED_DELIVERIES, (ids,))
    # A task's own webhook: its URL is the task's, read for that lane's rows only.
    hooks: dict[str, dict[str, Any]] = {}
    if webhook_tasks := sorted({r["task_id"] for r in rows if r["downstream"] == TASK_WEBHOOK}):
        for task in db.all(db.sql.TASK_WEBHOOKS, (db.array(webhook_tasks),)):
            hooks[task["id"]] = orjson.loads(task["routing"] or "{}")
    return [_job(row, hooks.get(row["task_id"], {})) for row in rows]


def _job(row: dict[str, Any], routing: dict[str, Any]) -> DeliveryJob:
    own = row["downstream"] == TASK_WEBHOOK  # the task's own webhook: its URL and filter
    return DeliveryJob(
        Delivery.from_row(row),
        orjson.loads(row["payload"]),
        (row["message_id"], bool(row["media"])) if row["message_id"] else None,
        routing.get("webhook", "") if own else None,
        row["trace_context"],
        routing.get("webhook_filter") if own else None,
    )


@dataclass(frozen=True)
class AttemptEnd:
    """An attempt kept with the delivery's new row state, as the owner of its lease."""

    attempt: Attempt
    owner: str
    state: str  # the delivery's row state after it
    next_attempt_at: float
    posted: tuple[str, bool] | None  # the chat message it posted first: (id, with media)


def finish_attempt(db: Db, end: AttemptEnd, now: float) -> bool:
    """Store one attempt and its outcome; False (nothing written) when the lease was lost
    to another worker."""
    attempt = end.attempt
    kept = bool(
        db.execute(
            db.sql.FINISH_DELIVERY,
            (
                end.state,
                end.next_attempt_at,
                attempt.status,
                attempt.error,
                now,
                end.state,
                now,
                attempt.delivery_id,
                end.owner,
            ),
        )
    )
    if not kept:
        return False
    db.execute(
        db.sql.INSERT_ATTEMPT,
        (
            attempt.id,
            attempt.delivery_id,
            attempt.task_id,
            attempt.downstream,
            attempt.number,
            attempt.started_at,
            attempt.finished_at,
            attempt.latency_ms,
            attempt.status,
            attempt.error,
            attempt.outcome,
            attempt.excerpt,
        ),
    )
    if end.posted is not None:
        # The first message this task posted there: its later states edit it.
        db.execute(
            db.sql.INSERT_CHAT_MESSAGE, (end.posted[0], int(end.posted[1]), attempt.delivery_id)
        )
    return True


def release_leases(db: Db, owner: str) -> None:
    """Give back what `owner` holds, so another worker (or the next start) takes it at once."""
    db.execute(db.sql.RELEASE_DELIVERY_LEASES, (owner,))
    db.execute(db.sql.RELEASE_POLL_LEASES, (owner,))


def release_all_leases(db: Db, deliveries: bool, polls: bool) -> None:
    """At the start of the only process doing this work on the store (delivering, polling):
    every such lease belongs to a dead one."""
    if deliveries:
        db.execute(db.sql.RELEASE_ALL_DELIVERY_LEASES)
    if polls:
        db.execute(db.sql.RELEASE_ALL_POLL_LEASES)


def list_deliveries(
    db: Db, state: str | None, downstream: str | None, task_id: str | None, limit: int
) -> list[Delivery]:
    """The variant is picked by what can narrow the rows through an index (a task, a state
    and downstream); the other filters are optional parameters (NULL: no filter)."""
    state, downstream = state or None, downstream or None
    if task_id:
        sql = db.sql.DELIVERIES_OF_TASK
        params: tuple[object, ...] = (task_id, state, state, downstream, downstream)
    elif state and downstream:
        sql, params = db.sql.DELIVERIES_IN_STATE_TO, (state, downstream)
    elif state:
        sql, params = db.sql.DELIVERIES_IN_STATE, (state,)
    else:
        sql, params = db.sql.DELIVERIES, (downstream, downstream)
    return [Delivery.from_row(r) for r in db.all(sql, (*params, limit))]


def app_deliveries(
    db: Db,
    app_id: str,
    state: str | None,
    downstream: str | None,
    task_id: str | None,
    delivery_id: str | None,
    limit: int,
) -> list[Delivery]:
    """An app's deliveries, newest first: to the downstreams kept under `<app id>.` and to
    its own tasks' webhooks; each other filter optional (None: any)."""
    prefix = app_id + "."
    params = (len(prefix), prefix, app_id, state, state, downstream, downstream, task_id)
    rows = db.all(db.sql.APP_DELIVERIES, (*params, task_id, delivery_id, delivery_id, limit))
    return [Delivery.from_row(r) for r in rows]


def replay(db: Db, delivery_ids: list[str], now: float) -> int:
    """Put deliveries back in the queue for an immediate attempt, whatever their state."""
    return sum(db.execute(db.sql.REPLAY, (now, now, delivery_id)) for delivery_id in delivery_ids)


def dead_letter_ids(db: Db, downstream: str) -> list[str]:
    return [r["id"] for r in db.all(db.sql.DEAD_LETTERS, (downstream,))]


def claim_polls(
    db: Db, owner: str, now: float, lease: tuple[float, float], limit: int
) -> list[PollJob]:
    """Lease up to `limit` tasks due for a poll, so one replica polls each task at a time,
    nearest their end first; `lease` is (its seconds, the polls' ceiling)."""
    seconds, ceiling = lease
    rows = db.all(db.sql.DUE_POLLS, (now, now, ceiling, ceiling, limit))
    return _lease_polls(db, rows, owner, now, seconds)


def poll_budget(db: Db) -> tuple[float, float]:
    """The replicas' poll budget, locked until the transaction ends: (tokens, refilled_at)."""
    row = db.one(db.sql.POLL_BUDGET, ())
    return (row["tokens"], row["refilled_at"]) if row else (0.0, 0.0)


def polls_held_until(db: Db) -> float:
    """Till when a 429 holds every poll, read without the budget's lock."""
    row = db.one(db.sql.POLLS_HELD_UNTIL, ())
    return float(row["refilled_at"]) if row else 0.0


def set_poll_budget(db: Db, tokens: float, refilled_at: float) -> None:
    db.execute(db.sql.SET_POLL_BUDGET, (tokens, refilled_at))


def claim_poll(db: Db, task_id: str, owner: str, now: float, lease: float) -> PollJob | None:
    """Lease one task's poll if it is due now and nobody holds it (a callback's own
    transaction takes it, so that no claim of its own is needed)."""
    rows = _lease_polls(db, db.all(db.sql.DUE_POLL, (task_id, now, now)), owner, now, lease)
    return rows[0] if rows else None


def _lease_polls(db: Db, rows: list[Row], owner: str, now: float, lease: float) -> list[PollJob]:
    for row in rows:
        db.execute(db.sql.LEASE_POLL, (owner, now + lease, row["id"]))
    return [
        PollJob(
            r["id"],
            r["kind"],
            r["upstream_task_id"],
            r["created_at"],
            r["poll_attempts"],
            r["trace_context"],
        )
        for r in rows
    ]
