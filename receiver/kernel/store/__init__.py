"""Persist: the durable store of tasks, events and the delivery outbox."""

from receiver.kernel.extras import require
from receiver.kernel.store.records import (
    Activity,
    Attempt,
    Change,
    Delivery,
    DeliveryFilter,
    DeliveryJob,
    Event,
    NewTask,
    PollJob,
    PollResult,
    Recorded,
    Settled,
    SubmitAttempt,
    SubmitJob,
    Task,
    TaskFilter,
)
from receiver.kernel.store.store import Store
from receiver.lifecycle.rules.reports import ClaimPolicy

__all__ = [
    "Activity",
    "Attempt",
    "Change",
    "ClaimPolicy",
    "Delivery",
    "DeliveryFilter",
    "DeliveryJob",
    "Event",
    "NewTask",
    "PollJob",
    "PollResult",
    "Recorded",
    "Settled",
    "Store",
    "SubmitAttempt",
    "SubmitJob",
    "Task",
    "TaskFilter",
    "open_store",
]


def open_store(url: str) -> Store:
    """The backend the storage URL names; nothing is connected until first use."""
    if url.startswith("sqlite:///"):
        from receiver.kernel.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    require("postgres", "storage.url (PostgreSQL)")
    from receiver.kernel.store.postgres.store import PostgresStore

    return PostgresStore(url)
