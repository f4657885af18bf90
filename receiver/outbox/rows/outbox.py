"""The deliveries table, written here only (read in lists.py): the outbox rows of a recorded
event, claimed under a lease by one worker at a time, each attempt's outcome, and the moves
of the rows that wait. What to write is decided by the transactions, with the rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql, new_id
from receiver.outbox.rules.delivery import (
    TASK_WEBHOOK,
    Attempt,
    Delivery,
    DeliveryJob,
    MadeDownstream,
    Waiting,
)

INSERT_DELIVERY = Sql(
    "INSERT INTO deliveries (id, event_id, task_id, downstream, state, last_error,"
    " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# The states of a row not yet settled: an earlier one in them holds a later one back.
_UNSETTLED = "('pending', 'held', 'mirroring')"

# A new pending row leased as it is made, unless an earlier row of its task waits at its
# downstream (the order kept, as the claims keep it: see DUE_NEW_DELIVERIES); that is asked
# once, for both lease columns.
INSERT_HANDED_DELIVERY = Sql(
    "INSERT INTO deliveries (id, event_id, task_id, downstream, state, last_error,"
    " next_attempt_at, created_at, updated_at, lease_owner, lease_until)"
    " SELECT ?, ?, ?, ?, 'pending', NULL, ?, ?, ?,"
    " CASE WHEN w.waiting THEN NULL ELSE ? END, CASE WHEN w.waiting THEN NULL ELSE ? END"
    " FROM (SELECT EXISTS (SELECT 1 FROM deliveries e WHERE e.task_id = ?"
    f" AND e.downstream = ? AND e.state IN {_UNSETTLED}) AS waiting) AS w"
    " RETURNING lease_owner"
)


@dataclass(frozen=True)
class Handing:
    """The rows a process sends at once, leased to it in the transaction that makes them:
    the pending ones (to `downstreams` only, when named). Its fan-out starts each after the
    commit or gives its lease back (`give_back`): nothing is reserved before."""

    owner: str
    until: float
    downstreams: frozenset[str] | None = None

    def takes(self, downstream: str, first_state: str) -> bool:
        wanted = self.downstreams
        return first_state == "pending" and (wanted is None or downstream in wanted)


# Through the index of the disabled (0038): `disabled_at` is when, never 0.
DISABLED_DOWNSTREAMS = Sql("SELECT name FROM downstreams WHERE disabled_at > 0")


def disabled_downstreams(db: Db) -> set[str]:
    """The downstreams whose new deliveries are made held, not pending."""
    return {r["name"] for r in db.all(DISABLED_DOWNSTREAMS)}


MADE_COLUMNS = "name, spec, sealed_secret, sealed_previous, change_seq"
# An event's audience (`StoredSubscribers`): the global downstreams made through the API ('')
# and the task's app's, through the app's index, whatever the number of apps.
MADE_FOR_APP = Sql(
    f"SELECT {MADE_COLUMNS} FROM downstreams WHERE spec IS NOT NULL AND app_id IN ('', ?)"
    " ORDER BY name"
)
MADE_NAMED = Sql(f"SELECT {MADE_COLUMNS} FROM downstreams WHERE spec IS NOT NULL AND name = ANY(?)")


def made_for(db: Db, app_id: str | None) -> list[MadeDownstream]:
    """The global downstreams made through the API, and `app_id`'s (None: the global ones)."""
    return [_made(r) for r in db.all(MADE_FOR_APP, (app_id or "",))]


def made_named(db: Db, names: Sequence[str]) -> list[MadeDownstream]:
    """Those of `names` made through the API (by their primary key)."""
    return [_made(r) for r in db.all(MADE_NAMED, (db.array(names),))] if names else []


def _made(r: dict[str, Any]) -> MadeDownstream:
    return MadeDownstream(
        r["name"],
        orjson.loads(r["spec"]),
        r["sealed_secret"],
        r["sealed_previous"],
        r["change_seq"],
    )


DISABLED_AMONG = Sql("SELECT name FROM downstreams WHERE name = ANY(?) AND disabled_at IS NOT NULL")


def disabled_among(db: Db, names: Sequence[str]) -> set[str]:
    """Those of `names` whose new deliveries are made held (by their primary key: an event
    asks of the few that take it, never of every downstream)."""
    return {r["name"] for r in db.all(DISABLED_AMONG, (db.array(names),))} if names else set()


def insert_deliveries(
    db: Db,
    task_id: str,
    event_id: str,
    recipients: Sequence[tuple[str, str]],
    now: float,
    reasons: Mapping[str, str] | None = None,
) -> list[str]:
    """One outbox row per (downstream, first state), in the event's transaction; `reasons`:
    why a downstream's rows are held, kept as each row's last error."""
    return insert_handing(db, task_id, event_id, recipients, now, reasons, None)[0]


def insert_handing(
    db: Db,
    task_id: str,
    event_id: str,
    recipients: Sequence[tuple[str, str]],
    now: float,
    reasons: Mapping[str, str] | None,
    handing: Handing | None,
) -> tuple[list[str], list[str]]:
    """`insert_deliveries`, with the rows `handing` takes leased to it as they are made:
    every row's id, and those leased (no claim, no lease of their own follows)."""
    delivery_ids, handed = [], []
    for downstream, first_state in recipients:
        delivery_id = new_id("msg")
        if handing is not None and handing.takes(downstream, first_state):
            row = (delivery_id, event_id, task_id, downstream, now, now, now)
            lease = (handing.owner, handing.until, task_id, downstream)
            inserted = db.one(INSERT_HANDED_DELIVERY, (*row, *lease))
            if inserted is not None and inserted["lease_owner"] is not None:
                handed.append(delivery_id)
        else:
            reason = (reasons or {}).get(downstream) if first_state == "held" else None
            db.execute(
                INSERT_DELIVERY,
                (delivery_id, event_id, task_id, downstream, first_state, reason, now, now, now),
            )
        delivery_ids.append(delivery_id)
    return delivery_ids, handed


# Progress events (source 'progress'): a task's deliveries of them not yet sent, a
# newer event put in place of an older one on rows not yet sent, and the rows a
# terminal event ends so that it never waits behind them.
WAITING_PROGRESS = Sql(
    "SELECT d.id, d.downstream, d.state, d.attempts, d.lease_until FROM deliveries d"
    " JOIN events e ON e.id = d.event_id WHERE d.task_id = ?"
    " AND d.state IN ('pending', 'held') AND e.source = 'progress'"
)


def waiting_progress(db: Db, task_id: str) -> list[Waiting]:
    """The task's progress deliveries not yet sent (pending or held)."""
    return [
        Waiting(r["id"], r["downstream"], r["state"], r["attempts"], r["lease_until"])
        for r in db.all(WAITING_PROGRESS, (task_id,))
    ]


REPOINT_DELIVERIES = Sql("UPDATE deliveries SET event_id = ?, updated_at = ? WHERE id = ANY(?)")


def repoint(db: Db, delivery_ids: list[str], event_id: str, now: float) -> None:
    """These rows now carry `event_id`'s document in place of their own event's."""
    if delivery_ids:
        db.execute(REPOINT_DELIVERIES, (event_id, now, db.array(delivery_ids)))


# A loose scan of the pending index: each downstream with pending rows is found by one
# index seek, so a fan-out with many downstreams and few due asks only those that are.
DUE_DOWNSTREAMS = Sql(
    "WITH RECURSIVE pending (name) AS ("
    " SELECT MIN(downstream) FROM deliveries WHERE state = 'pending'"
    " UNION ALL SELECT (SELECT MIN(downstream) FROM deliveries"
    " WHERE state = 'pending' AND downstream > pending.name)"
    " FROM pending WHERE pending.name IS NOT NULL)"
    " SELECT name FROM pending WHERE name IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries"
    " WHERE downstream = pending.name AND state = 'pending' AND next_attempt_at <= ?"
    " AND (lease_until IS NULL OR lease_until < ?))"
)


def due_downstreams(db: Db, now: float) -> set[str]:
    """The downstreams with a delivery due and not leased."""
    return {r["name"] for r in db.all(DUE_DOWNSTREAMS, (now, now))}


# A task's earlier delivery to the same downstream not yet settled: pending (due, retrying
# or leased), held or mirroring. Through deliveries_task: a task has few rows.
_EARLIER_UNSETTLED = (
    "NOT EXISTS (SELECT 1 FROM deliveries e{index}"
    " WHERE e.task_id = d.task_id AND e.downstream = d.downstream"
    f" AND e.state IN {_UNSETTLED} AND e.id < d.id)"
)
_SQLITE_EARLIER = _EARLIER_UNSETTLED.format(index=" INDEXED BY deliveries_task")
_DUE = (
    "SELECT id FROM deliveries d{index} WHERE downstream = ? AND state = 'pending'"
    " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
    " AND (? = 0 OR {earlier}) ORDER BY next_attempt_at LIMIT ?"
)

# The one flag (1: `ordering = "task"`) holds the rule in the store, so that it holds across
# replicas; 0 skips the check. Both indexes named: left to itself, the planner checks a row's
# earlier deliveries through (state, downstream), reading every pending row of the
# downstream for each one.
DUE_DELIVERIES = Sql(
    sqlite=_DUE.format(index=" INDEXED BY deliveries_due_by_downstream", earlier=_SQLITE_EARLIER),
    # SKIP LOCKED: replicas claiming at once each take other rows, none waits.
    postgres=_DUE.format(index="", earlier=_EARLIER_UNSETTLED.format(index=""))
    + " FOR UPDATE SKIP LOCKED",
)


def claim_deliveries(
    db: Db, owner: str, now: float, lease: float, limit: int, downstream: str, ordered: bool
) -> list[DeliveryJob]:
    """Lease up to `limit` of a downstream's due deliveries to `owner`; expired leases are
    taken over, and, `ordered`, a task's later event waits until its earlier one to that
    downstream is settled."""
    due = db.all(DUE_DELIVERIES, (downstream, now, now, int(ordered), limit))
    return _lease(db, [r["id"] for r in due], owner, now + lease)


DELAY_DELIVERY = Sql("UPDATE deliveries SET next_attempt_at = ? WHERE id = ?")


def throttle(
    db: Db, now: float, limit: int, downstream: str, ordered: bool, times: list[float]
) -> None:
    """Up to `limit` of a downstream's due deliveries wait for its budget, the first until
    `times[0]`, and so on, in the order they are claimed: their next attempt time says so."""
    due = db.all(DUE_DELIVERIES, (downstream, now, now, int(ordered), limit))
    for row, until in zip(due, times, strict=False):
        db.execute(DELAY_DELIVERY, (until, row["id"]))


# Whatever the downstream's `ordering`, a new row with an earlier one unsettled is left
# to the claims, which know it.
_DUE_NEW = (
    "SELECT id, downstream FROM deliveries d WHERE id = ANY(?) AND state = 'pending'"
    " AND next_attempt_at <= ? AND "
)
DUE_NEW_DELIVERIES = Sql(
    sqlite=_DUE_NEW + _SQLITE_EARLIER,
    postgres=_DUE_NEW + _EARLIER_UNSETTLED.format(index=""),
)


def lease_new_deliveries(db: Db, ids: list[str], handing: Handing, now: float) -> list[DeliveryJob]:
    """Lease to `handing`, in the transaction that made them, those of an event's rows that
    are due now and that it takes: they are sent at once, with no claim of their own."""
    if not ids:
        return []
    due = db.all(DUE_NEW_DELIVERIES, (db.array(ids), now))
    taken = [r["id"] for r in due if handing.takes(r["downstream"], "pending")]
    return _lease(db, taken, handing.owner, handing.until)


def leased_jobs(db: Db, ids: list[str]) -> list[DeliveryJob]:
    """The jobs of rows leased as they were made (`insert_handing`), to send at once."""
    return _jobs(db, db.array(ids)) if ids else []


# The ids as one list parameter: one fixed statement for any number of them.
LEASE_DELIVERIES = Sql("UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id = ANY(?)")

# `own_webhook`: a task's own webhook's delivery, the operator's tasks' lane or its app's
# (receiver/outbox/rules/delivery.py's `task_webhook_of`).
LEASED_DELIVERIES = Sql(
    "SELECT d.*, e.payload, c.message_id, c.media, t.trace_context,"
    f" (d.downstream = '{TASK_WEBHOOK}' OR d.downstream = t.owner_key || '.{TASK_WEBHOOK}')"
    " AS own_webhook FROM deliveries d"
    " JOIN events e ON e.id = d.event_id LEFT JOIN tasks t ON t.id = d.task_id"
    " LEFT JOIN chat_messages c ON c.task_id = d.task_id AND c.downstream = d.downstream"
    " WHERE d.id = ANY(?) ORDER BY d.next_attempt_at"
)

# The tasks' own webhooks, for the deliveries of that lane only.
TASK_WEBHOOKS = Sql("SELECT id, routing FROM tasks WHERE id = ANY(?)")


def _lease(db: Db, due: list[str], owner: str, until: float) -> list[DeliveryJob]:
    if not due:
        return []
    ids = db.array(due)
    db.execute(LEASE_DELIVERIES, (owner, until, ids))
    return _jobs(db, ids)


def _jobs(db: Db, ids: object) -> list[DeliveryJob]:
    rows = db.all(LEASED_DELIVERIES, (ids,))
    # A task's own webhook: its URL is the task's, read for that lane's rows only.
    hooks: dict[str, dict[str, Any]] = {}
    if webhook_tasks := sorted({r["task_id"] for r in rows if r["own_webhook"]}):
        for task in db.all(TASK_WEBHOOKS, (db.array(webhook_tasks),)):
            hooks[task["id"]] = orjson.loads(task["routing"] or "{}")
    return [_job(row, hooks.get(row["task_id"], {})) for row in rows]


def _job(row: dict[str, Any], routing: dict[str, Any]) -> DeliveryJob:
    own = bool(row["own_webhook"])  # the task's own webhook: its URL and filter
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


FINISH_DELIVERY = Sql(
    "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
    " last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL,"
    " delivered_at = CASE WHEN ? = 'succeeded' THEN ? ELSE delivered_at END"
    " WHERE id = ? AND lease_owner = ? AND state = 'pending'"
)

INSERT_ATTEMPT = Sql(
    "INSERT INTO delivery_attempts (id, delivery_id, task_id, downstream, number, started_at,"
    " finished_at, latency_ms, status, error, outcome, excerpt)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

INSERT_CHAT_MESSAGE = Sql(
    "INSERT INTO chat_messages (task_id, downstream, message_id, media)"
    " SELECT task_id, downstream, ?, ? FROM deliveries WHERE id = ?"
    " ON CONFLICT (task_id, downstream) DO NOTHING"
)

# No attempt made (the relay's own overload): the lease given back, nothing counted.
POSTPONE_DELIVERY = Sql(
    "UPDATE deliveries SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL"
    " WHERE id = ? AND lease_owner = ? AND state = 'pending'"
)


def postpone(db: Db, delivery_id: str, owner: str, until: float) -> bool:
    """A leased delivery due again at `until`, its attempts as they were; False when the
    lease was lost meanwhile."""
    return db.execute(POSTPONE_DELIVERY, (until, delivery_id, owner)) > 0


def finish_attempt(db: Db, end: AttemptEnd, now: float) -> bool:
    """Store one attempt and its outcome; False (nothing written) when the lease was lost
    to another worker."""
    attempt = end.attempt
    kept = bool(
        db.execute(
            FINISH_DELIVERY,
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
    # Field by field: astuple() would deep-copy each value, on every attempt.
    db.execute(
        INSERT_ATTEMPT,
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
        db.execute(INSERT_CHAT_MESSAGE, (end.posted[0], int(end.posted[1]), attempt.delivery_id))
    return True


# A superseded row ends unsent: a newer progress event, or the task's end, took its place.
SUPERSEDE_PROGRESS = Sql(
    "UPDATE deliveries SET state = 'superseded', lease_owner = NULL, lease_until = NULL,"
    " updated_at = ? WHERE task_id = ? AND state IN ('pending', 'held', 'mirroring')"
    " AND event_id IN (SELECT id FROM events WHERE task_id = ? AND source = 'progress')"
)


def supersede_progress(db: Db, task_id: str, now: float) -> None:
    """The task's progress deliveries not yet sent end unsent."""
    db.execute(SUPERSEDE_PROGRESS, (now, task_id, task_id))


MIRRORING_DELIVERIES = Sql("SELECT id FROM deliveries WHERE event_id = ? AND state = 'mirroring'")

RELEASE_MIRRORING = Sql(
    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?"
    " WHERE event_id = ? AND state = 'mirroring'"
)


def release_mirrored(db: Db, event_id: str, now: float) -> list[str]:
    """The event's deliveries that waited for its copy go out now; their ids."""
    released = db.all(MIRRORING_DELIVERIES, (event_id,))
    db.execute(RELEASE_MIRRORING, (now, now, event_id))
    return [r["id"] for r in released]


HOLD_DELIVERIES = Sql(
    "UPDATE deliveries SET state = 'held', lease_owner = NULL, lease_until = NULL,"
    " updated_at = ? WHERE downstream = ? AND state = 'pending'"
)


def hold(db: Db, downstream: str, now: float) -> None:
    """A disabled downstream's waiting deliveries are held, not attempted."""
    db.execute(HOLD_DELIVERIES, (now, downstream))


REQUEUE_RECOVERED = Sql(
    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
    " lease_until = NULL, updated_at = ? WHERE downstream = ?"
    " AND ((state = 'held' AND created_at >= ?) OR (state = 'dead' AND updated_at >= ?))"
)

DEAD_LETTER_HELD = Sql(
    "UPDATE deliveries SET state = 'dead', updated_at = ?,"
    " last_error = 'held while the downstream was disabled; not recovered'"
    " WHERE downstream = ? AND state = 'held'"
)


def recover(db: Db, downstream: str, since: float | None, now: float) -> int:
    """A downstream enabled again: what it held since `since` (None: all of it), and what
    went to dead-letter since then, is queued again; what it held from before is
    dead-lettered with the reason. Returns how many deliveries were queued."""
    floor = since if since is not None else 0.0
    queued = db.execute(REQUEUE_RECOVERED, (now, now, downstream, floor, floor))
    db.execute(DEAD_LETTER_HELD, (now, downstream))
    return queued


RELEASE_HELD = Sql(
    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?"
    " WHERE downstream = ? AND state = 'held'"
)


def release_held(db: Db, downstream: str, now: float) -> int:
    """A downstream validated again: everything it held goes out; how many."""
    return db.execute(RELEASE_HELD, (now, now, downstream))


HOLD_UNOPENED = Sql(
    "UPDATE deliveries SET state = 'held', last_error = ?, lease_owner = NULL,"
    " lease_until = NULL, updated_at = ? WHERE downstream = ANY(?) AND state = 'pending'"
)


def hold_unopened(db: Db, downstreams: list[str], reason: str, now: float) -> None:
    """The waiting deliveries of downstreams that cannot be opened are held, with why."""
    db.execute(HOLD_UNOPENED, (reason, now, db.array(downstreams)))


RELEASE_UNOPENED = Sql(
    "UPDATE deliveries SET state = 'pending', last_error = NULL, next_attempt_at = ?,"
    " updated_at = ? WHERE downstream = ANY(?) AND state = 'held' AND last_error = ?"
    " AND downstream NOT IN (SELECT name FROM downstreams WHERE disabled_at IS NOT NULL)"
)


HELD_FOR = Sql("SELECT DISTINCT downstream FROM deliveries WHERE state = 'held' AND last_error = ?")


def held_for(db: Db, reason: str) -> list[str]:
    """The downstreams with deliveries held for `reason` (through the state's index)."""
    return [r["downstream"] for r in db.all(HELD_FOR, (reason,))]


def release_unopened(db: Db, downstreams: list[str], reason: str, now: float) -> None:
    """What these downstreams held for `reason` goes out, unless they are disabled."""
    db.execute(RELEASE_UNOPENED, (now, now, db.array(downstreams), reason))


END_DOWNSTREAM_DELIVERIES = Sql(
    "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
    " lease_owner = NULL, lease_until = NULL WHERE downstream = ?"
    " AND state IN ('pending', 'mirroring', 'held')"
)


def end_downstream(db: Db, downstream: str, reason: str, now: float) -> int:
    """Every delivery of a downstream that still waits ends as a dead letter with `reason`
    (its lease is taken back, so an attempt in flight cannot put it back in the queue)."""
    return db.execute(END_DOWNSTREAM_DELIVERIES, (reason, now, downstream))


# A receiver that answered 410 Gone for one task: its other deliveries there end.
END_TASK_DELIVERIES = Sql(
    "UPDATE deliveries SET state = 'dead', last_error = ?, updated_at = ?,"
    " lease_owner = NULL, lease_until = NULL WHERE task_id = ? AND downstream = ?"
    " AND state IN ('pending', 'mirroring', 'held') AND id <> ?"
)


def end_of_task(
    db: Db, task_id: str, downstream: str, reason: str, except_id: str, now: float
) -> int:
    """The task's unfinished deliveries to `downstream` but `except_id` end as dead
    letters with `reason`; how many."""
    return db.execute(END_TASK_DELIVERIES, (reason, now, task_id, downstream, except_id))


REPLAY = Sql(
    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
    " lease_until = NULL, updated_at = ? WHERE id = ?"
)


def replay(db: Db, delivery_ids: list[str], now: float) -> int:
    """These deliveries back in the queue for an immediate attempt, whatever their state;
    how many there were."""
    return sum(db.execute(REPLAY, (now, now, delivery_id)) for delivery_id in delivery_ids)


RELEASE_DELIVERY_LEASES = Sql(
    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?"
)


def release_leases(db: Db, owner: str) -> None:
    """The deliveries `owner` holds, free for any worker."""
    db.execute(RELEASE_DELIVERY_LEASES, (owner,))


GIVE_BACK = Sql(
    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL"
    " WHERE id = ANY(?) AND lease_owner = ?"
)


def give_back(db: Db, delivery_ids: list[str], owner: str) -> None:
    """Rows leased as they were made that the fan-out could not start: free for any claim."""
    db.execute(GIVE_BACK, (db.array(delivery_ids), owner))


RELEASE_ALL_DELIVERY_LEASES = Sql(
    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
)


def release_every_lease(db: Db) -> None:
    db.execute(RELEASE_ALL_DELIVERY_LEASES)


PRUNE_DELIVERIES = Sql("DELETE FROM deliveries WHERE task_id = ANY(?)")


def prune(db: Db, task_ids: list[str]) -> int:
    """The deliveries of these tasks deleted; how many."""
    return db.execute(PRUNE_DELIVERIES, (db.array(task_ids),))
