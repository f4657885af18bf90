"""The live stream of /v1/stream and /console/stream: tasks that change and delivery
attempts that end, as Server-Sent Events. Each event's id is its time in the store, so a
reconnecting EventSource (`Last-Event-ID`) resumes on any replica, after a restart too. A
stream reads the store only to catch up; then the process's one reader (changes.py) feeds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from receiver.kernel.errors import MalformedRequest
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.stream import reads as stream_reads
from receiver.stream.caps import Holder
from receiver.stream.changes import READ_LIMIT, ChangeHub, Feed, Subscription
from receiver.stream.reads import Change

KEEP_ALIVE_SECONDS = 15.0
RECONNECT_MS = 1000


def encode(change: Change) -> bytes:
    """One change as an SSE event; its id is where a reconnecting client resumes."""
    return (
        f"id: {change.at!r} {change.key}\nevent: {change.kind}\n".encode()
        + b"data: "
        + orjson.dumps(change.data)
        + b"\n\n"
    )


def resume_point(last_event_id: str | None, since: str | None, now: float) -> tuple[float, str]:
    """Where a stream starts: after the last event the client saw, else at `since`, else now."""
    if last_event_id:
        at, _, key = last_event_id.partition(" ")
        try:
            return float(at), key
        except ValueError:
            raise MalformedRequest("Last-Event-ID is not one this stream sent") from None
    if since:
        try:
            return float(since), ""
        except ValueError:
            raise MalformedRequest("since must be epoch seconds") from None
    return now, ""


def stream_response(
    request: Request,
    hub: ChangeHub,
    task_id: str | None,
    caller: Caller = BOOTSTRAP,
    holder: Holder | None = None,
) -> Response:
    """The stream of every change, or of one task's, for a caller already checked; it ends
    when `holder`'s right does (the caller's key unless given). Overloaded past the caps."""
    since, key = resume_point(
        request.headers.get("last-event-id"), request.query_params.get("since"), time.time()
    )
    client = request.client.host if request.client else "unknown"
    holder = holder or Holder(key_id=caller.key_id)
    sub = hub.subscribe(client, holder)  # before the catch-up read: nothing falls in between
    return StreamingResponse(
        _events(hub, sub, Feed(since, key), _Wanted(task_id, caller)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@dataclass(frozen=True)
class _Wanted:
    """Which changes a stream carries: one task's or all, of those its caller may see."""

    task_id: str | None
    caller: Caller

    def __call__(self, change: Change) -> bool:
        if self.task_id is not None and change.task_id != self.task_id:
            return False
        # A key's own tasks only; delivery attempts concern the downstreams: admin's.
        return self.caller.sees_all or (
            change.kind == "task" and self.caller.owns(change.owner_key)
        )


async def _events(
    hub: ChangeHub, sub: Subscription, feed: Feed, wanted: _Wanted
) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        async for chunk in _catch_up(hub, sub, feed, wanted):
            if not sub.open:
                return  # its key was revoked (or its session ended) meanwhile
            yield chunk
        # Nothing to do but wait: the shared reader hands over each change, and a None
        # when the server shuts down.
        quiet_since = time.monotonic()
        while sub.open:
            quiet_for = time.monotonic() - quiet_since
            try:
                change = await asyncio.wait_for(sub.queue.get(), KEEP_ALIVE_SECONDS - quiet_for)
            except TimeoutError:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
                continue
            if change is None or not sub.open:
                return  # ended while the change waited in its queue: not sent
            if wanted(change):
                for fresh in feed.take([change]):
                    yield encode(fresh)
                    quiet_since = time.monotonic()
    finally:
        hub.unsubscribe(sub)


async def _catch_up(
    hub: ChangeHub, sub: Subscription, feed: Feed, wanted: _Wanted
) -> AsyncIterator[bytes]:
    """What changed since the stream's start, read from the store until a read comes back
    short; the holder's right is checked after each read, before what it found goes."""
    while True:
        try:
            # The hub's store and log: the stream reads where the shared reader does.
            found = await stream_reads.changes(
                hub.store, feed.read_from, wanted.task_id, READ_LIMIT
            )
        except Exception:
            hub.log.warning("stream.store_unavailable")
            return  # the shared reader takes over; a reconnect catches up again
        if found:
            await hub.end_lapsed([sub])
        for change in feed.take(found):
            if wanted(change):
                yield encode(change)
        if len(found) < READ_LIMIT:
            return
