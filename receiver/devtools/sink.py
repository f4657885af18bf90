"""A local downstream receiver for the demo and tests.

Every request outside ``/_sink/*``, whatever its method, is recorded and answered according
to the current mode, which tests change at runtime to provoke errors, rate limits and
client timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from receiver.devtools.printing_sink import METHODS
from receiver.devtools.simulator.limits import is_int


@dataclass
class SinkMode:
    status: int = 200
    count: int | None = None  # requests left at this mode; None = until changed
    delay_seconds: float = 0.0
    retry_after: int | None = None
    abort: bool = False  # answer `webhook-delivery: abort-message` (stop retrying this one)
    telegram: bool = False  # answer as the Bot API does: the message with a new message_id
    # Answer an error status as Express's default handler does: an HTML page quoting the
    # method and the path as sent ("Cannot POST /services/..."), credential and all.
    express: bool = False
    # This share of requests is answered 503 instead (chosen by a seeded generator, so a
    # run is repeatable): a flaky downstream.
    flaky: float = 0.0
    # The first request at each path for each task (the event's `data.task_id`) is answered
    # 503, the others as the rest of the mode says: a refused first attempt per task.
    refuse_first_per_task: bool = False
    # The CloudEvents webhook handshake: an OPTIONS with WebHook-Request-Origin is answered
    # 200 with these as WebHook-Allowed-Origin and WebHook-Allowed-Rate (None: left out).
    allowed_origin: str | None = None
    allowed_rate: str | None = None


def _parse_mode(raw: object) -> SinkMode:
    """Validate a ``POST /_sink/mode`` body; missing keys take their defaults."""
    if not isinstance(raw, dict):
        raise ValueError("mode must be a JSON object")
    unknown = set(raw) - {f.name for f in fields(SinkMode)}
    if unknown:
        raise ValueError(f"unknown mode keys: {sorted(unknown)}")
    mode = SinkMode(**raw)
    if not is_int(mode.status) or not 100 <= mode.status <= 599:
        raise ValueError("status must be an HTTP status code")
    if mode.count is not None and (not is_int(mode.count) or mode.count < 0):
        raise ValueError("count must be a non-negative integer or null")
    delay: object = mode.delay_seconds
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError("delay_seconds must be a non-negative number")
    if mode.retry_after is not None and (not is_int(mode.retry_after) or mode.retry_after < 0):
        raise ValueError("retry_after must be a non-negative integer or null")
    flags = (mode.abort, mode.telegram, mode.express, mode.refuse_first_per_task)
    if not all(isinstance(flag, bool) for flag in flags):
        raise ValueError("abort, telegram, express and refuse_first_per_task must be true or false")
    allowed = (mode.allowed_origin, mode.allowed_rate)
    if not all(value is None or isinstance(value, str) for value in allowed):
        raise ValueError("allowed_origin and allowed_rate must be strings or null")
    flaky: object = mode.flaky
    if isinstance(flaky, bool) or not isinstance(flaky, int | float) or not 0 <= flaky <= 1:
        raise ValueError("flaky must be a number from 0 to 1")
    return mode


class SinkState:
    """Recorded requests and the answer mode; reachable as ``app.state.sink``."""

    def __init__(self, announce: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._announce = announce  # told of each request recorded, with its answer's status
        # Requests are recorded on the server's loop thread while tests wait on their own.
        self._changed = threading.Condition()
        self._chance = random.Random(7)
        self.reset()

    def reset(self) -> None:
        with self._changed:
            self.mode = SinkMode()
            self.received: list[dict[str, Any]] = []
            self._tasks_seen: set[tuple[str, str]] = set()  # (path, task id) seen

    def set_mode(self, mode: SinkMode) -> None:
        with self._changed:
            self.mode = mode

    def snapshot(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self.received)

    def record(self, entry: dict[str, Any]) -> SinkMode:
        """Store one request and return the mode it is answered with (consuming a count)."""
        with self._changed:
            mode = self.mode
            if mode.count is not None:
                if mode.count <= 1:
                    self.mode = SinkMode()
                else:
                    self.mode = SinkMode(**{**asdict(mode), "count": mode.count - 1})
            if mode.flaky and self._chance.random() < mode.flaky:
                mode = SinkMode(status=503)
            if mode.refuse_first_per_task and self._first_of_its_task(entry):
                mode = SinkMode(status=503)
            entry["status"] = mode.status
            self.received.append(entry)
            self._changed.notify_all()
        if self._announce is not None:
            self._announce(entry)
        return mode

    def _first_of_its_task(self, entry: dict[str, Any]) -> bool:
        data = entry["json"].get("data") if isinstance(entry["json"], dict) else None
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or (entry["path"], task_id) in self._tasks_seen:
            return False
        self._tasks_seen.add((entry["path"], task_id))
        return True

    def release(self, entry: dict[str, Any]) -> None:
        """Mark when a held request ended (answered, or its client went away)."""
        with self._changed:
            entry["released_at"] = time.time()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block (from another thread) until ``count`` requests are recorded; return a copy."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"sink got {len(self.received)} of {count} requests")
            return list(self.received)


async def _capture(request: Request) -> Response:
    sink: SinkState = request.app.state.sink
    if request.url.path.startswith("/_sink/"):
        return JSONResponse({"error": "unknown sink control route"}, status_code=404)
    raw = await request.body()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        parsed = None
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    entry = {
        "method": request.method,  # a transform may send PUT or PATCH
        "path": request.url.path,
        "query": request.url.query,
        "headers": headers,
        "body": raw.decode("utf-8", errors="replace"),
        "json": parsed,
        "received_at": time.time(),
    }
    mode = sink.record(entry)
    if mode.delay_seconds:
        # Stop waiting once the client gives up (its timeout) so slow handlers do not pile up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnect(request), mode.delay_seconds)
        sink.release(entry)
    extra = {"Retry-After": str(mode.retry_after)} if mode.retry_after is not None else {}
    if request.method == "OPTIONS" and "webhook-request-origin" in request.headers:
        allowed = {
            "WebHook-Allowed-Origin": mode.allowed_origin,
            "WebHook-Allowed-Rate": mode.allowed_rate,
        }
        shown = {name: value for name, value in allowed.items() if value is not None}
        return Response(status_code=mode.status, headers=shown)
    if mode.abort:
        extra["webhook-delivery"] = "abort-message"
    if mode.express and mode.status >= 400:
        return _express_error(request, mode.status, extra)
    body: dict[str, Any] = {"ok": True}
    if mode.status >= 400:
        body = {"error": f"sink answering {mode.status}"}
    elif mode.telegram:
        body["result"] = {"message_id": len(sink.received), "chat": {"id": -100}}
    return JSONResponse(body, status_code=mode.status, headers=extra)


def _express_error(request: Request, status: int, headers: dict[str, str]) -> Response:
    """Express's finalhandler page: the path as sent (no query), HTML-escaped."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    target = raw_path.decode("latin-1")
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Error</title>\n</head>\n<body>\n"
        f"<pre>Cannot {request.method} {html.escape(target, quote=False)}</pre>\n"
        "</body>\n</html>\n"
    )
    headers = {**headers, "Content-Security-Policy": "default-src 'none'"}
    return HTMLResponse(page, status_code=status, headers=headers)


async def _until_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _mode(request: Request) -> Response:
    sink: SinkState = request.app.state.sink
    if request.method == "POST":
        try:
            sink.set_mode(_parse_mode(json.loads(await request.body())))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(asdict(sink.mode))


async def _received(request: Request) -> Response:
    return JSONResponse(request.app.state.sink.snapshot())


async def _reset(request: Request) -> Response:
    request.app.state.sink.reset()
    return JSONResponse({"ok": True})


def create_sink_app(announce: Callable[[dict[str, Any]], None] | None = None) -> Starlette:
    """`announce`: called with each request recorded (`receiver dev` prints a line of it)."""
    app = Starlette(
        routes=[
            Route("/_sink/mode", _mode, methods=["GET", "POST"]),
            Route("/_sink/received", _received, methods=["GET"]),
            Route("/_sink/reset", _reset, methods=["POST"]),
            Route("/{path:path}", _capture, methods=METHODS),
        ]
    )
    app.state.sink = SinkState(announce)
    return app
