"""What a caller does to a task, whichever door they come in by: read one it may see, list a
page, cancel."""

from __future__ import annotations

from dataclasses import dataclass, replace

from receiver.downstreams.directory import Directory
from receiver.kernel.errors import Conflict, NotAllowed, NotFound
from receiver.kernel.observability.logs import Log
from receiver.kernel.store import Store
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.lifecycle.comet import CometClient
from receiver.lifecycle.handoff import Wakers
from receiver.lifecycle.rules.records import Task, TaskFilter
from receiver.lifecycle.rules.task import is_callback
from receiver.tasks import reads as task_reads
from receiver.tasks import transactions as task_transactions


@dataclass(frozen=True)
class Canceller:
    """What cancelling a task uses, made once at start-up (receiver/app/parts.py)."""

    store: Store
    comet: CometClient
    wakers: Wakers
    log: Log


async def task_of(store: Store, task_id: str, caller: Caller = BOOTSTRAP) -> Task:
    """The task, if the caller may see it: another key's is no such task (404, not 403),
    so ids cannot be probed."""
    task = await task_reads.task(store, task_id)
    if task is None or not caller.owns(task.owner_key):
        raise NotFound("no such task")
    return task


async def owner_filter(store: Store, caller: Caller, app: str | None) -> str | None:
    """Whose tasks a list shows: the caller's own unless it sees every task, then the app
    named (None: every task). A name the caller may not list, or no live app's, is refused."""
    if not app:
        return caller.owner_filter
    if not caller.sees_all:
        if app != caller.app:
            raise NotAllowed("only a key with the admin scope lists another app's tasks")
        return caller.owner_filter
    found = await task_reads.app_named(store, app)
    if found is None:
        raise NotFound(f"no live app is named {app!r}")
    return found


async def cancel_task(
    canceller: Canceller, directory: Directory, task_id: str, caller: Caller = BOOTSTRAP
) -> Task:
    """Cancel here and at once while it waits to be sent; else upstream (only the official
    format has a cancel route), recorded once CometAPI has accepted it."""
    store, log = canceller.store, canceller.log
    task = await task_of(store, task_id, caller)
    if task.ended:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.submission == "waiting":
        recorded = await task_transactions.while_waiting(store, task.id, directory.subscribers)
        if recorded is not None:
            canceller.wakers.recorded(recorded)
            log.info("task.cancelled", task_id=task.id, sent=False)
            return recorded.task or task
        task = await task_reads.task(store, task_id) or task  # sent meanwhile
    if task.submission == "sending":
        raise Conflict("the task is being sent to CometAPI right now: cancel it again shortly")
    if is_callback(task.kind):
        raise Conflict(
            f"CometAPI documents no cancel for {task.kind} (reverse-format) tasks:"
            " the task runs to its end"
        )
    if task.ended:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.upstream_task_id is None:
        raise Conflict("CometAPI has not accepted the task yet: nothing to cancel")
    await canceller.comet.cancel(task.upstream_task_id)
    recorded = await task_transactions.upstream(store, task.id, directory.subscribers)
    canceller.wakers.recorded(recorded)
    log.info("task.cancelled", task_id=task.id, upstream_task_id=task.upstream_task_id)
    return recorded.task or task


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    next: str | None  # where the next page starts (`before`); None: no more
    # A search stopped at its window before the page filled: `next` goes on below it.
    window_reached: bool = False


async def list_tasks(
    store: Store, wanted: TaskFilter, page_size: int, search_window: int
) -> TaskPage:
    """A page of tasks, newest first. A text search scans no more than `search_window`
    tasks (no index serves a substring), so one costs the same however many are stored."""
    floor = None
    if wanted.text:
        floor = await task_reads.search_window_end(store, wanted.before, search_window)
    found = await task_reads.task_list(store, replace(wanted, floor=floor, limit=page_size + 1))
    page = found[:page_size]
    if len(found) > page_size:
        return TaskPage(page, page[-1].id)
    if floor is not None:
        return TaskPage(page, floor, window_reached=True)
    return TaskPage(page, None)
