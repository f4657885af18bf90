"""What the service reads of tasks and deliveries, each answer in one snapshot of the store
(one read transaction): the API, the console and the command line ask the same questions
here, so a task's page never mixes two moments of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from receiver.domain.submit_queue import failure_message
from receiver.persist import (
    Activity,
    Attempt,
    Change,
    Delivery,
    DownstreamHealth,
    Event,
    Store,
    SubmitAttempt,
    Task,
    TaskFilter,
    downstreams,
    managed,
    mirrors,
    outbox,
    reads,
    submit_queue,
    tasks,
)
from receiver.persist.db import Db
from receiver.persist.managed import ManagedRow

HISTORY = 500  # events, deliveries and attempts shown of one task, the newest


@dataclass(frozen=True)
class TaskDetail:
    """A task with its history, as one moment of the store saw it."""

    task: Task
    events: list[Event]
    deliveries: list[Delivery]
    attempts: list[Attempt]
    sends: list[SubmitAttempt]
    # The newest events' documents and the raw bodies they came with, by event id, newest
    # first (as many as asked for).
    documents: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    copying: bool = False  # a copy of its files is being made

    def media(self) -> dict[str, Any] | None:
        """Where the copies of the renders are: the newest event's `media` section, or
        pending while they are being made; None when none is made."""
        for document, _ in self.documents.values():
            media = document.get("media")
            if isinstance(media, dict):
                return media
        return {"status": "pending"} if self.copying else None

    def failure(self) -> dict[str, str | None]:
        """Once the task failed: CometAPI's failure code and the message safe to show an end
        user, as its webhook carried them (the newest failed event's document); else none."""
        if self.task.state != "failed":
            return {"failure_code": None, "failure_message": None}
        for document, _ in self.documents.values():
            if document.get("state") == "failed":
                code = document.get("failure_code")
                return {"failure_code": code, "failure_message": failure_message(code)}
        return {"failure_code": None, "failure_message": failure_message(None)}

    def copies(self) -> list[str]:
        """The relay's links to its copies of the renders (none while they are not made)."""
        media = self.media() or {}
        files = media.get("files") if media.get("status") == "mirrored" else None
        return [f["url"] for f in files or [] if isinstance(f, dict) and f.get("url")]


async def task_detail(store: Store, task_id: str, documents: int = 0) -> TaskDetail | None:
    """The task and its history; with the newest `documents` events' bodies."""

    def read(db: Db) -> TaskDetail | None:
        task = _placed(db, task_id)
        if task is None:
            return None
        events, deliveries = tasks.task_history(db, task_id, HISTORY)
        return TaskDetail(
            task,
            events,
            deliveries,
            reads.task_attempts(db, task_id, HISTORY),
            submit_queue.attempts(db, task_id, HISTORY),
            tasks.event_bodies(db, task_id, documents) if documents else {},
            mirrors.copying(db, task_id),
        )

    return await store.read(read)


async def task(store: Store, task_id: str) -> Task | None:
    """The task, with its place in the submit queue while it waits."""
    return await store.read(lambda db: _placed(db, task_id))


def _placed(db: Db, task_id: str) -> Task | None:
    found = tasks.get_task(db, task_id)
    return submit_queue.placed(db, [found])[0] if found is not None else None


async def task_documents(
    store: Store, task_id: str, limit: int
) -> tuple[Task, dict[str, tuple[dict[str, Any], str]]] | None:
    """The task and its newest `limit` events' documents, newest first."""

    def read(db: Db) -> tuple[Task, dict[str, tuple[dict[str, Any], str]]] | None:
        found = _placed(db, task_id)
        return (found, tasks.event_bodies(db, task_id, limit)) if found is not None else None

    return await store.read(read)


async def task_list(store: Store, wanted: TaskFilter) -> list[Task]:
    """A page of tasks; a text search reads apart (it may scan many rows)."""

    def read(db: Db) -> list[Task]:
        return submit_queue.placed(db, tasks.list_tasks(db, wanted))

    return await store.read(read, apart=bool(wanted.text))


async def input_parts(store: Store, task_id: str) -> dict[str, tuple[int, int]]:
    """How many parts each data URI kept for the task has, and its characters
    (receiver/domain/inputs.py); read apart: the lengths are read from the parts."""
    return await store.read(lambda db: tasks.input_parts(db, task_id), apart=True)


async def input_wholes(store: Store, task_id: str, digests: list[str]) -> dict[str, str]:
    """Data URIs of the task kept in one part each, by digest, in one read."""
    return await store.read(lambda db: tasks.input_wholes(db, task_id, digests), apart=True)


async def input_part(store: Store, task_id: str, sha256: str, part: int) -> str:
    """One part of one of the task's data URIs (off SQLite's event loop: a part is
    megabytes)."""
    return await store.read(lambda db: tasks.input_part(db, task_id, sha256, part), apart=True)


async def search_window_end(store: Store, before: str | None, size: int) -> str | None:
    return await store.read(lambda db: tasks.search_window_end(db, before, size))


async def deliveries(
    store: Store,
    state: str | None = None,
    downstream: str | None = None,
    task_id: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    return await store.read(
        lambda db: outbox.list_deliveries(db, state, downstream, task_id, limit)
    )


async def app_deliveries(
    store: Store,
    app_id: str,
    state: str | None,
    downstream: str | None,
    task_id: str | None,
    delivery_id: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """An app's deliveries: its downstreams' and its own tasks' webhooks'."""
    return await store.read(
        lambda db: outbox.app_deliveries(db, app_id, state, downstream, task_id, delivery_id, limit)
    )


async def changes(
    store: Store, since: float, task_id: str | None = None, limit: int = 500
) -> list[Change]:
    """Tasks that changed and attempts that ended after `since`, oldest first."""
    return await store.read(lambda db: reads.changes(db, since, task_id, limit))


async def counts(store: Store) -> dict[str, float]:
    """Gauges: tasks and deliveries by state, credits, the queue, the store's size."""
    return await store.read(reads.counts)


async def health(store: Store, names: list[str]) -> list[DownstreamHealth]:
    return await store.read(lambda db: downstreams.health(db, names))


async def downstreams_made(
    store: Store, names: list[str]
) -> tuple[list[ManagedRow], list[DownstreamHealth]]:
    """The downstreams made through the API, and the health of those `names`."""
    return await store.read(lambda db: (managed.every(db), downstreams.health(db, names)))


@dataclass(frozen=True)
class Overview:
    """The console's home: gauges, the hourly chart, each downstream's health, recent tasks."""

    counts: dict[str, float]
    activity: Activity
    health: list[DownstreamHealth]
    recent: list[Task]


async def overview(store: Store, since: float, names: list[str], recent: int) -> Overview:
    def read(db: Db) -> Overview:
        newest = submit_queue.placed(db, tasks.list_tasks(db, TaskFilter(limit=recent)))
        return Overview(
            reads.counts(db), reads.activity(db, since), downstreams.health(db, names), newest
        )

    return await store.read(read)


@dataclass(frozen=True)
class Backlog:
    """A downstream's health with its dead letters and the deliveries being retried."""

    health: DownstreamHealth
    dead: list[Delivery]
    retrying: list[Delivery]


async def backlogs(store: Store, names: list[str], limit: int) -> list[Backlog]:
    def read(db: Db) -> list[Backlog]:
        found = []
        for each in downstreams.health(db, names):
            dead = outbox.list_deliveries(db, "dead", each.name, None, limit)
            pending = outbox.list_deliveries(db, "pending", each.name, None, limit)
            found.append(Backlog(each, dead, [d for d in pending if d.attempts > 0]))
        return found

    return await store.read(read)
