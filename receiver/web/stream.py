"""The live stream: tasks that change and delivery attempts that end, as Server-Sent Events.
The API's /v1/stream and the console's /console/stream both answer with it.

It reads the store, not this process's memory, so it shows what every replica does and
picks up where it left off after a restart: each event's id is its time, which a browser's
EventSource sends back as `Last-Event-ID` when it reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from receiver.errors import MalformedRequest
from receiver.persist import Change
from receiver.pipeline.service import Service

POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
# A change is stamped before its transaction commits, so one that commits late (a slow
# write, another replica) can carry a time the stream has already passed: each read looks
# back this far and leaves out what it already sent.
LOOK_BACK_SECONDS = 5.0
READ_LIMIT = 500
RECONNECT_MS = 1000


class Feed:
    """Which changes are new to this stream; no I/O, so its rules are unit-tested."""

    def __init__(self, since: float, resume_key: str = "") -> None:
        self.cursor = since
        self._resume = (since, resume_key)  # what the client saw before it reconnected
        self._sent: dict[tuple[str, str, float], float] = {}
        self._behind = False

    @property
    def read_from(self) -> float:
        # Behind (the last read was full): catch up from the cursor before looking back.
        return self.cursor if self._behind else self.cursor - LOOK_BACK_SECONDS

    def take(self, found: list[Change]) -> list[Change]:
        """The changes of one read (at most READ_LIMIT, oldest first) not sent before."""
        self._behind = len(found) >= READ_LIMIT
        fresh = []
        for change in found:
            mark = (change.kind, change.key, change.at)
            if mark in self._sent or (change.at, change.key) <= self._resume:
                continue
            self._sent[mark] = change.at
            fresh.append(change)
            self.cursor = max(self.cursor, change.at)
        horizon = self.cursor - LOOK_BACK_SECONDS
        self._sent = {mark: at for mark, at in self._sent.items() if at >= horizon}
        return fresh


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


def stream_response(request: Request, service: Service, task_id: str | None) -> Response:
    """The stream of every change, or of one task's; the caller has checked who asks."""
    since, key = resume_point(
        request.headers.get("last-event-id"), request.query_params.get("since"), time.time()
    )
    return StreamingResponse(
        _events(service, Feed(since, key), task_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(service: Service, feed: Feed, task_id: str | None) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    quiet_since = time.monotonic()
    while not service.draining():
        try:
            found = await service.store.changes(feed.read_from, task_id, READ_LIMIT)
        except Exception:
            # The store is away for a while: the client keeps its connection and its place.
            service.log.warning("stream.store_unavailable")
            found = []
        fresh = feed.take(found)
        for change in fresh:
            yield encode(change)
        if fresh:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
