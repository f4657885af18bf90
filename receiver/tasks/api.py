"""Tasks: submitted, listed, shown with their history, cancelled, and followed live; their
routes and the models they answer through (receiver/tasks/rules/answers.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from receiver.downstreams.api import Downstreams
from receiver.kernel.errors import NotFound
from receiver.kernel.http import models as m
from receiver.kernel.http.answers import Json
from receiver.kernel.http.body import read_json
from receiver.kernel.http.openapi import (
    LIMIT_RETRY_AFTER,
    PathId,
    answer,
    body,
    reply,
)
from receiver.kernel.observability import tracing
from receiver.keys.guard import caller_of, needs, operation
from receiver.keys.rules import Caller
from receiver.lifecycle.rules.records import TaskFilter
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads
from receiver.tasks import submit
from receiver.tasks.detail import TaskDetail, detail_answer
from receiver.tasks.rules import answers
from receiver.tasks.submit import AnyTaskRequest
from receiver.wiring.dependencies import ServerSection, Stored, on_app

# A base64 data URI of a 64 MB clip is about 86 MB.
MAX_SUBMIT_BYTES = 100 * 1024 * 1024
_ERR = m.ErrorAnswer
_TASK_GONE = answer("No such task.", _ERR)
_UPSTREAM = {
    502: answer("CometAPI refused or failed; `detail` has its message.", _ERR),
    504: answer("CometAPI did not answer in time.", _ERR),
}

router = APIRouter(tags=["tasks"])
# A route's parts for taking a task in and for cancelling one (receiver/app/parts.py).
intake_of = on_app("intake", submit.Intake)
Intaking = Annotated[submit.Intake, Depends(intake_of)]
# Who submits: a bearer holding `tasks:submit`, resolved once (receiver/keys/guard.py).
Submitting = Annotated[Caller, needs("tasks:submit")]
Cancelling = Annotated[task_actions.Canceller, Depends(on_app("canceller", task_actions.Canceller))]

IdempotencyKey = Annotated[
    m.Key | None,
    Header(
        alias="Idempotency-Key",
        description="A retried submit with the same key and body returns the first task"
        " (200), also while it waits to be sent; the same key with another body is refused"
        " (409). Keys are kept as long as their task.",
    ),
]


@router.post(
    "/v1/tasks",
    **operation(
        "tasks:submit",
        "Submit a task",
        "Checked against CometAPI's published limits and stored in the submit queue, at"
        " once: a submit worker sends it when CometAPI has room (`upstream.max_concurrent_"
        "tasks`), and tries again while CometAPI is busy (429, 502, 503, 504, no answer)."
        " The callback kinds (`video2video`, `generate`, `act_one`) get the relay's own"
        " signed callback URL; the official-format kinds are polled. A refusal that will"
        " not change fails the task, as its events say.",
        {
            200: answer(
                "An earlier submit with this Idempotency-Key: that task.", answers.Submitted
            ),
            202: answer(
                "Queued (`state: queued`); it is sent to CometAPI next.", answers.Submitted
            ),
            400: answer("The body is not JSON, or a header is wrong.", _ERR),
            408: answer("The body did not arrive in time.", _ERR),
            409: answer("This Idempotency-Key came with another body.", _ERR),
            413: answer("The body is over 100 MiB.", _ERR),
            422: answer("The request breaks a limit; `detail` names every field.", _ERR),
            429: answer(
                "The API key's `max_queued` or `max_per_day` is reached; `limit` says which.",
                _ERR,
                headers=LIMIT_RETRY_AFTER,
            ),
        },
        guard=False,
    ),
    status_code=202,
    openapi_extra=body(
        AnyTaskRequest,
        "TaskRequest",
        "A kind of the relay's table, named by `kind`: video2video has fields of its own;"
        " every other kind's body is CometAPI's own, passed on as sent (Runway's own"
        " routes need a `model`).",
    ),
)
async def create_task(
    request: Request,
    intake: Intaking,
    server: ServerSection,
    # The guard's caller, key and scopes resolved once, before the body: keys/ is left once.
    caller: Submitting,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    payload = await read_json(request, MAX_SUBMIT_BYTES, server.body_timeout_seconds)
    trace = tracing.caller(request.headers)
    result = await submit.submit(intake, payload, idempotency_key, trace, caller)
    task = result.task
    shown: dict[str, Any] = {
        "id": task.id,
        "upstream_task_id": task.upstream_task_id,
        "kind": task.kind,
        "state": task.state,
    }
    if result.callback_url:
        shown["callback_url"] = result.callback_url
    if task.queue_position is not None:
        shown["queue_position"] = task.queue_position
    return reply(answers.Submitted, shown, 202 if result.created else 200)


@router.get(
    "/v1/tasks",
    **operation(
        "tasks:read",
        "List tasks",
        "Newest first, a page at a time: pass the answer's `next` as `before` for the next.",
        {
            200: answer("A page of tasks.", answers.TaskPage),
            404: answer("`app` names no live app.", _ERR),
        },
    ),
)
async def list_tasks(
    request: Request,
    store: Stored,
    server: ServerSection,
    params: Annotated[answers.TaskListParams, Query()],
) -> Response:
    wanted = TaskFilter(
        state=params.state,
        kind=params.kind,
        since=params.since,
        text=params.q or None,
        before=params.before,
        owner_key=await task_actions.owner_filter(store, caller_of(request), params.app),
    )
    found = await task_actions.list_tasks(store, wanted, params.limit, server.search_window)
    page: dict[str, Any] = {"tasks": found.tasks, "next": found.next}
    if found.window_reached:
        page["search_window_reached"] = True
    return reply(answers.TaskPage, page)


@router.get(
    "/v1/tasks/{task_id}",
    **operation(
        "tasks:read",
        "One task with its history",
        "State, outputs and cost; its place in the submit queue and every send to CometAPI;"
        " every event (callbacks with CometAPI's verdict on them), every delivery per"
        " downstream and every delivery attempt.",
        {200: answer("The task.", TaskDetail), 404: _TASK_GONE},
    ),
)
async def get_task(request: Request, store: Stored, task_id: PathId) -> Response:
    # The newest events' documents say where the copies of the renders are.
    detail = await task_reads.task_detail(store, task_id, documents=20)
    caller = caller_of(request)
    if detail is None or not caller.owns(detail.task.owner_key):
        raise NotFound("no such task")
    return Json(detail_answer(detail, caller))


@router.delete(
    "/v1/tasks/{task_id}",
    **operation(
        "tasks:cancel",
        "Cancel a task",
        "A task still waiting in the submit queue is cancelled here, at once: it never"
        " reaches CometAPI. Else an official-format task is cancelled at CometAPI, then"
        " recorded as cancelled; CometAPI documents no cancel for `video2video`: 409, as for"
        " a task that has ended or is being sent at this moment.",
        {
            200: answer("Cancelled.", answers.TaskSummary),
            404: _TASK_GONE,
            409: answer("It cannot be cancelled; `detail` says why.", _ERR),
            **_UPSTREAM,
        },
    ),
)
async def cancel_task(
    request: Request, canceller: Cancelling, directory: Downstreams, task_id: PathId
) -> Response:
    task = await task_actions.cancel_task(canceller, directory, task_id, caller_of(request))
    return reply(answers.TaskSummary, task)
