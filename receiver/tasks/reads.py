"""What the service reads of a task, each answer in one snapshot of the store, so a task's
page never mixes two moments of it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.keys.rows import apps
from receiver.lifecycle.rows import mirrors
from receiver.lifecycle.rows.tasks import intake, submits
from receiver.lifecycle.rules.records import Event, SubmitAttempt, Task, TaskFilter
from receiver.lifecycle.rules.task import failure_message
from receiver.outbox.rows import lists
from receiver.outbox.rules.delivery import Attempt, Delivery

HISTORY = 500  # events, deliveries and attempts shown of one task, the newest


@dataclass(frozen=True)
class TaskHistory:
    """A task with its history, as one moment of the store saw it."""

    task: Task
    events: list[Event]
    deliveries: list[Delivery]
    attempts: list[Attempt]
    sends: list[SubmitAttempt]
    # The newest events' documents and raw bodies, by event id, newest first.
    documents: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    copying: bool = False  # a copy of its files is being made

    def media(self) -> dict[str, Any] | None:
        """The newest event's `media` section, or pending while copies are being made."""
        for document, _ in self.documents.values():
            media = document.get("media")
            if isinstance(media, dict):
                return media
        return {"status": "pending"} if self.copying else None

    def failure(self) -> dict[str, str | None]:
        """Once the task failed: its failure code and the message safe to show an end user,
        as its newest failed event carried them."""
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


async def task_detail(store: Store, task_id: str, documents: int = 0) -> TaskHistory | None:
    """The task and its history; with the newest `documents` events' bodies."""

    def read(db: Db) -> TaskHistory | None:
        task = _placed(db, task_id)
        if task is None:
            return None
        event_rows, delivery_rows = intake.task_history(db, task_id, HISTORY)
        return TaskHistory(
            task,
            event_rows,
            delivery_rows,
            lists.task_attempts(db, task_id, HISTORY),
            submits.attempts(db, task_id, HISTORY),
            intake.event_bodies(db, task_id, documents) if documents else {},
            mirrors.copying(db, task_id),
        )

    return await store.read(read)


async def task(store: Store, task_id: str) -> Task | None:
    """The task, with its place in the submit queue while it waits."""
    return await store.read(lambda db: _placed(db, task_id))


async def tasks_of(store: Store, task_ids: list[str]) -> dict[str, Task]:
    """The tasks of these ids that still exist, by id, in one read (a delivery log's)."""

    def read(db: Db) -> dict[str, Task]:
        found = [intake.get_task(db, task_id) for task_id in dict.fromkeys(task_ids)]
        return {t.id: t for t in found if t is not None}

    return await store.read(read)


def _placed(db: Db, task_id: str) -> Task | None:
    found = intake.get_task(db, task_id)
    return named(db, submits.placed(db, [found]))[0] if found is not None else None


def named(db: Db, tasks: list[Task]) -> list[Task]:
    """The tasks with the name of the app that owns each (a deleted app's too), in one read."""
    owners = apps.names(db, sorted({t.owner_key for t in tasks if t.owner_key}))
    return [replace(t, app=owners.get(t.owner_key)) if t.owner_key else t for t in tasks]


async def app_named(store: Store, name: str) -> str | None:
    """The id of the live app of that name (None: none)."""
    found = await store.read(lambda db: apps.named(db, name))
    return found.id if found is not None else None


async def task_documents(
    store: Store, task_id: str, limit: int
) -> tuple[Task, dict[str, tuple[dict[str, Any], str]]] | None:
    """The task and its newest `limit` events' documents, newest first."""

    def read(db: Db) -> tuple[Task, dict[str, tuple[dict[str, Any], str]]] | None:
        found = _placed(db, task_id)
        return (found, intake.event_bodies(db, task_id, limit)) if found is not None else None

    return await store.read(read)


async def task_list(store: Store, wanted: TaskFilter) -> list[Task]:
    """A page of tasks; a text search reads apart (it may scan many rows)."""

    def read(db: Db) -> list[Task]:
        return named(db, submits.placed(db, intake.list_tasks(db, wanted)))

    return await store.read(read, apart=bool(wanted.text))


async def input_parts(store: Store, task_id: str) -> dict[str, tuple[int, int]]:
    """How many parts each data URI kept for the task has, and its characters."""
    return await store.read(lambda db: intake.input_parts(db, task_id), apart=True)


async def input_wholes(store: Store, task_id: str, digests: list[str]) -> dict[str, str]:
    """Data URIs of the task kept in one part each, by digest, in one read."""
    return await store.read(lambda db: intake.input_wholes(db, task_id, digests), apart=True)


async def input_part(store: Store, task_id: str, sha256: str, part: int) -> str:
    """One part of one of the task's data URIs (apart: a part is megabytes)."""
    return await store.read(lambda db: intake.input_part(db, task_id, sha256, part), apart=True)


async def search_window_end(store: Store, before: str | None, size: int) -> str | None:
    return await store.read(lambda db: intake.search_window_end(db, before, size))
