"""What an operator does to the relay, whichever door they come in by (the admin API, the
console, the command line): each action once, with its wake-up, its metric and its log line."""

from __future__ import annotations

from dataclasses import dataclass, replace

from receiver.domain.access import BOOTSTRAP, Caller
from receiver.domain.routing import TASK_WEBHOOK, owned_name
from receiver.errors import NotFound, Overloaded, StoreError
from receiver.persist import Delivery, Task, TaskFilter
from receiver.pipeline.cancelling import cancel
from receiver.pipeline.service import Service, Work
from receiver.pipeline.submit import submit
from receiver.transitions import delivery, queries, sessions
from receiver.transitions import downstreams as downstream_rows

# The names the doors call (receiver/web/), kept while they move: each is the story or the
# submit itself, nothing in between.
submit_task = submit
end_session = sessions.end
session_ended = sessions.ended


async def task_of(service: Service, task_id: str, caller: Caller = BOOTSTRAP) -> Task:
    """The task, if the caller may see it: another key's is no such task (404, not 403),
    so ids cannot be probed."""
    task = await queries.task(service.store, task_id)
    if task is None or not caller.owns(task.owner_key):
        raise NotFound("no such task")
    return task


async def cancel_task(service: Service, task_id: str, caller: Caller = BOOTSTRAP) -> Task:
    """Cancel here while it waits to be sent; else upstream, then record `cancelled`."""
    await task_of(service, task_id, caller)
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
        floor = await queries.search_window_end(service.store, wanted.before, window)
    found = await queries.task_list(
        service.store, replace(wanted, floor=floor, limit=page_size + 1)
    )
    page = found[:page_size]
    if len(found) > page_size:
        return TaskPage(page, page[-1].id)
    if floor is not None:
        return TaskPage(page, floor, window_reached=True)
    return TaskPage(page, None)


async def replay_deliveries(service: Service, delivery_ids: list[str]) -> int:
    """Send these deliveries again at once, whatever their state; how many were found."""
    count = await delivery.replay(service.store, delivery_ids)
    service.wake(Work.DELIVERIES)
    service.log.info("delivery.replayed", deliveries=count)
    return count


async def deliveries_for(
    service: Service,
    caller: Caller,
    wanted: tuple[str | None, str | None, str | None],
    limit: int,
) -> list[Delivery]:
    """The deliveries the caller may read, newest first, narrowed by (state, downstream,
    task_id): the admin's, every one; an app's, those to its own downstreams (by the names
    it gave them) and to its own tasks' webhooks, nothing of another app's."""
    state, downstream, task_id = wanted
    if caller.sees_all:
        return await queries.deliveries(service.store, state, downstream, task_id, limit)
    app_id = caller.app_id or ""
    if downstream is not None and downstream != TASK_WEBHOOK:
        downstream = owned_name(app_id, downstream)
    return await queries.app_deliveries(
        service.store, app_id, state, downstream, task_id, None, limit
    )


async def _app_may_replay(service: Service, caller: Caller, delivery_id: str) -> None:
    if caller.sees_all:
        return
    found = await queries.app_deliveries(
        service.store, caller.app_id or "", None, None, None, delivery_id, 1
    )
    if not found:
        raise NotFound("no such delivery")


async def replay_delivery(service: Service, delivery_id: str, caller: Caller = BOOTSTRAP) -> int:
    await _app_may_replay(service, caller, delivery_id)
    count = await replay_deliveries(service, [delivery_id])
    if not count:
        raise NotFound("no such delivery")
    return count


async def replay_dead_letters(service: Service, downstream: str, caller: Caller = BOOTSTRAP) -> int:
    """Every dead letter of the downstream queued again; an app names its own."""
    kept = downstream if caller.sees_all else owned_name(caller.app_id or "", downstream)
    if not service.directory.knows(kept):
        raise NotFound(f"no downstream named {downstream!r}")
    count = await delivery.replay_dead_letters(service.store, kept)
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
    changed = await delivery.disable(
        service.store, name, "disabled by an operator", service.subscriptions
    )
    # The `downstream.disabled` notices to its subscribers are committed: send them now.
    service.wake(Work.DELIVERIES)
    service.log.warning("downstream.disabled", downstream=name, reason="operator")
    return changed


async def enable_downstream(service: Service, name: str, recover_since: float | None) -> int:
    """Attempt it again; queue what it held, and what went to dead-letter since then."""
    name = known_downstream(service, name)
    queued = await downstream_rows.enable(service.store, name, recover_since)
    if name in service.directory.unusable:
        # Enabled, it still cannot be used: what was queued waits held, with the reason.
        await downstream_rows.follow_unopened(service.store, [name], [])
    service.wake(Work.DELIVERIES)
    service.log.info(
        "downstream.enabled", downstream=name, recover_since=recover_since, queued=queued
    )
    return queued


async def ready(service: Service) -> None:
    """Raise, saying why, unless this process takes work now: not draining after SIGTERM
    (Overloaded), the store answers and holds every migration this release ships
    (StoreError)."""
    if service.draining():
        raise Overloaded("draining: this process is shutting down")
    if lacking := await service.store.ready():
        raise StoreError(f"migrations not applied yet: {', '.join(map(str, lacking))}")
