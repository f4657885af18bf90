"""`GET /v1/downstreams/{name}/events`: a pull downstream's events, read by its app (or the
operator) after a cursor (receiver/deliveries/pulled.py); another app's name is no such one.
A client that hangs up ends its read at once, and gives back its app's waiting slot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response
from starlette.types import Receive

from receiver.deliveries import pulled
from receiver.downstreams.api import NO_DOWNSTREAM, Downstreams, own_name
from receiver.kernel.errors import InvalidRequest, NotFound
from receiver.kernel.http.models import Answer, ErrorAnswer, Params
from receiver.kernel.http.openapi import PathId, answer, reply
from receiver.keys.guard import caller_of, operation
from receiver.wiring.dependencies import SigningKeys, Stored


class PullParams(Params):
    after: str | None = Field(
        None, max_length=512, description="The `next` of the previous answer; unset: the first."
    )
    limit: int = Field(100, ge=1, le=1000, description="At most this many events.")
    wait: float = Field(
        0,
        ge=0,
        le=pulled.MAX_WAIT_SECONDS,
        description="With none to read yet, wait up to this many seconds for the first.",
    )


class PulledEvents(Answer):
    data: list[dict[str, Any]] = Field(
        description="Oldest first, each as a webhook gets it (its transform's, if any)."
    )
    next: str = Field(description="Pass as `after` for the events after these (opaque).")
    ids: list[str] = Field(
        description="Each event's delivery id, in the order of `data`: the `webhook-id` a"
        " delivery of it carries (`msg_…`), the same on every read of it."
    )


router = APIRouter(tags=["downstreams"])


@router.get(
    "/v1/downstreams/{name:downstream}/events",
    **operation(
        "downstreams",
        "Read a pull downstream's events",
        "The events of a `pull` downstream after a cursor, oldest first; `after=next` never"
        " gives one again. With `wait`, an answer with none waits up to that many seconds"
        " (30 at most) and comes as soon as one is there. An answer stops short of `limit`"
        " once it has spent its budget (half a second shaping events, 1 MiB of them):"
        " `after=next` reads on from there. Events stay readable for the retention period.",
        {
            200: answer("The events, and the cursor after them.", PulledEvents),
            400: answer(
                "`after` is not a cursor of this downstream (or of one removed since).",
                ErrorAnswer,
            ),
            404: NO_DOWNSTREAM,
            422: answer("Not a pull downstream, or a parameter out of range.", ErrorAnswer),
            503: answer("This app has too many requests waiting.", ErrorAnswer),
        },
    ),
)
async def pull_events(
    request: Request,
    store: Stored,
    keys: SigningKeys,
    directory: Downstreams,
    name: PathId,
    params: Annotated[PullParams, Query()],
) -> Response:
    kept = await own_name(request, directory, name)
    downstream = await directory.get(kept)
    if downstream is None:
        raise NotFound(f"no downstream named {name!r}")
    if not downstream.pulled:
        raise InvalidRequest(f"{name!r} is a {downstream.format} downstream, not one read by pull")
    after = pulled.position(keys, kept, params.after)
    # Counted by app, not by key: an app given more keys gets no more of the relay.
    caller = caller_of(request)
    holder = caller.app_id or "admin"
    pulled.WAITING.take(holder)
    try:
        read = pulled.read_events(store, keys, downstream, after, params.limit, params.wait)
        page = await _unless_hung_up(request.receive, read)
    finally:
        pulled.WAITING.give_back(holder)
    if page is None:
        return Response()  # nobody reads it
    return reply(PulledEvents, {"data": page.data, "next": page.next, "ids": page.ids})


async def _unless_hung_up(
    receive: Receive, read: Coroutine[Any, Any, pulled.Page]
) -> pulled.Page | None:
    """The read's page; None when the client hangs up first (the read is cancelled)."""
    reading = asyncio.ensure_future(read)
    hanging_up = asyncio.ensure_future(_hung_up(receive))
    try:
        await asyncio.wait((reading, hanging_up), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reading, hanging_up):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return reading.result() if not reading.cancelled() else None


async def _hung_up(receive: Receive) -> None:
    """Until the client hangs up (a GET's empty body comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass
