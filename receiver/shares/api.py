"""Share links' routes: one task, read only, for an app's own users, with no key:
`/share/{token}` a page for a person, `/share/{token}/task` the task as JSON and
`/share/{token}/stream` as Server-Sent Events, both open to any origin (CORS). The token
opens that one task and nothing else."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.responses import HTMLResponse, Response, StreamingResponse

from receiver.kernel.errors import NotFound, RelayError
from receiver.kernel.http.models import Answer, ErrorAnswer, Params
from receiver.kernel.http.openapi import PathId, Token, answer, described, media, reply
from receiver.kernel.store import Store
from receiver.keys.bearers import Keys
from receiver.keys.guard import Keyring, caller_of, operation
from receiver.shares.links import ShareRefused, ShareSigner
from receiver.shares.page import look_of, page_headers, render_closed, render_page
from receiver.shares.share import make_link, opened_link, shared_view
from receiver.stream.api import Changes
from receiver.stream.caps import Holder
from receiver.stream.changes import ChangeHub, Subscription
from receiver.stream.reads import Change
from receiver.tasks.rules.answers import TaskIdParams
from receiver.wiring.dependencies import MediaSection, PublicUrl, ServerSection, Stored, on_app

KEEP_ALIVE_SECONDS = 15.0
DEFAULT_TTL_SECONDS = 7 * 86400
MAX_TTL_SECONDS = 90 * 86400
_OPEN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


class ShareOptions(Params):
    ttl_seconds: int = Field(
        DEFAULT_TTL_SECONDS,
        ge=60,
        le=MAX_TTL_SECONDS,
        description="Seconds the link opens the task: 7 days unless given; 60 to 7,776,000"
        " (90 days).",
    )
    show_prompt: bool = Field(
        False,
        description="The page (and `/task`) shows the task's prompt; off unless asked for.",
    )


class ShareParams(TaskIdParams, ShareOptions):
    """What the agents' `share_task` tool takes: the task and the link's options."""


class ShareCreated(Answer):
    url: str = Field(description="The page; `/task` after it: JSON, `/stream`: live (SSE).")
    expires_at: float


class SharedFile(Answer):
    url: str
    content_type: str
    role: str


class SharedTask(Answer):
    """What a share link shows: progress and renders; of the request, only the prompt when
    the link was made with `show_prompt`."""

    id: str
    kind: str
    made: Literal["video", "image", "audio"] = Field(description="What the task makes.")
    app: str | None = Field(description="The app (key) that made the link; null: the admin's.")
    prompt: str | None = Field(description="The task's prompt; null unless the link shows it.")
    state: str
    progress: float | None
    estimated_end: float | None = Field(description="From the progress so far; null: unknown.")
    created_at: float
    updated_at: float
    files: list[SharedFile] = Field(description="The relay's copies of the renders.")
    outputs: list[str] = Field(description="CometAPI's links, while there are no copies.")
    copying: bool = Field(description="The copies are being made.")
    error: str | None = Field(
        description="Once failed: the message safe to show an end user (the webhook's"
        " `failure_message`), never CometAPI's own text."
    )


_REFUSED = answer("The link is forged, tampered with, expired, or its key revoked.", ErrorAnswer)
_GONE = answer("The task is no longer kept.", ErrorAnswer)
_PAGE = "text/html"


# A route's signer of share links.
ShareSigning = Annotated[ShareSigner, Depends(on_app("share_signer", ShareSigner))]
router = APIRouter(tags=["tasks"])
pages = APIRouter(tags=["share"])


@router.post(
    "/v1/tasks/{task_id}/share",
    **operation(
        "tasks:read",
        "A share link to one of the key's tasks",
        "A signed link that opens this one task, read only, for the app's own user: a"
        " page (progress, then the render), `/task` (JSON) and `/stream` (SSE), both open"
        " to any origin. Its token is opaque. It expires (7 days unless `ttl_seconds` says"
        " otherwise) and stops opening, its streams ending, when the key that made it is"
        " revoked (a link of the admin token's: when the admin token changes).",
        {201: answer("The link.", ShareCreated), 404: answer("No such task.", ErrorAnswer)},
    ),
    status_code=201,
)
async def create_share(
    request: Request,
    store: Stored,
    public_url: PublicUrl,
    signer: ShareSigning,
    task_id: PathId,
    options: Annotated[ShareOptions, Query()],
) -> Response:
    wanted = (options.ttl_seconds, options.show_prompt)
    link = await make_link(store, public_url, signer, caller_of(request), task_id, *wanted)
    return reply(ShareCreated, {"url": link.url, "expires_at": link.expires_at}, 201)


@pages.get(
    "/share/{token}",
    summary="A shared task's page",
    description=described(
        "For the app's end user: the app's name (logo and accent colour from"
        " `server.share_apps`), the prompt when the link shows it, the state in words and a"
        " ticking estimate while it runs, then its video, image or audio with a poster and a"
        " download button, or the failure in words safe to show. A link that does not open"
        " gets a page too, never JSON.",
        auth="signed",
    ),
    response_class=HTMLResponse,
    responses={
        200: media("The page.", _PAGE),
        404: media("A page: the link is forged or tampered with.", _PAGE),
        410: media(
            "A page: the link expired, its key was revoked, or its task is no longer kept.",
            _PAGE,
        ),
    },
)
async def share_page(
    store: Stored,
    server: ServerSection,
    media_settings: MediaSection,
    signer: ShareSigning,
    keys: Keyring,
    token: Token,
) -> Response:
    """The page, or a page saying why the link no longer opens (never JSON: a person reads
    it): 404 for a forged link, 410 for one expired, withdrawn, or whose task is gone."""
    nonce = secrets.token_urlsafe(18)
    try:
        link, detail = await opened_link(store, signer, keys, token)
    except (ShareRefused, NotFound) as exc:
        why = exc.why if isinstance(exc, ShareRefused) else "gone"
        status, page = render_closed(why, server, nonce)
        headers = page_headers(server, media_settings, nonce)
        return HTMLResponse(page, status, headers=headers)
    page = render_page(shared_view(detail, link), link, server, nonce)
    look = look_of(server, link.app)
    return HTMLResponse(page, headers=page_headers(server, media_settings, nonce, look))


@pages.get(
    "/share/{token}/task",
    summary="A shared task",
    description=described(
        "Its state, progress, estimated end and renders; open to any origin (CORS).",
        auth="signed",
    ),
    responses={200: answer("The task.", SharedTask), 403: _REFUSED, 404: _GONE},
)
async def share_task(store: Stored, signer: ShareSigning, keys: Keyring, token: Token) -> Response:
    link, detail = await opened_link(store, signer, keys, token)
    answer = reply(SharedTask, shared_view(detail, link))
    answer.headers.update(_OPEN)
    return answer


@pages.get(
    "/share/{token}/stream",
    summary="A shared task, live (Server-Sent Events)",
    response_class=Response,
    description=described(
        "`event: task` with the task as `/task` shows it, now and at each change, until it"
        " has ended and its files are copied, or the link stops opening (its key revoked);"
        " open to any origin (CORS).",
        auth="signed",
    ),
    responses={
        200: media("The stream.", "text/event-stream"),
        403: _REFUSED,
        404: _GONE,
        503: answer(
            "Share links' streams are full (`server.max_share_streams`), or this link's"
            " (`server.max_streams_per_share_link`).",
            ErrorAnswer,
            headers={
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "string"},
                }
            },
        ),
    },
)
async def share_stream(
    request: Request,
    store: Stored,
    changes: Changes,
    signer: ShareSigning,
    keys: Keyring,
    token: Token,
) -> Response:
    link, detail = await opened_link(store, signer, keys, token)
    client = request.client.host if request.client else "unknown"
    # Before the answer starts: past the share pool's caps it is a 503, not a cut stream.
    # It ends with the key that made the link, or at the link's end.
    holder = Holder(key_id=link.key_id, until=link.expires_at, link=link.link_id)
    sub = changes.subscribe(client, holder)
    return StreamingResponse(
        _views(store, changes, signer, keys, token, detail.task.id, sub),
        media_type="text/event-stream",
        headers={**_OPEN, "X-Accel-Buffering": "no"},
    )


async def _views(
    store: Store,
    changes: ChangeHub,
    signer: ShareSigner,
    keys: Keys,
    token: str,
    task_id: str,
    sub: Subscription,
) -> AsyncIterator[bytes]:
    """The task's view now, then each time it changes, until it has ended and its copies
    are made (or the link stops opening: expired, its key revoked)."""
    try:
        last: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        while sub.open:
            try:
                link, detail = await opened_link(store, signer, keys, token)
            except RelayError:
                return  # expired, or its key revoked, meanwhile
            view = shared_view(detail, link)
            if view != last:
                yield b"event: task\ndata: " + orjson.dumps(view) + b"\n\n"
                last, quiet_since = view, time.monotonic()
            if detail.task.ended and not view["copying"]:
                return
            change = await _next_change(sub.queue, task_id, quiet_since)
            if change is False:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            elif change is None:
                return
    finally:
        changes.unsubscribe(sub)


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
