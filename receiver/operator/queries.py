"""What the service reads of tasks and deliveries, each answer in one snapshot of the store
(one read transaction): the API, the console and the command line ask the same questions
here, so a task's page never mixes two moments of it."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.downstreams import rows as downstreams
from receiver.downstreams.rows import DownstreamHealth
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rows.tasks import intake, submits
from receiver.lifecycle.rules.records import Task, TaskFilter
from receiver.operator import rows
from receiver.operator.rows import Activity
from receiver.outbox.rows import lists
from receiver.outbox.rules.delivery import Delivery, DeliveryFilter


async def counts(store: Store) -> dict[str, float]:
    """Gauges: tasks and deliveries by state, credits, the queue, the store's size."""
    return await store.read(rows.counts)


@dataclass(frozen=True)
class Overview:
    """The console's home: gauges, the hourly chart, each downstream's health, recent tasks."""

    counts: dict[str, float]
    activity: Activity
    health: list[DownstreamHealth]
    recent: list[Task]


async def overview(store: Store, since: float, names: list[str], recent: int) -> Overview:
    def read(db: Db) -> Overview:
        newest = submits.placed(db, intake.list_tasks(db, TaskFilter(limit=recent)))
        return Overview(
            rows.counts(db), rows.activity(db, since), downstreams.health(db, names), newest
        )

    return await store.read(read)


async def health(store: Store, names: list[str]) -> list[DownstreamHealth]:
    """The downstreams' health records (the apps page's badges)."""
    return await store.read(lambda db: downstreams.health(db, names))


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
            dead = lists.list_deliveries(db, DeliveryFilter("dead", each.name, limit=limit))
            pending = lists.list_deliveries(db, DeliveryFilter("pending", each.name, limit=limit))
            found.append(Backlog(each, dead, [d for d in pending if d.attempts > 0]))
        return found

    return await store.read(read)
