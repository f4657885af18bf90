"""What operators read of the store's recent work: gauges, a task's delivery attempts, the
live stream's changes and the hourly activity chart."""

from __future__ import annotations

from receiver.kernel.events.rows import health as downstreams
from receiver.kernel.store.db import Db
from receiver.kernel.store.records import Activity, Attempt, Change, Task
from receiver.retention import rows as retention
from receiver.tasks.rows import queue as submit_queue


def counts(db: Db) -> dict[str, float]:
    """Gauges for operators: tasks by state, deliveries by state, credits."""
    out: dict[str, float] = {}
    for row in db.all(db.sql.TASKS_BY_STATE):
        out[f"tasks_{row['state']}"] = row["n"]
    for row in db.all(db.sql.DELIVERIES_BY_STATE):
        out[f"deliveries_{row['state']}"] = row["n"]
    credits = db.one(db.sql.CREDITS)
    for kind in ("charged", "refunded"):
        out[f"credits_{kind}"] = (credits or {}).get(kind) or 0
    for name in downstreams.disabled_names(db):
        out[f"disabled:{name}"] = 1
    out.update(submit_queue.counts(db))

    # What the store takes on disk (receiver/retention/rows.py).
    size = retention.size(db)
    out["store_bytes"], out["store_free_bytes"] = size.bytes, size.free_bytes
    return out


def task_attempts(db: Db, task_id: str, limit: int) -> list[Attempt]:
    """The task's newest `limit` delivery attempts, oldest first."""
    rows = db.all(db.sql.TASK_ATTEMPTS, (task_id, limit))
    rows.reverse()
    return [Attempt.from_row(r) for r in rows]


def changes(db: Db, since: float, task_id: str | None, limit: int) -> list[Change]:
    """Tasks that changed and attempts that ended after `since`, oldest first (of one task,
    or of every task but the relay's own)."""
    if task_id:
        tasks = db.all(db.sql.CHANGED_TASK, (since, task_id, limit))
        attempts = db.all(db.sql.ENDED_ATTEMPTS_OF_TASK, (since, task_id, limit))
    else:
        tasks = db.all(db.sql.CHANGED_TASKS, (since, limit))
        attempts = db.all(db.sql.ENDED_ATTEMPTS, (since, limit))
    found = [
        *(
            Change("task", t.updated_at, t.id, t.id, t.summary(), t.owner_key)
            for t in map(Task.from_row, tasks)
        ),
        *(
            Change("attempt", a.finished_at, a.id, a.task_id, a.summary())
            for a in map(Attempt.from_row, attempts)
        ),
    ]
    found.sort(key=lambda c: (c.at, c.key))
    return found[:limit]


def activity(db: Db, since: float) -> Activity:
    """Tasks ended, by hour and final state; delivery latency, by hour and downstream."""
    tasks = db.all(db.sql.TASKS_ENDED_BY_HOUR, (since,))
    latency = db.all(db.sql.LATENCY_BY_HOUR, (since,))
    return Activity(
        [(float(r["hour"]), r["state"], int(r["n"])) for r in tasks],
        [(float(r["hour"]), r["downstream"], float(r["ms"]), int(r["n"])) for r in latency],
    )
