"""Tasks as asked for and as read back: creating one (and what its key has made, counted
under the key's app locked), reading it, its history, the lists, and a task pruned."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from receiver.kernel.errors import Conflict
from receiver.kernel.store.db import Db, Row, Sql, new_id
from receiver.lifecycle.rules.records import Event, NewTask, Task, TaskFilter
from receiver.outbox.rules.delivery import Delivery

# A data URI is kept in parts of this many characters: no buffer holds a whole one.
INPUT_PART_CHARS = 4 * 1024 * 1024


INSERT_TASK = Sql(
    "INSERT INTO tasks (id, kind, state, request, idempotency_key, request_hash,"
    " submit_due_at, submit_since, created_at, updated_at, routing, trace_context, owner_key)"
    " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)

TASK_BY_KEY = Sql("SELECT * FROM tasks WHERE idempotency_key = ?")

INSERT_TASK_INPUT = Sql(
    "INSERT INTO task_inputs (task_id, sha256, part, body, created_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (task_id, sha256, part) DO NOTHING"
)


def create_task(db: Db, new: NewTask, now: float) -> tuple[Task, bool]:
    """Insert a task in state `queued`, waiting in the submit queue; with an idempotency key
    seen before, the old task (Conflict when it came with another body)."""
    earlier = replayed(db, new)
    if earlier is not None:
        return earlier, False
    task_id = new_id("tsk")
    inserted = db.execute(
        INSERT_TASK,
        (
            task_id,
            new.kind,
            json.dumps(new.request),
            new.idempotency_key,
            new.request_hash,
            now,
            now,
            now,
            now,
            json.dumps(new.routing) if new.routing else None,
            new.trace_context,
            new.owner_key,
        ),
    )
    if not inserted:
        # A concurrent request with the same key committed first (PostgreSQL waited for it).
        row = db.one(TASK_BY_KEY, (new.idempotency_key,))
        assert row is not None
        return _same_request(row, new), False
    # The URIs kept in one part go in together (the rows hold the URIs themselves, not
    # copies); a larger one a slice at a time, so that no copy of it is made at once.
    whole = [(task_id, sha, 0, body, now) for sha, body in new.inputs.items()]
    db.execute_many(INSERT_TASK_INPUT, [row for row in whole if len(row[3]) <= INPUT_PART_CHARS])
    for sha, body in new.inputs.items():
        if len(body) > INPUT_PART_CHARS:
            for part, start in enumerate(range(0, len(body), INPUT_PART_CHARS)):
                text = body[start : start + INPUT_PART_CHARS]
                db.execute(INSERT_TASK_INPUT, (task_id, sha, part, text, now))
    task = get_task(db, task_id)
    assert task is not None
    return task, True


def replayed(db: Db, new: NewTask) -> Task | None:
    """The task an earlier request with this idempotency key made (Conflict: another body)."""
    if not new.idempotency_key:
        return None
    row = db.one(TASK_BY_KEY, (new.idempotency_key,))
    return _same_request(row, new) if row else None


def _same_request(row: Row, new: NewTask) -> Task:
    """The key's task, if this request is the one it was made for (an unfingerprinted one is)."""
    task = Task.from_row(row)
    if row["request_hash"] not in (None, new.request_hash):
        # Stored under its caller's namespace (`<key id>:`, `admin:`); the caller sent the rest.
        sent = (new.idempotency_key or "").partition(":")[2]
        raise Conflict(
            f"Idempotency-Key {sent!r} was used for task {task.id} with a"
            " different request; send a new key for a new task"
        )
    return task


# What an API key has made, counted under its app's lock in the transaction that inserts
# its new task, so that two submits on two replicas cannot both take its last place.
LOCKED_KEY_LIMITS = Sql(
    # BEGIN IMMEDIATE already holds the only write lock: a plain read.
    sqlite="SELECT max_queued, max_per_day FROM apps WHERE id = ?",
    # Locked: the app's other submits, on any replica, wait here, then count this one.
    postgres="SELECT max_queued, max_per_day FROM apps WHERE id = ? FOR UPDATE",
)


def locked_limits(db: Db, key_id: str) -> tuple[int | None, int | None]:
    """The app's (max_queued, max_per_day), the app locked until the transaction ends."""
    row = db.one(LOCKED_KEY_LIMITS, (key_id,))
    return (row["max_queued"], row["max_per_day"]) if row else (None, None)


KEY_OPEN_TASKS = Sql("SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND terminal_at IS NULL")


def open_tasks(db: Db, key_id: str) -> int:
    row = db.one(KEY_OPEN_TASKS, (key_id,))
    return int(row["n"]) if row else 0


KEY_TASKS_SINCE = Sql("SELECT COUNT(*) AS n FROM tasks WHERE owner_key = ? AND created_at > ?")


def tasks_since(db: Db, key_id: str, since: float) -> int:
    row = db.one(KEY_TASKS_SINCE, (key_id, since))
    return int(row["n"]) if row else 0


KEY_TASK_MADE_AT = Sql(
    "SELECT created_at FROM tasks WHERE owner_key = ? AND created_at > ?"
    " ORDER BY created_at LIMIT 1 OFFSET ?"
)


def task_made_at(db: Db, key_id: str, since: float, offset: int) -> float | None:
    """When the `offset`-th (0: the oldest) of the tasks it made after `since` was made."""
    row = db.one(KEY_TASK_MADE_AT, (key_id, since, offset))
    return float(row["created_at"]) if row else None


TASK = Sql("SELECT * FROM tasks WHERE id = ?")


def get_task(db: Db, task_id: str) -> Task | None:
    row = db.one(TASK, (task_id,))
    return Task.from_row(row) if row else None


TASK_INPUTS = Sql(
    "SELECT sha256, COUNT(*) AS parts, SUM(LENGTH(body)) AS chars FROM task_inputs"
    " WHERE task_id = ? GROUP BY sha256"
)


def input_parts(db: Db, task_id: str) -> dict[str, tuple[int, int]]:
    """How many parts each data URI kept for the task has, and its characters, by digest."""
    return {
        row["sha256"]: (int(row["parts"]), int(row["chars"] or 0))
        for row in db.all(TASK_INPUTS, (task_id,))
    }


TASK_INPUT_WHOLES = Sql(
    "SELECT sha256, body FROM task_inputs WHERE task_id = ? AND part = 0 AND sha256 = ANY(?)"
)


def input_wholes(db: Db, task_id: str, digests: list[str]) -> dict[str, str]:
    """The first part of each of these data URIs, by digest: many small URIs in one read."""
    rows = db.all(TASK_INPUT_WHOLES, (task_id, db.array(digests)))
    return {row["sha256"]: str(row["body"]) for row in rows}


TASK_INPUT_PART = Sql("SELECT body FROM task_inputs WHERE task_id = ? AND sha256 = ? AND part = ?")


def input_part(db: Db, task_id: str, sha256: str, part: int) -> str:
    """One part of one data URI kept for the task ("" once pruned)."""
    found = db.one(TASK_INPUT_PART, (task_id, sha256, part))
    return str(found["body"]) if found else ""


TASK_EVENTS = Sql(
    "SELECT id, task_id, source, state, upstream_status, applied, received_at, verdict,"
    " verdict_at FROM events WHERE task_id = ? ORDER BY received_at DESC, id DESC LIMIT ?"
)

TASK_DELIVERIES = Sql(
    "SELECT * FROM deliveries WHERE task_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
)


def task_history(db: Db, task_id: str, limit: int) -> tuple[list[Event], list[Delivery]]:
    """The task's newest `limit` events and deliveries, oldest first, without raw bodies."""
    events = db.all(TASK_EVENTS, (task_id, limit))
    deliveries = db.all(TASK_DELIVERIES, (task_id, limit))
    events.reverse()
    deliveries.reverse()
    return [Event.from_row(r) for r in events], [Delivery.from_row(r) for r in deliveries]


EVENT_BODIES = Sql(
    "SELECT id, payload, raw FROM events WHERE task_id = ?"
    " ORDER BY received_at DESC, id DESC LIMIT ?"
)


def event_bodies(db: Db, task_id: str, limit: int) -> dict[str, tuple[dict[str, Any], str]]:
    """The newest `limit` events' documents and raw bodies, by event id (the console's)."""
    rows = db.all(EVENT_BODIES, (task_id, limit))
    return {r["id"]: (orjson.loads(r["payload"]), r["raw"]) for r in rows}


# An optional filter is `(CAST(? AS TEXT) IS NULL OR ...)`: no index is read for it, so
# each index that narrows the rows has its variant.
_LIST_FILTERS = (
    " AND created_at >= ? AND (CAST(? AS TEXT) IS NULL OR kind = ?)"
    " AND (CAST(? AS TEXT) IS NULL OR LOWER(request) LIKE ? ESCAPE '!')"
    " AND (CAST(? AS TEXT) IS NULL OR id >= ?)"
    " AND (CAST(? AS TEXT) IS NULL OR owner_key = ?)"
    " ORDER BY id DESC LIMIT ?"
)
LIST_TASKS_IN_STATE = Sql(
    "SELECT * FROM tasks WHERE kind <> 'relay' AND state = ?"
    f" AND (CAST(? AS TEXT) IS NULL OR id < ?){_LIST_FILTERS}"
)
LIST_TASKS_BEFORE = Sql(f"SELECT * FROM tasks WHERE kind <> 'relay' AND id < ?{_LIST_FILTERS}")
LIST_TASKS = Sql(f"SELECT * FROM tasks WHERE kind <> 'relay'{_LIST_FILTERS}")


def list_tasks(db: Db, wanted: TaskFilter) -> list[Task]:
    """The variant is picked by what can narrow the rows through an index (a state, the
    cursor); the other filters are optional parameters (NULL: no filter)."""
    # No `since`: a bound every time is above, so the state's index is read by time either way.
    since = wanted.since if wanted.since is not None else -math.inf
    pattern = f"%{_like(wanted.text.lower())}%" if wanted.text else None
    kind = wanted.kind or None
    floor = wanted.floor
    owner = wanted.owner_key
    rest = (since, kind, kind, pattern, pattern, floor, floor, owner, owner, wanted.limit)
    before = wanted.before or None
    if wanted.state:
        rows = db.all(LIST_TASKS_IN_STATE, (wanted.state, before, before, *rest))
    elif before:
        rows = db.all(LIST_TASKS_BEFORE, (before, *rest))
    else:
        rows = db.all(LIST_TASKS, rest)
    return [Task.from_row(r) for r in rows]


SEARCH_WINDOW_END = Sql(
    "SELECT id FROM tasks WHERE kind <> 'relay' AND (CAST(? AS TEXT) IS NULL OR id < ?)"
    " ORDER BY id DESC LIMIT 1 OFFSET ?"
)


def search_window_end(db: Db, before: str | None, size: int) -> str | None:
    """The id `size` tasks down from the cursor (None: fewer are left): a text search reads
    no further, so it costs the same over a thousand tasks or millions."""
    row = db.one(SEARCH_WINDOW_END, (before, before, size - 1))
    return str(row["id"]) if row else None


def _like(text: str) -> str:
    """`text` matched literally by LIKE (its wildcards escaped with `!`). The request is
    stored as JSON, so the text is matched as JSON writes it."""
    quoted = orjson.dumps(text).decode()[1:-1]
    return quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_")


PRUNE_TASKS = Sql("DELETE FROM tasks WHERE id = ANY(?)")


def prune(db: Db, task_ids: list[str]) -> int:
    """These tasks deleted (what hangs on them first); how many."""
    return db.execute(PRUNE_TASKS, (db.array(task_ids),))
