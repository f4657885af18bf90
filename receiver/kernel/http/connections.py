"""The wrappers `receiver serve` puts around the application and each connection
(receiver/app/server.py): limits on what one caller can hold, and /metrics on its own port.

uvicorn bounds neither a head's time (`timeout_keep_alive` starts only after a first answer)
nor, with httptools, its size, so a few hundred slow senders could hold every file
descriptor. Here a head must arrive within `head_timeout_seconds` of the connection (or of
the previous answer), and one past 64 KiB closes its connection (h11 refuses one past 16 KiB
itself). Only public parts: uvicorn's protocol is wrapped, and the wrapper rides in the
lifespan state (copied into every request's `scope["state"]`) to the ASGI middleware below,
which tells it when a head is in and when its answer is out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.kernel.http.answers import error

_CONNECTION = "runway_relay.connection"  # the key of the wrapper in the lifespan state


MAX_HEAD_BYTES = 64 * 1024


class HeadSize:
    """A second httptools parser, fed the bytes uvicorn's gets, that only measures each
    request's head: its own framing tells a head from a body, as uvicorn's parser does.

    A chunk read wholly inside a head counts whole (a line that never ends calls back
    nothing); a chunk where a head starts or ends counts the URL and the header lines it
    completed."""

    def __init__(self) -> None:
        import httptools  # here: only a server parsing with it measures heads

        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._in_head = False
        self._size = 0  # of the current request's head
        self._began = False  # whether a request began in the chunk being parsed

    def too_large(self, data: bytes) -> bool:
        if self._parser is None:
            return False
        import httptools

        inside_from_the_start, size_before, self._began = self._in_head, self._size, False
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # Not a request, or an upgrade (none is served): uvicorn's own parser meets the
            # same bytes and answers or drops them its own way.
            self._parser = None
            return False
        if inside_from_the_start and self._in_head and not self._began:
            self._size = size_before + len(data)  # every byte of it is of one head
        return self._size > MAX_HEAD_BYTES

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._in_head, self._size, self._began = True, 0, True

    def on_url(self, url: bytes) -> None:
        self._size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._size += len(name) + len(value)

    def on_headers_complete(self) -> None:
        self._in_head = False


class _HeadLimits(asyncio.Protocol):
    """One connection: uvicorn's protocol inside, closed when a request head is not in on
    time, or (on httptools) grows past `MAX_HEAD_BYTES`. The deadline runs from the
    connection, and from each answer on it, until the next request reaches the application."""

    inner_class: type[asyncio.Protocol]
    seconds: float
    head_size: type[HeadSize] | None  # where uvicorn parses with httptools

    def __init__(self, **uvicorn_arguments: Any) -> None:
        state = {**uvicorn_arguments.pop("app_state"), _CONNECTION: self}
        self._inner = self.inner_class(app_state=state, **uvicorn_arguments)  # type: ignore[call-arg]
        self._transport: asyncio.BaseTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._in_flight = 0
        self._head_size = self.head_size() if self.head_size else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._head_size is not None and self._head_size.too_large(data):
            if self._transport is not None:
                self._transport.close()
            return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def head_in(self) -> None:
        self._in_flight += 1
        self._disarm()

    def answered(self) -> None:
        self._in_flight -= 1
        if not self._in_flight and self._transport and not self._transport.is_closing():
            self._arm()  # the next request on this connection gets a deadline of its own

    def _arm(self) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(self.seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        # Due by the clock; but a loop running late (uvloop runs its timers before it reads
        # the sockets) may hold a head that came in time, unread: two more turns let what
        # is already here reach the application (`head_in`) before the connection is judged.
        self._deadline = None
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._close_if_still_waiting)

    def _close_if_still_waiting(self) -> None:
        if self._in_flight or self._deadline is not None or self._transport is None:
            return
        self._transport.close()


def with_head_limits(
    inner: type[asyncio.Protocol], seconds: float, parser: str
) -> type[asyncio.Protocol]:
    head_size = HeadSize if parser == "httptools" else None  # h11 bounds a head's size itself
    attributes = {"inner_class": inner, "seconds": seconds, "head_size": head_size}
    return type("HeadLimits", (_HeadLimits,), attributes)


class _RequestCycle:
    """Tells each request's connection when its head is in and when its answer is out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = scope.get("state", {}).get(_CONNECTION) if scope["type"] == "http" else None
        if connection is None:
            await self.app(scope, receive, send)
            return
        connection.head_in()
        try:
            await self.app(scope, receive, send)
        finally:
            connection.answered()


class _MetricsWhereConfigured:
    """/metrics on its own port, which answers nothing else; on the public port only when
    the operator opted in (`server.metrics_public`, with a token). Elsewhere a 404, as for
    any path the relay does not serve: one uvicorn serves both sockets, and a request's
    `server` (the socket's own address) says which it came in on."""

    def __init__(self, app: ASGIApp, metrics_port: int | None, public: bool) -> None:
        self.app = app
        self.metrics_port = metrics_port
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server") or (None, None)
            on_metrics_port = self.metrics_port is not None and server[1] == self.metrics_port
            asks_metrics = scope["path"] == "/metrics"
            if (asks_metrics and not (on_metrics_port or self.public)) or (
                on_metrics_port and not asks_metrics
            ):
                await error(404, "http_error", "Not Found")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def wrapped(app: ASGIApp, metrics_port: int | None, metrics_public: bool) -> ASGIApp:
    """`app` inside the wrappers: each request's head and answer told to its connection,
    /metrics on its own port (`metrics_port`; on the public one too when `metrics_public`)."""
    return _RequestCycle(_MetricsWhereConfigured(app, metrics_port, metrics_public))
