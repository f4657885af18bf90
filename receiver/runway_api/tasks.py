"""Runway's API shape under `/runwayml`, for code written for Runway's SDK: each create
becomes an ordinary relay task. The relay's API key is the Runway API key; refusals come in
Runway's shape (`{"error": ...}`), 400 where the relay's own API says 422.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from receiver.config.sections import ServerConfig
from receiver.downstreams.api import Downstreams
from receiver.kernel.errors import Conflict, InvalidRequest, NotFound, RelayError
from receiver.kernel.http.answers import Json
from receiver.kernel.http.body import read_json
from receiver.kernel.http.errors import answer_for, headers_for
from receiver.kernel.http.models import Answer, Key
from receiver.kernel.http.openapi import (
    LIMIT_RETRY_AFTER,
    PathId,
    answer,
    body,
    reply,
)
from receiver.kernel.observability import tracing
from receiver.kernel.store import Store
from receiver.keys.guard import caller_of, operation
from receiver.lifecycle.rules.records import Task, TaskFilter
from receiver.lifecycle.rules.task import FRONT_DOOR
from receiver.runway_api import files as runway_files
from receiver.runway_api import shape
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads
from receiver.tasks import submit
from receiver.tasks.api import Cancelling, Intaking
from receiver.tasks.submit import Intake
from receiver.wiring.dependencies import ServerSection, Stored, UpstreamSection

# How long a create waits for CometAPI's answer, so that a refusal comes back as Runway's
# own API gives it (a 400); a task the queue holds longer is answered as THROTTLED.
CREATE_WAIT_SECONDS = 5.0
_CREATE_WAIT_STEP = 0.05
MAX_CREATE_BYTES = 100 * 1024 * 1024  # a base64 data URI of a 64 MB clip is about 86 MB

RunwayHandler = Callable[[Request, Intake, ServerConfig], Awaitable[Response]]


class RunwayBody(BaseModel):
    """Runway's own fields for the route, passed on to CometAPI as sent."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=64, description="The Runway model to run.")


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


async def runway_version(
    version: Annotated[
        Key,
        Header(
            alias="X-Runway-Version",
            description="Runway's API version, e.g. `2024-11-06`; required, as Runway requires it.",
        ),
    ],
) -> None:
    """Every route of Runway's shape asks for the header, as Runway does (a coroutine, so
    that FastAPI checks it inline, not in a worker thread)."""


def refusal(exc: RelayError) -> Json:
    """A refusal in Runway's shape, as its SDKs read it."""
    status = answer_for(exc)[0]
    return Json(
        {"error": exc.detail},
        status_code=400 if status == 422 else status,
        headers=headers_for(exc),
    )


def _creates(kind: str) -> RunwayHandler:
    async def handler(request: Request, intake: Intaking, server: ServerSection) -> Response:
        return await create(kind, request, intake, server)

    return handler


async def create(
    kind: str, request: Request, intake: Intake, server: ServerConfig, through: bool = False
) -> Response:
    """`through`: a route the table does not know, passed through to CometAPI's same path;
    when CometAPI does not serve it, no task is left of the call."""
    submitted = await _submitted(kind, request, intake, server.body_timeout_seconds, through)
    task = await _sent_or_held(intake, submitted)
    if task is None:  # removed by the submit: CometAPI does not serve its route
        raise NotFound(f"CometAPI does not serve {kind}")
    if task.state == "failed" and task.upstream_task_id is None:
        raise InvalidRequest(task.error or "CometAPI refused the task")
    return reply(RunwayCreated, {"id": task.id, "estimatedCost": shape.estimate(task)})


async def _submitted(
    kind: str, request: Request, intake: Intake, timeout: float, through: bool
) -> Task:
    """The task stored; the body, which may be a hundred megabytes, is not held while its
    send is awaited."""
    body = await read_json(request, MAX_CREATE_BYTES, timeout)
    if isinstance(body, dict) and "kind" in body:
        raise InvalidRequest("kind: not a field of Runway's API (the route names the kind)")
    body = await runway_files.resolved(request, body)  # its `runway://` uploads
    payload, trace = shape.relay_payload(kind, body), tracing.caller(request.headers)
    caller = caller_of(request)
    submitted = await submit.submit(intake, payload, None, trace, caller, through)
    return submitted.task


async def _sent_or_held(intake: Intake, task: Task) -> Task | None:
    """The task once CometAPI has answered its send, or as it is after CREATE_WAIT_SECONDS;
    None when the send removed it (a route passed through that CometAPI does not serve)."""
    deadline = time.monotonic() + CREATE_WAIT_SECONDS
    while task.submission in ("waiting", "sending") and time.monotonic() < deadline:
        # Woken as soon as this process records CometAPI's answer; another replica's send
        # is seen at the next step's read.
        await intake.wakers.task_changes.wait(task.id, _CREATE_WAIT_STEP)
        found = await task_reads.task(intake.store, task.id)
        if found is None:
            return None
        task = found
    return task


async def retrieve(request: Request, store: Stored, task_id: PathId) -> Response:
    found = await task_reads.task_documents(store, task_id, 20)
    if found is None or not caller_of(request).owns(found[0].owner_key):
        raise NotFound("task not found")
    task, documents = found
    copies: list[str] = []
    failure_code = None
    for document, _ in documents.values():  # newest first
        copies = copies or shape.copied_outputs(document.get("media"))
        failure_code = failure_code or document.get("failure_code")
    return reply(RunwayTask, shape.runway_task(task, copies, failure_code))


async def delete(
    request: Request, canceller: Cancelling, directory: Downstreams, task_id: PathId
) -> Response:
    """Runway's DELETE cancels a task that has not ended; on one that has, there is nothing
    to cancel (the relay keeps its record until retention removes it)."""
    store, changes = canceller.store, canceller.wakers.task_changes
    try:
        task = await task_actions.task_of(store, task_id, caller_of(request))
    except NotFound:
        raise NotFound("task not found") from None
    deadline = time.monotonic() + CREATE_WAIT_SECONDS
    while not task.ended:
        try:
            await task_actions.cancel_task(canceller, directory, task.id, caller_of(request))
            break
        except Conflict:
            task = await task_reads.task(store, task.id) or task
            if task.ended:
                break  # it ended meanwhile: nothing to cancel
            # A send in flight this moment (the queue retrying it): Runway's DELETE has no
            # such state, so wait for the send's answer and cancel then.
            if task.submission != "sending" or time.monotonic() > deadline:
                raise
            await changes.wait(task.id, _CREATE_WAIT_STEP)
    return Response(status_code=204)


class RunwayModelLimits(Answer):
    maxConcurrentGenerations: int | None = Field(
        description="The relay's cap on tasks running at CometAPI at once; null: none."
    )
    maxDailyGenerations: int | None = Field(description="None kept by the relay: null.")


class RunwayTier(Answer):
    maxMonthlyCreditSpend: int = Field(description="CometAPI's account's: not known here, 0.")
    models: dict[str, RunwayModelLimits] = Field(description="Each model used today.")


class RunwayModelUsage(Answer):
    dailyGenerations: int = Field(description="Tasks made today (UTC) with this model.")
    creditsSpent: int = Field(description="Credits CometAPI confirmed for them.")


class RunwayModelsUsage(Answer):
    models: dict[str, RunwayModelUsage]


class RunwayOrganization(Answer):
    """Runway's organization, as far as the relay knows it."""

    creditBalance: int = Field(description="CometAPI's account's: not known here, 0.")
    tier: RunwayTier
    usage: RunwayModelsUsage


_PAGE = 1000
_DAY_PAGES = 50  # a day past 50,000 tasks is counted in its newest 50,000


async def tasks_since(
    request: Request, store: Store, server: ServerConfig, since: float, pages: int
) -> list[Task]:
    """The caller's tasks made since `since`, newest first: at most `pages` pages of them."""
    found: list[Task] = []
    before = None
    for _ in range(pages):
        wanted = TaskFilter(since=since, before=before, owner_key=caller_of(request).owner_filter)
        page = await task_actions.list_tasks(store, wanted, _PAGE, server.search_window)
        found.extend(page.tasks)
        if page.next is None:
            break
        before = page.next
    return found


async def organization(
    request: Request, store: Stored, server: ServerSection, upstream: UpstreamSection
) -> Response:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = await tasks_since(request, store, server, midnight.timestamp(), _DAY_PAGES)
    return reply(RunwayOrganization, shape.organization(today, upstream.max_concurrent_tasks))


_ERR = RunwayError
_CREATE_REPLIES = {
    200: answer("Created: the task's id.", RunwayCreated),
    400: answer(
        "The body breaks a limit, or CometAPI refused the task (which is then failed).", _ERR
    ),
    408: answer("The body did not arrive in time.", _ERR),
    413: answer("The body is over 100 MiB.", _ERR),
    429: answer(
        "The API key's `max_queued` or `max_per_day` is reached; `error` says which.",
        _ERR,
        headers=LIMIT_RETRY_AFTER,
    ),
}


# Every route of Runway's shape asks for its version header; every refusal under /runwayml
# has Runway's shape (`refusal`, through the application's handlers), as its SDKs read it.
router = APIRouter(tags=["runwayml"], dependencies=[Depends(runway_version)])

for _kind in FRONT_DOOR:
    router.add_api_route(
        f"/runwayml/v1/{_kind}",
        _creates(_kind),
        methods=["POST"],
        **operation(
            "tasks:submit",
            f"Create a {_kind} task (Runway's shape)",
            f"Runway's `POST /v1/{_kind}`. The task is stored and queued like `POST /v1/tasks`;"
            f" the answer waits up to {CREATE_WAIT_SECONDS:g} s for CometAPI to take it, so"
            " that CometAPI's refusal is a 400 here, as Runway gives it.",
            _CREATE_REPLIES,
            refusal=RunwayError,
        ),
        openapi_extra=body(
            RunwayBody, f"Runway_{_kind}", "Runway's own fields, passed on as sent."
        ),
    )

router.add_api_route(
    "/runwayml/v1/organization",
    organization,
    methods=["GET"],
    **operation(
        "tasks:read",
        "The organization (Runway's shape)",
        "What the relay knows of Runway's organization: the concurrency cap it keeps, and"
        " per model the tasks made today (UTC) and the credits CometAPI confirmed for them"
        " (an API key's own tasks only).",
        {200: answer("The organization.", RunwayOrganization)},
        refusal=RunwayError,
    ),
)
router.add_api_route(
    "/runwayml/v1/tasks/{task_id}",
    retrieve,
    methods=["GET"],
    **operation(
        "tasks:read",
        "A task (Runway's shape)",
        "Any relay task, as Runway's `GET /v1/tasks/{id}` shows one.",
        {200: answer("The task.", RunwayTask), 404: answer("No such task.", _ERR)},
        refusal=RunwayError,
    ),
)
router.add_api_route(
    "/runwayml/v1/tasks/{task_id}",
    delete,
    methods=["DELETE"],
    **operation(
        "tasks:cancel",
        "Cancel a task (Runway's shape)",
        "Cancels it: at once while it waits in the submit queue, else at CometAPI. A task"
        " that has ended is left as it is (204: nothing to cancel).",
        {
            204: answer("Cancelled, or it had ended."),
            404: answer("No such task.", _ERR),
            409: answer("It cannot be cancelled now; `error` says why.", _ERR),
            502: answer("CometAPI refused or failed the cancel.", _ERR),
            504: answer("CometAPI did not answer in time.", _ERR),
        },
        refusal=RunwayError,
    ),
    status_code=204,
)
