"""The admin API's handlers: tasks, deliveries and the live stream (downstreams: downstreams.py).

Each takes its parameters already read through its model (web/api/models.py) and
answers through its answer model; `web/api/routes.py` says which is which.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.errors import NotFound
from receiver.persist import Task, TaskFilter
from receiver.pipeline import operations
from receiver.pipeline.service import Service
from receiver.web.api import models as m
from receiver.web.api.openapi import reply
from receiver.web.body import read_json
from receiver.web.stream import stream_response

# A base64 data URI of a 64 MB clip is about 86 MB.
MAX_SUBMIT_BYTES = 100 * 1024 * 1024


async def create_task(request: Request, service: Service, params: m.SubmitParams) -> Response:
    timeout = service.config.settings.server.body_timeout_seconds
    payload = await read_json(request, MAX_SUBMIT_BYTES, timeout)
    result = await operations.submit_task(service, payload, params.idempotency_key)
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
    task = await service.store.get_task(params.task_id)
    if task is None:
        raise NotFound("no such task")
    events, deliveries = await service.store.task_history(task.id)
    attempts = await service.store.task_attempts(task.id)
    sends = await service.store.submit_attempts(task.id)
    return reply(
        m.TaskDetail,
        {
            **task.summary(),
            "request": task.request,
            "media": await _media(service, task),
            "events": [e.summary() for e in events],
            "deliveries": [d.summary() for d in deliveries],
            "attempts": [a.summary() for a in attempts],
            "submits": [a.summary() for a in sends],
        },
    )


async def _media(service: Service, task: Task) -> dict[str, Any] | None:
    """Where the copies of the renders are: the newest event's `media` section, or pending
    while the copy of the task's files is being made; None when none is made."""
    documents = await service.store.event_bodies(task.id, limit=20)
    for document, _ in documents.values():  # newest first
        media = document.get("media")
        if isinstance(media, dict):
            return media
    return {"status": "pending"} if await service.store.mirroring(task.id) else None


async def cancel_task(request: Request, service: Service, params: m.TaskIdParams) -> Response:
    task = await operations.cancel_task(service, params.task_id)
    return reply(m.TaskSummary, task.summary())


async def list_tasks(request: Request, service: Service, params: m.TaskListParams) -> Response:
    wanted = TaskFilter(
        state=params.state,
        kind=params.kind,
        since=params.since,
        text=params.q or None,
        before=params.before,
    )
    found = await operations.list_tasks(service, wanted, params.limit)
    body: dict[str, Any] = {"tasks": [t.summary() for t in found.tasks], "next": found.next}
    if found.window_reached:
        body["search_window_reached"] = True
    return reply(m.TaskPage, body)


async def list_deliveries(
    request: Request, service: Service, params: m.DeliveryListParams
) -> Response:
    deliveries = await service.store.list_deliveries(
        params.state, params.downstream, params.task_id, params.limit
    )
    return reply(m.DeliveryList, {"deliveries": [d.summary() for d in deliveries]})


async def replay_delivery(
    request: Request, service: Service, params: m.DeliveryIdParams
) -> Response:
    count = await operations.replay_delivery(service, params.delivery_id)
    return reply(m.Replayed, {"replayed": count})


async def replay_dead_letters(
    request: Request, service: Service, params: m.DeadLetterParams
) -> Response:
    count = await operations.replay_dead_letters(service, params.downstream)
    return reply(m.Replayed, {"replayed": count})


async def stream(request: Request, service: Service, params: m.StreamParams) -> Response:
    return stream_response(request, service, service.changes, params.task_id)
