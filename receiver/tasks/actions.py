"""What a caller does to a task, whichever door they come in by (the admin API, the
console, the command line, the agents' door): read one it may see, list a page, cancel."""

from __future__ import annotations

from dataclasses import dataclass, replace

from receiver.downstreams.directory import Directory
from receiver.kernel.errors import NotFound
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.lifecycle.rules.records import Task, TaskFilter
from receiver.tasks import reads as task_reads
from receiver.tasks.cancelling import cancel
from receiver.wiring.service import Service

# The names the doors call (the API, the console, the portal, the agents' door), kept
# while they move: each is the story or the submit itself, nothing in between.


async def task_of(service: Service, task_id: str, caller: Caller = BOOTSTRAP) -> Task:
    """The task, if the caller may see it: another key's is no such task (404, not 403),
    so ids cannot be probed."""
    task = await task_reads.task(service.store, task_id)
    if task is None or not caller.owns(task.owner_key):
        raise NotFound("no such task")
    return task


async def cancel_task(
    service: Service, directory: Directory, task_id: str, caller: Caller = BOOTSTRAP
) -> Task:
    """Cancel here while it waits to be sent; else upstream, then record `cancelled`."""
    await task_of(service, task_id, caller)
    return await cancel(service, directory, task_id)


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
        floor = await task_reads.search_window_end(service.store, wanted.before, window)
    found = await task_reads.task_list(
        service.store, replace(wanted, floor=floor, limit=page_size + 1)
    )
    page = found[:page_size]
    if len(found) > page_size:
        return TaskPage(page, page[-1].id)
    if floor is not None:
        return TaskPage(page, floor, window_reached=True)
    return TaskPage(page, None)
