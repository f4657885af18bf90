"""Runway's API shape under `/runwayml`: code written for Runway's SDK points its base URL
at the relay, and each create becomes an ordinary relay task (the same id answers
`GET /v1/tasks/{id}`) that goes through the submit queue, polling, corroboration, fan-out
and copies like any other.

The admin token is the API key. Refusals come in Runway's shape (`{"error": ...}`) with
Runway's statuses: 400 where the relay's own API says 422.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

from pydantic import Field, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from receiver.domain.states import TERMINAL_STATES
from receiver.errors import (
    Conflict,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    RelayError,
)
from receiver.persist import Task
from receiver.pipeline import operations
from receiver.pipeline.service import Service
from receiver.pipeline.submit import ImageToVideoFields, VideoToVideoFields
from receiver.web.api import runway_shape as shape
from receiver.web.api.models import Answer, Id, InHeader, InPath, Key, Params
from receiver.web.api.openapi import Body, Handler, Operation, Reply, read_params, reply
from receiver.web.body import read_json
from receiver.web.errors import answer_for
from receiver.web.http import Json, is_admin

# How long a create waits for CometAPI's answer, so that a refusal comes back as Runway's
# own API gives it (a 400); a task the queue holds longer is answered as THROTTLED.
CREATE_WAIT_SECONDS = 5.0
_CREATE_WAIT_STEP = 0.05
MAX_CREATE_BYTES = 100 * 1024 * 1024  # a base64 data URI of a 64 MB clip is about 86 MB

P = TypeVar("P", bound=Params)
RunwayHandler = Callable[[Request, Service, P], Awaitable[Response]]


class RunwayError(Answer):
    """Runway's refusal: one sentence."""

    error: str


class RunwayCost(Answer):
    credits: float


class RunwayCreated(Answer):
    id: str = Field(description="The relay's task id: `GET /v1/tasks/{id}` answers it too.")
    estimatedCost: RunwayCost = Field(
        description="The credits CometAPI reported for it so far (0 if none yet)."
    )


class RunwayTask(Answer):
    """A task as Runway's `GET /v1/tasks/{id}` shows it."""

    id: str
    status: Literal["PENDING", "THROTTLED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
    createdAt: str = Field(description="ISO 8601, UTC.")
    estimatedCost: RunwayCost | None = Field(
        None, description="Until it ends: the credits CometAPI reported so far (0 if none)."
    )
    cost: RunwayCost | None = Field(None, description="Once it ended: credits charged.")
    progress: float | None = Field(None, description="RUNNING: 0 to 1.")
    output: list[str] | None = Field(
        None,
        description="SUCCEEDED: the relay's own copies when it made them (they outlive the"
        " provider's links), CometAPI's links otherwise.",
    )
    failure: str | None = None
    failureCode: str | None = None


class RunwayParams(Params):
    runway_version: Annotated[Key, InHeader()] = Field(
        alias="X-Runway-Version",
        description="Runway's API version, e.g. `2024-11-06`; required, as Runway requires it.",
    )


class RunwayTaskParams(RunwayParams):
    task_id: Annotated[Id, InPath()]


def _refusal(exc: RelayError) -> Json:
    status = answer_for(exc)[0]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return Json(
        {"error": exc.detail}, status_code=400 if status == 422 else status, headers=headers
    )


def _endpoint(handler: RunwayHandler[P], params: type[P]) -> Handler:
    """The bearer check, the parameters, then the handler; refusals in Runway's shape."""

    async def endpoint(request: Request) -> Response:
        service: Service = request.app.state.service
        try:
            if not is_admin(request, service.config.secrets.admin_token):
                raise NotAuthenticated("missing or wrong API key (the relay's admin token)")
            return await handler(request, service, read_params(request, params))
        except RelayError as exc:
            return _refusal(exc)

    return endpoint


def _creates(kind: str) -> RunwayHandler[RunwayParams]:
    async def handler(request: Request, service: Service, params: RunwayParams) -> Response:
        return await create(kind, request, service)

    return handler


async def create(kind: str, request: Request, service: Service) -> Response:
    timeout = service.config.settings.server.body_timeout_seconds
    body = await read_json(request, MAX_CREATE_BYTES, timeout)
    if isinstance(body, dict) and "kind" in body:
        raise InvalidRequest("kind: not a field of Runway's API (the route names the kind)")
    submitted = await operations.submit_task(service, shape.relay_payload(kind, body), None)
    task = await _sent_or_held(service, submitted.task)
    if task.state == "failed" and task.upstream_task_id is None:
        raise InvalidRequest(task.error or "CometAPI refused the task")
    return reply(RunwayCreated, {"id": task.id, "estimatedCost": shape.estimate(task)})


async def _sent_or_held(service: Service, task: Task) -> Task:
    """The task once CometAPI has answered its send, or as it is after CREATE_WAIT_SECONDS
    (the queue holds it: no room at CometAPI, or CometAPI asked to wait)."""
    deadline = time.monotonic() + CREATE_WAIT_SECONDS
    while task.submission in ("waiting", "sending") and time.monotonic() < deadline:
        await asyncio.sleep(_CREATE_WAIT_STEP)
        task = await service.store.get_task(task.id) or task
    return task


async def retrieve(request: Request, service: Service, params: RunwayTaskParams) -> Response:
    task = await service.store.get_task(params.task_id)
    if task is None:
        raise NotFound("task not found")
    copies: list[str] = []
    failure_code = None
    documents = await service.store.event_bodies(task.id, limit=20)
    for document, _ in documents.values():  # newest first
        copies = copies or shape.copied_videos(document.get("media"))
        failure_code = failure_code or document.get("failure_code")
    return reply(RunwayTask, shape.runway_task(task, copies, failure_code))


async def delete(request: Request, service: Service, params: RunwayTaskParams) -> Response:
    """Runway's DELETE cancels a task that has not ended; on one that has, there is nothing
    to cancel (the relay keeps its record until retention removes it)."""
    task = await service.store.get_task(params.task_id)
    if task is None:
        raise NotFound("task not found")
    deadline = time.monotonic() + CREATE_WAIT_SECONDS
    while task.state not in TERMINAL_STATES:
        try:
            await operations.cancel_task(service, task.id)
            break
        except Conflict:
            task = await service.store.get_task(task.id) or task
            if task.state in TERMINAL_STATES:
                break  # it ended meanwhile: nothing to cancel
            # A send in flight this moment (the queue retrying it): Runway's DELETE has no
            # such state, so wait for the send's answer and cancel then.
            if task.submission != "sending" or time.monotonic() > deadline:
                raise
            await asyncio.sleep(_CREATE_WAIT_STEP)
    return Response(status_code=204)


_ERR = RunwayError
_CREATE_REPLIES = (
    Reply(200, "Created: the task's id.", RunwayCreated),
    Reply(
        400,
        "The body breaks a limit, or CometAPI refused the task (which is then failed).",
        _ERR,
    ),
    Reply(408, "The body did not arrive in time.", _ERR),
    Reply(413, "The body is over 100 MiB.", _ERR),
)


def _create_op(kind: str, fields: type[ImageToVideoFields | VideoToVideoFields]) -> Operation:
    return _op(
        f"/runwayml/v1/{kind}",
        "POST",
        _creates(kind),
        RunwayParams,
        f"Create a {kind} task (Runway's shape)",
        f"Runway's `POST /v1/{kind}`. The task is stored and queued like `POST /v1/tasks`;"
        f" the answer waits up to {CREATE_WAIT_SECONDS:g} s for CometAPI to take it, so that"
        " CometAPI's refusal is a 400 here, as Runway gives it.",
        _CREATE_REPLIES,
        Body(TypeAdapter(fields), f"Runway{fields.__name__}", "Runway's own fields."),
    )


def _op(
    path: str,
    method: str,
    handler: RunwayHandler[P],
    params: type[P],
    summary: str,
    description: str,
    replies: tuple[Reply, ...],
    body: Body | None = None,
) -> Operation:
    endpoint = _endpoint(handler, params)
    return Operation(
        path,
        (method,),
        endpoint,
        "runwayml",
        summary,
        description,
        "admin",
        replies,
        params,
        body,
        refusal=RunwayError,
    )


OPERATIONS: tuple[Operation, ...] = (
    _create_op("image_to_video", ImageToVideoFields),
    _create_op("video_to_video", VideoToVideoFields),
    _op(
        "/runwayml/v1/tasks/{task_id}",
        "GET",
        retrieve,
        RunwayTaskParams,
        "A task (Runway's shape)",
        "Any relay task, as Runway's `GET /v1/tasks/{id}` shows one.",
        (Reply(200, "The task.", RunwayTask), Reply(404, "No such task.", _ERR)),
    ),
    _op(
        "/runwayml/v1/tasks/{task_id}",
        "DELETE",
        delete,
        RunwayTaskParams,
        "Cancel a task (Runway's shape)",
        "Cancels it: at once while it waits in the submit queue, else at CometAPI. A task"
        " that has ended is left as it is (204: nothing to cancel).",
        (
            Reply(204, "Cancelled, or it had ended."),
            Reply(404, "No such task.", _ERR),
            Reply(409, "It cannot be cancelled now; `error` says why.", _ERR),
            Reply(502, "CometAPI refused or failed the cancel.", _ERR),
            Reply(504, "CometAPI did not answer in time.", _ERR),
        ),
    ),
)
