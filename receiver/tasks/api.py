"""The admin API's handlers: tasks, deliveries and the live stream (downstreams: downstreams.py).

Each takes its parameters already read through its model (web/api/models.py) and
answers through its answer model; `web/api/routes.py` says which is which.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api import models as m
from receiver.app.api.openapi import reply
from receiver.deliveries import actions as delivery_actions
from receiver.kernel.errors import NotFound
from receiver.kernel.events.rules.routing import TASK_WEBHOOK, owner_of, shown_name
from receiver.kernel.http.body import read_json
from receiver.kernel.observability import tracing
from receiver.kernel.service import Service
from receiver.kernel.store import TaskFilter
from receiver.keys.access import caller_of
from receiver.keys.rules.access import Caller
from receiver.stream.changes import change_hub
from receiver.stream.route import stream_response
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads
from receiver.tasks import submit
from receiver.tasks.detail import TaskDetail

# A base64 data URI of a 64 MB clip is about 86 MB.
MAX_SUBMIT_BYTES = 100 * 1024 * 1024


async def create_task(request: Request, service: Service, params: m.SubmitParams) -> Response:
    timeout = service.config.settings.server.body_timeout_seconds
    payload = await read_json(request, MAX_SUBMIT_BYTES, timeout)
    trace, caller = tracing.caller(request.headers), caller_of(request)
    result = await submit.submit(service, payload, params.idempotency_key, trace, caller)
    task = result.task
    body: dict[str, Any] = {
        "id": task.id,
        "upstream_task_id": task.upstream_task_id,
        "kind": task.kind,
        "state": task.state,
    }
    if result.callback_url:
        body["callback_url"] = result.callback_url
    if task.queue_position is not None:
        body["queue_position"] = task.queue_position
    return reply(m.Submitted, body, 202 if result.created else 200)


async def get_task(request: Request, service: Service, params: m.TaskIdParams) -> Response:
    # The newest events' documents say where the copies of the renders are.
    detail = await task_reads.task_detail(service.store, params.task_id, documents=20)
    caller = caller_of(request)
    if detail is None or not caller.owns(detail.task.owner_key):
        raise NotFound("no such task")
    task = detail.task
    return reply(
        TaskDetail,
        {
            **task.summary(),
            "request": task.request,
            "media": detail.media(),
            **detail.failure(),
            "events": [e.summary() for e in detail.events],
            "deliveries": _own(caller, [d.summary() for d in detail.deliveries]),
            "attempts": _own(caller, [a.summary() for a in detail.attempts]),
            "submits": [a.summary() for a in detail.sends],
        },
    )


async def cancel_task(request: Request, service: Service, params: m.TaskIdParams) -> Response:
    task = await task_actions.cancel_task(service, params.task_id, caller_of(request))
    return reply(m.TaskSummary, task.summary())


async def list_tasks(request: Request, service: Service, params: m.TaskListParams) -> Response:
    wanted = TaskFilter(
        state=params.state,
        kind=params.kind,
        since=params.since,
        text=params.q or None,
        before=params.before,
        owner_key=caller_of(request).owner_filter,
    )
    found = await task_actions.list_tasks(service, wanted, params.limit)
    body: dict[str, Any] = {"tasks": [t.summary() for t in found.tasks], "next": found.next}
    if found.window_reached:
        body["search_window_reached"] = True
    return reply(m.TaskPage, body)


def _own(caller: Caller, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of a task's deliveries or attempts, those the caller may see: the admin every one; an
    app those to its own downstreams (by the names it gave them) and to the task's webhook,
    none to the operator's global downstreams."""
    if caller.sees_all:
        return rows
    return [
        {**row, "downstream": shown_name(row["downstream"])}
        for row in rows
        if row["downstream"] == TASK_WEBHOOK or owner_of(row["downstream"]) == caller.app_id
    ]


async def list_deliveries(
    request: Request, service: Service, params: m.DeliveryListParams
) -> Response:
    caller = caller_of(request)
    wanted = (params.state, params.downstream, params.task_id)
    found = await delivery_actions.deliveries_for(service, caller, wanted, params.limit)
    listed = _own(caller, [d.summary() for d in found])
    return reply(m.DeliveryList, {"deliveries": listed})


async def replay_delivery(
    request: Request, service: Service, params: m.DeliveryIdParams
) -> Response:
    count = await delivery_actions.replay_delivery(service, params.delivery_id, caller_of(request))
    return reply(m.Replayed, {"replayed": count})


async def replay_dead_letters(
    request: Request, service: Service, params: m.DeadLetterParams
) -> Response:
    caller = caller_of(request)
    count = await delivery_actions.replay_dead_letters(service, params.downstream, caller)
    return reply(m.Replayed, {"replayed": count})


async def stream(request: Request, service: Service, params: m.StreamParams) -> Response:
    caller = caller_of(request)
    if params.task_id is not None:
        await task_actions.task_of(service, params.task_id, caller)
    return stream_response(request, service, change_hub(service), params.task_id, caller)
