"""Share links' routes: one task, read only, for an app's own users, with no key.

`/share/{token}` is a small page (a progress bar, then the video, image or audio);
`/share/{token}/task` the same as JSON and `/share/{token}/stream` as Server-Sent Events,
both open to any origin (CORS), so a browser app can use them directly. The token opens
that one task and nothing else; it is no API key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from pydantic import Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from receiver.config.sections import ServerConfig
from receiver.domain.states import TERMINAL_STATES
from receiver.errors import RelayError
from receiver.persist import Change
from receiver.pipeline.service import Service
from receiver.pipeline.shares import make_link, opened, opened_link, shared_view, stream_holder
from receiver.pipeline.workers.changes import Subscription
from receiver.web.access import caller_of
from receiver.web.api.models import Answer, ErrorAnswer, Id, InPath, Params, TokenParams
from receiver.web.api.openapi import Doc, Operation, Reply, admin_op, reply
from receiver.web.api.share_page import PAGE

KEEP_ALIVE_SECONDS = 15.0
DEFAULT_TTL_SECONDS = 7 * 86400
MAX_TTL_SECONDS = 90 * 86400
_OPEN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


class ShareParams(Params):
    task_id: Annotated[Id, InPath()]
    ttl_seconds: int = Field(
        DEFAULT_TTL_SECONDS,
        ge=60,
        le=MAX_TTL_SECONDS,
        description="Seconds the link opens the task: 7 days unless given; 60 to 7,776,000"
        " (90 days).",
    )


class ShareCreated(Answer):
    url: str = Field(description="The page; `/task` after it: JSON, `/stream`: live (SSE).")
    expires_at: float


class SharedFile(Answer):
    url: str
    content_type: str
    role: str


class SharedTask(Answer):
    """What a share link shows: progress and renders, nothing of the request."""

    id: str
    kind: str
    state: str
    progress: float | None
    estimated_end: float | None = Field(description="From the progress so far; null: unknown.")
    created_at: float
    updated_at: float
    files: list[SharedFile] = Field(description="The relay's copies of the renders.")
    outputs: list[str] = Field(description="CometAPI's links, while there are no copies.")
    copying: bool = Field(description="The copies are being made.")
    error: str | None


async def create_share(request: Request, service: Service, params: ShareParams) -> Response:
    link = await make_link(service, caller_of(request), params.task_id, params.ttl_seconds)
    return reply(ShareCreated, {"url": link.url, "expires_at": link.expires_at}, 201)


async def share_page(request: Request) -> Response:
    service: Service = request.app.state.service
    await opened(service, request.path_params["token"])
    return HTMLResponse(PAGE, headers=page_headers(service.config.settings.server))


async def share_task(request: Request) -> Response:
    service: Service = request.app.state.service
    detail = await opened(service, request.path_params["token"])
    answer = reply(SharedTask, shared_view(detail))
    answer.headers.update(_OPEN)
    return answer


async def share_stream(request: Request) -> Response:
    service: Service = request.app.state.service
    token = request.path_params["token"]
    link, detail = await opened_link(service, token)
    client = request.client.host if request.client else "unknown"
    # Before the answer starts: past the share pool's caps it is a 503, not a cut stream.
    sub = service.changes.subscribe(client, stream_holder(link))
    return StreamingResponse(
        _views(service, token, detail.task.id, sub),
        media_type="text/event-stream",
        headers={**_OPEN, "X-Accel-Buffering": "no"},
    )


async def _views(
    service: Service, token: str, task_id: str, sub: Subscription
) -> AsyncIterator[bytes]:
    """The task's view now, then each time it changes, until it has ended and its copies
    are made (or the link stops opening: expired, its key revoked)."""
    try:
        last: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        while sub.open:
            try:
                detail = await opened(service, token)
            except RelayError:
                return  # expired, or its key revoked, meanwhile
            view = shared_view(detail)
            if view != last:
                yield b"event: task\ndata: " + orjson.dumps(view) + b"\n\n"
                last, quiet_since = view, time.monotonic()
            if detail.task.state in TERMINAL_STATES and not view["copying"]:
                return
            change = await _next_change(sub.queue, task_id, quiet_since)
            if change is False:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            elif change is None:
                return
    finally:
        service.changes.unsubscribe(sub)


async def _next_change(
    queue: asyncio.Queue[Change | None], task_id: str, quiet_since: float
) -> bool | None:
    """True when the task changed, False after the keep-alive time, None at shutdown."""
    while True:
        wait = KEEP_ALIVE_SECONDS - (time.monotonic() - quiet_since)
        try:
            change = await asyncio.wait_for(queue.get(), max(wait, 0.0))
        except TimeoutError:
            return False
        if change is None:
            return None
        if change.task_id == task_id:
            return True


def page_headers(server: ServerConfig) -> dict[str, str]:
    """The page's headers: framed by no page unless `server.share_frame_ancestors` lists
    the origins that may."""
    ancestors = " ".join(server.share_frame_ancestors) or "'none'"
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline';"
        " style-src 'unsafe-inline'; connect-src 'self'; img-src * data:; media-src *;"
        f" frame-ancestors {ancestors}",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


_REFUSED = Reply(
    403, "The link is forged, tampered with, expired, or its key revoked.", ErrorAnswer
)
_GONE = Reply(404, "The task is no longer kept.", ErrorAnswer)

OPERATIONS: tuple[Operation, ...] = (
    admin_op(
        "/v1/tasks/{task_id}/share",
        "POST",
        create_share,
        ShareParams,
        Doc(
            "tasks",
            "A share link to one of the key's tasks",
            "A signed link that opens this one task, read only, for the app's own user: a"
            " page (progress, then the render), `/task` (JSON) and `/stream` (SSE), both open"
            " to any origin. Its token is opaque. It expires (7 days unless `ttl_seconds` says"
            " otherwise) and stops opening, its streams ending, when the key that made it is"
            " revoked (a link of the admin token's: when the admin token changes).",
            (Reply(201, "The link.", ShareCreated), Reply(404, "No such task.", ErrorAnswer)),
        ),
        scope="tasks:read",
    ),
    Operation(
        "/share/{token}",
        ("GET",),
        share_page,
        "share",
        "A shared task's page",
        "A progress bar while it runs, then its video, image or audio.",
        "signed",
        (
            Reply(200, "The page.", media_types=("text/html",), schema={"type": "string"}),
            _REFUSED,
            _GONE,
        ),
        params=TokenParams,
    ),
    Operation(
        "/share/{token}/task",
        ("GET",),
        share_task,
        "share",
        "A shared task",
        "Its state, progress, estimated end and renders; open to any origin (CORS).",
        "signed",
        (Reply(200, "The task.", SharedTask), _REFUSED, _GONE),
        params=TokenParams,
    ),
    Operation(
        "/share/{token}/stream",
        ("GET",),
        share_stream,
        "share",
        "A shared task, live (Server-Sent Events)",
        "`event: task` with the task as `/task` shows it, now and at each change, until it"
        " has ended and its files are copied, or the link stops opening (its key revoked);"
        " open to any origin (CORS).",
        "signed",
        (
            Reply(
                200, "The stream.", media_types=("text/event-stream",), schema={"type": "string"}
            ),
            _REFUSED,
            _GONE,
            Reply(
                503,
                "Share links' streams are full (`server.max_share_streams`), or this link's"
                " (`server.max_streams_per_share_link`).",
                ErrorAnswer,
                headers={"Retry-After": "Seconds to wait before trying again."},
            ),
        ),
        params=TokenParams,
    ),
)
