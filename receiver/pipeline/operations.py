"""What an operator does to the relay, whichever door they come in by (the admin API, the
console, the command line): each action once, with its wake-up, its metric and its log line."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from receiver.errors import NotFound
from receiver.persist import Task, TaskFilter
from receiver.pipeline.service import Service, Work
from receiver.pipeline.submit import Submission, cancel, submit


async def submit_task(service: Service, payload: Any, idempotency_key: str | None) -> Submission:
    """Store the task in the submit queue (its sending is counted by the submit worker)."""
    return await submit(service, payload, idempotency_key)


async def cancel_task(service: Service, task_id: str) -> Task:
    """Cancel here while it waits to be sent; else upstream, then record `cancelled`."""
    return await cancel(service, task_id)


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    next: str | None  # where the next page starts (`before`); None: no more
    # A search stopped at its window before the page filled: `next` goes on below it.
    window_reached: bool = False


async def list_tasks(service: Service, wanted: TaskFilter, page_size: int) -> TaskPage:
    """A page of tasks, newest first. A text search scans no more than
    `server.search_window` tasks (no index serves a substring of the request), so one costs
    the same however many tasks are stored; a page cut short by the window says so and
    where to go on."""
    floor = None
    if wanted.text:
        window = service.config.settings.server.search_window
        floor = await service.store.search_window_end(wanted.before, window)
    found = await service.store.list_tasks(replace(wanted, floor=floor, limit=page_size + 1))
    page = found[:page_size]
    if len(found) > page_size:
        return TaskPage(page, page[-1].id)
    if floor is not None:
        return TaskPage(page, floor, window_reached=True)
    return TaskPage(page, None)


async def replay_deliveries(service: Service, delivery_ids: list[str]) -> int:
    """Send these deliveries again at once, whatever their state; how many were found."""
    count = await service.store.replay(delivery_ids)
    service.wake(Work.DELIVERIES)
    service.log.info("delivery.replayed", deliveries=count)
    return count


async def replay_delivery(service: Service, delivery_id: str) -> int:
    count = await replay_deliveries(service, [delivery_id])
    if not count:
        raise NotFound("no such delivery")
    return count


async def replay_dead_letters(service: Service, downstream: str) -> int:
    count = await service.store.replay_dead_letters(known_downstream(service, downstream))
    service.wake(Work.DELIVERIES)
    service.log.info("delivery.replayed", downstream=downstream, deliveries=count)
    return count


def known_downstream(service: Service, name: str) -> str:
    if not service.directory.knows(name):
        raise NotFound(f"no downstream named {name!r}")
    return name


async def disable_downstream(service: Service, name: str) -> bool:
    """Stop attempting it; its new deliveries are held. False when it was already."""
    name = known_downstream(service, name)
    changed = await service.store.disable_downstream(
        name, "disabled by an operator", service.subscriptions
    )
    # The `downstream.disabled` notices to its subscribers are committed: send them now.
    service.wake(Work.DELIVERIES)
    service.log.warning("downstream.disabled", downstream=name, reason="operator")
    return changed


async def enable_downstream(service: Service, name: str, recover_since: float | None) -> int:
    """Attempt it again; queue what it held, and what went to dead-letter since then."""
    name = known_downstream(service, name)
    queued = await service.store.enable_downstream(name, recover_since)
    service.wake(Work.DELIVERIES)
    service.log.info(
        "downstream.enabled", downstream=name, recover_since=recover_since, queued=queued
    )
    return queued
