"""The outbox read: the lists of deliveries, newest first (the admin's, an app's, a page
at a time), a task's attempts, and the newest event a downstream was offered. Written in
outbox.py only."""

from __future__ import annotations

from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql
from receiver.outbox.rules.delivery import Attempt, Delivery, DeliveryFilter

# Each list a page: past a cursor (`before`, a delivery's id; NULL: from the newest), a
# row value compared in the order the lists are sorted in.
_OLDER = (
    " AND (CAST(? AS TEXT) IS NULL OR (created_at, id) <"
    " (SELECT created_at, id FROM deliveries WHERE id = ?))"
)
_NEWEST_FIRST = " ORDER BY created_at DESC, id DESC LIMIT ?"

DELIVERIES_OF_TASK = Sql(
    "SELECT * FROM deliveries WHERE task_id = ? AND (CAST(? AS TEXT) IS NULL OR state = ?)"
    " AND (CAST(? AS TEXT) IS NULL OR downstream = ?)" + _OLDER + _NEWEST_FIRST
)

DELIVERIES_IN_STATE_TO = Sql(
    "SELECT * FROM deliveries WHERE state = ? AND downstream = ?" + _OLDER + _NEWEST_FIRST
)

DELIVERIES_IN_STATE = Sql("SELECT * FROM deliveries WHERE state = ?" + _OLDER + _NEWEST_FIRST)

DELIVERIES = Sql(
    "SELECT * FROM deliveries WHERE (CAST(? AS TEXT) IS NULL OR downstream = ?)"
    + _OLDER
    + _NEWEST_FIRST
)


# When the newest delivery that went through was settled: the newest by the (state,
# downstream, created_at) index, then its one row.
LAST_DELIVERED = Sql(
    "SELECT updated_at FROM deliveries WHERE state = 'succeeded' AND downstream = ?"
    " ORDER BY created_at DESC LIMIT 1"
)


def last_delivered(db: Db, names: list[str]) -> dict[str, float]:
    """When each of these downstreams last had a delivery go through (none: never)."""
    found = {name: db.one(LAST_DELIVERED, (name,)) for name in names}
    return {name: float(row["updated_at"]) for name, row in found.items() if row is not None}


def list_deliveries(db: Db, wanted: DeliveryFilter) -> list[Delivery]:
    """The variant is picked by what can narrow the rows through an index (a task, a state
    and downstream); the other filters are optional parameters (NULL: no filter)."""
    state, downstream, task_id = wanted.state or None, wanted.downstream or None, wanted.task_id
    if task_id:
        sql = DELIVERIES_OF_TASK
        params: tuple[object, ...] = (task_id, state, state, downstream, downstream)
    elif state and downstream:
        sql, params = DELIVERIES_IN_STATE_TO, (state, downstream)
    elif state:
        sql, params = DELIVERIES_IN_STATE, (state,)
    else:
        sql, params = DELIVERIES, (downstream, downstream)
    older = (wanted.before, wanted.before)
    return [Delivery.from_row(r) for r in db.all(sql, (*params, *older, wanted.limit))]


# An app's: to its own downstreams (kept under its id's prefix) and its tasks' own
# webhooks (the 'task-webhook' lane); each other filter optional.
APP_DELIVERIES = Sql(
    "SELECT * FROM deliveries WHERE (SUBSTR(downstream, 1, ?) = ?"
    " OR (downstream = 'task-webhook' AND task_id IN"
    " (SELECT id FROM tasks WHERE owner_key = ?)))"
    " AND (CAST(? AS TEXT) IS NULL OR state = ?)"
    " AND (CAST(? AS TEXT) IS NULL OR downstream = ?)"
    " AND (CAST(? AS TEXT) IS NULL OR task_id = ?) AND (CAST(? AS TEXT) IS NULL OR id = ?)"
    + _OLDER
    + _NEWEST_FIRST
)


def list_app_deliveries(
    db: Db, app_id: str, wanted: DeliveryFilter, delivery_id: str | None = None
) -> list[Delivery]:
    """An app's deliveries, newest first: to the downstreams kept under `<app id>.` and to
    its own tasks' webhooks; `delivery_id` too, when given (None: any)."""
    prefix = app_id + "."
    state, downstream, task_id = wanted.state, wanted.downstream, wanted.task_id
    params = (len(prefix), prefix, app_id, state, state, downstream, downstream, task_id)
    older = (wanted.before, wanted.before)
    found = (*params, task_id, delivery_id, delivery_id, *older, wanted.limit)
    rows = db.all(APP_DELIVERIES, found)
    return [Delivery.from_row(r) for r in rows]


TASK_ATTEMPTS = Sql(
    "SELECT * FROM delivery_attempts WHERE task_id = ? ORDER BY finished_at DESC, id DESC LIMIT ?"
)


def task_attempts(db: Db, task_id: str, limit: int) -> list[Attempt]:
    """The task's newest `limit` delivery attempts, oldest first."""
    rows = db.all(TASK_ATTEMPTS, (task_id, limit))
    rows.reverse()
    return [Attempt.from_row(r) for r in rows]


NEWEST_EVENT_OF = Sql(
    "SELECT e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.downstream = ? ORDER BY d.created_at DESC, d.id DESC LIMIT 1"
)


def newest_event(db: Db, downstream: str) -> dict[str, Any] | None:
    """The document of the newest event offered to the downstream (filtered ones too):
    what a preview of its filter and transform runs on, as real as it gets."""
    row = db.one(NEWEST_EVENT_OF, (downstream,))
    return orjson.loads(row["payload"]) if row and row["payload"] else None


EVENT_DOCUMENTS = Sql("SELECT id, payload FROM events WHERE id = ANY(?)")


def event_documents(db: Db, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The document of each event a list's deliveries carry, by id."""
    rows = db.all(EVENT_DOCUMENTS, (db.array(sorted(set(event_ids))),))
    return {r["id"]: orjson.loads(r["payload"]) for r in rows}
