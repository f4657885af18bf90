"""What the live streams read: the change feed, tasks that changed and attempts that ended
after a moment, oldest first, in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from receiver.kernel.http.models import as_answer
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.keys.rows import apps
from receiver.lifecycle.rules.records import Task
from receiver.outbox.rules.delivery import Attempt
from receiver.tasks.rules.answers import AttemptSummary, TaskSummary


@dataclass(frozen=True)
class Change:
    """One item of the live stream: a task's new state, or a delivery attempt."""

    kind: str  # task | attempt
    at: float  # the task's updated_at, the attempt's finished_at
    key: str  # the task's or the attempt's id
    task_id: str
    data: dict[str, Any]
    owner_key: str | None = None  # a task's: the key that made it


async def changes(
    store: Store, since: float, task_id: str | None = None, limit: int = 500
) -> list[Change]:
    """Tasks that changed and attempts that ended after `since`, oldest first (of one task,
    or of every task but the relay's own)."""
    return await store.read(lambda db: _changes(db, since, task_id, limit))


CHANGED_TASK = Sql(
    "SELECT * FROM tasks WHERE updated_at > ? AND id = ? ORDER BY updated_at LIMIT ?"
)
ENDED_ATTEMPTS_OF_TASK = Sql(
    "SELECT * FROM delivery_attempts WHERE finished_at > ? AND task_id = ?"
    " ORDER BY finished_at LIMIT ?"
)
CHANGED_TASKS = Sql(
    "SELECT * FROM tasks WHERE updated_at > ? AND kind <> 'relay' ORDER BY updated_at LIMIT ?"
)
ENDED_ATTEMPTS = Sql(
    "SELECT * FROM delivery_attempts WHERE finished_at > ? ORDER BY finished_at LIMIT ?"
)


def _changes(db: Db, since: float, task_id: str | None, limit: int) -> list[Change]:
    if task_id:
        tasks = db.all(CHANGED_TASK, (since, task_id, limit))
        attempts = db.all(ENDED_ATTEMPTS_OF_TASK, (since, task_id, limit))
    else:
        tasks = db.all(CHANGED_TASKS, (since, limit))
        attempts = db.all(ENDED_ATTEMPTS, (since, limit))
    changed = [Task.from_row(row) for row in tasks]
    owners = apps.names(db, sorted({t.owner_key for t in changed if t.owner_key}))
    named = [replace(t, app=owners.get(t.owner_key or "")) for t in changed]
    found = [
        *(
            Change("task", t.updated_at, t.id, t.id, as_answer(TaskSummary, t), t.owner_key)
            for t in named
        ),
        *(
            Change("attempt", a.finished_at, a.id, a.task_id, as_answer(AttemptSummary, a))
            for a in map(Attempt.from_row, attempts)
        ),
    ]
    found.sort(key=lambda c: (c.at, c.key))
    return found[:limit]
