"""Persist: the durable store of tasks, events and the delivery outbox."""

from receiver.persist.records import Delivery, DeliveryJob, Event, NewTask, PollJob, Recorded, Task
from receiver.persist.store import Store, open_store

__all__ = [
    "Delivery",
    "DeliveryJob",
    "Event",
    "NewTask",
    "PollJob",
    "Recorded",
    "Store",
    "Task",
    "open_store",
]
