"""Cancelling a task: here and at once while it waits in the submit queue, else at
CometAPI for the kinds that have a cancel route."""

from __future__ import annotations

from receiver.downstreams.directory import Directory
from receiver.kernel.errors import Conflict, NotFound
from receiver.lifecycle.rules.records import Task
from receiver.lifecycle.rules.task import TERMINAL_STATES, is_callback
from receiver.tasks import reads as task_reads
from receiver.tasks import stories as task_stories
from receiver.wiring.service import Service


async def cancel(service: Service, directory: Directory, task_id: str) -> Task:
    """Cancel a task: here and at once while it waits in the submit queue (it never reaches
    CometAPI); else upstream, then record `cancelled`.

    Only the official format has a cancel route; CometAPI documents none for the reverse
    format. The state changes only once CometAPI has accepted the cancel.
    """
    task = await task_reads.task(service.store, task_id)
    if task is None:
        raise NotFound("no such task")
    if task.state in TERMINAL_STATES:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.submission == "waiting":
        recorded = await task_stories.while_waiting(service.store, task.id, directory.subscriptions)
        if recorded is not None:
            service.recorded(recorded)
            service.log.info("task.cancelled", task_id=task.id, sent=False)
            return recorded.task or task
        task = await task_reads.task(service.store, task_id) or task  # sent meanwhile
    if task.submission == "sending":
        raise Conflict("the task is being sent to CometAPI right now: cancel it again shortly")
    if is_callback(task.kind):
        raise Conflict(
            f"CometAPI documents no cancel for {task.kind} (reverse-format) tasks:"
            " the task runs to its end"
        )
    if task.state in TERMINAL_STATES:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.upstream_task_id is None:
        raise Conflict("CometAPI has not accepted the task yet: nothing to cancel")
    await service.comet.cancel(task.upstream_task_id)
    recorded = await task_stories.upstream(service.store, task.id, directory.subscriptions)
    service.recorded(recorded)
    service.log.info("task.cancelled", task_id=task.id, upstream_task_id=task.upstream_task_id)
    return recorded.task or task
