"""How the service listens: uvicorn, with limits on what one caller can hold.

uvicorn times out idle keep-alive connections but not a request whose head or body never
finishes, so a few hundred slow senders could hold every file descriptor. Here a request
head must arrive within `head_timeout_seconds` of the connection (or of the previous
answer), the body within `body_timeout_seconds` (the routes' own reads), a head larger
than 64 KiB closes its connection (`head_size.py`, where uvicorn parses with httptools), and
past `max_connections` new requests get 503. The open-file soft limit is raised to the hard
limit, and the event loop's accept errors are logged at a bounded rate.

The head deadline is ours because uvicorn has none: `timeout_keep_alive` starts only once a
first answer is out and any byte cancels it, and `h11_max_incomplete_event_size` bounds a
head's size, not its time. It is built from public parts only: uvicorn's protocol for each
connection is wrapped (composition over the asyncio Protocol interface, no subclass of a
private class), and the wrapper rides in the connection's ASGI lifespan state (which uvicorn
copies into every request's `scope["state"]`, as the ASGI spec says) to the small ASGI
middleware below, which tells it when a request's head is in and when its answer is out.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.config import Config, ServerConfig
from receiver.kernel.errors import ConfigError
from receiver.kernel.http.answers import error
from receiver.kernel.net import speed
from receiver.kernel.observability.logs import Log

if TYPE_CHECKING:
    from receiver.kernel.http.head_size import HeadSize

_CONNECTION = "runway_relay.connection"  # the key of the wrapper in the lifespan state


class _HeadLimits(asyncio.Protocol):
    """One connection: uvicorn's protocol inside, closed when a request head is not in on
    time, or (on httptools) grows past `head_size.MAX_HEAD_BYTES`. The deadline runs from the
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
        self._deadline = None
        if not self._in_flight and self._transport is not None:
            self._transport.close()


def _with_head_limits(
    inner: type[asyncio.Protocol], seconds: float, parser: str
) -> type[asyncio.Protocol]:
    head_size = None
    if parser == "httptools":  # h11 bounds a head's size itself
        from receiver.kernel.http.head_size import HeadSize

        head_size = HeadSize
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


class _EveryTenSeconds(logging.Filter):
    """At most one line per message per ten seconds; the rest are counted in the next."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = time.monotonic()
        last, dropped = self._last.get(key, (0.0, 0))
        if now - last < 10.0:
            self._last[key] = (last, dropped + 1)
            return False
        self._last[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} ({dropped} more like it not logged)"
        return True


def raise_open_file_limit() -> int:
    """The soft limit on open files raised to the hard one; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


@dataclass(frozen=True)
class Listening:
    """The public socket, and /metrics's own (None when `server.metrics_listen` is "")."""

    public: socket.socket
    metrics: socket.socket | None


def bind(server: ServerConfig) -> Listening:
    """The listening sockets, bound before the store is reached or any worker starts, so
    that a port that is taken stops start-up in one line with nothing touched (uvicorn binds
    only after the application's start-up has run)."""
    public = bound(server.host, server.port, "")
    address = server.metrics_address
    if address is None:
        return Listening(public, None)
    try:
        if address[1] and address[1] == server.port:
            raise ConfigError(
                f"config key server.metrics_listen: port {server.port} is the public port;"
                " /metrics needs one of its own"
            )
        return Listening(public, bound(*address, "config key server.metrics_listen: "))
    except ConfigError:
        public.close()
        raise


def bound(host: str, port: int, what: str) -> socket.socket:
    """A listening socket, or ConfigError saying why not in words (`what` first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"{what}port {port} is already in use") from None
        raise ConfigError(f"{what}cannot listen on {host}:{port}: {exc.strerror}") from None
    # Answers go out at once: without it, an answer written in two parts on a kept-alive
    # connection waits for the client's delayed ACK (Nagle). Accepted sockets inherit it.
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listening


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


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, which on SIGTERM first drains: `/readyz` answers 503 at once while
    requests are still served for `server.drain_seconds`, so a load balancer (a Kubernetes
    Service, whose endpoints follow readiness) stops sending before the socket closes; only
    then the graceful shutdown: no new connections, in-flight requests and deliveries
    finish. A second SIGTERM, or SIGINT, ends the drain at once."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None
        self.on_drain: Any = None  # called once, on the loop, when the drain begins

    @property
    def draining(self) -> bool:
        return self.drain_until is not None or self.should_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and self.drain_until is None:
            # Only noted here: a signal handler must not log (the lock may be held).
            self.drain_until = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and self.on_drain is not None:
            self.on_drain()
            self.on_drain = None
        ended = self.drain_until is not None and time.monotonic() >= self.drain_until
        if ended and not self.should_exit:
            super().handle_exit(signal.SIGTERM, None)  # re-raised at exit, as uvicorn does
        return await super().on_tick(counter)


class Served(Protocol):
    """What the server tells the service it runs (receiver/wiring/service.py): how to know
    it drains; and where it writes its lines."""

    def drains_by(self, draining: Callable[[], bool]) -> None: ...

    @property
    def log(self) -> Log: ...


def wrapped(app: ASGIApp, server: ServerConfig, metrics_port: int | None) -> ASGIApp:
    """`app` inside the connection wrappers `receiver serve` adds: each request's head and
    answer told to its connection, /metrics on its own port (`metrics_port`)."""
    return _RequestCycle(_MetricsWhereConfigured(app, metrics_port, server.metrics_public))


def served_config(app: ASGIApp, config: Config) -> uvicorn.Config:
    """uvicorn's settings for `app` (already `wrapped`) as `receiver serve` runs it, loaded:
    its loop and parser, each connection in the head limits."""
    settings = config.settings
    server = settings.server
    parser = speed.http_name()
    loaded = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        # uvloop and httptools where the platform has them (receiver/kernel/net/speed.py).
        loop=speed.loop_name(),
        http=parser,
        ws="none",
        log_config=None,
        access_log=False,
        lifespan="on",
        limit_concurrency=server.max_connections,
        # X-Forwarded-* only from the proxies named in the config: uvicorn would believe
        # them from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) otherwise.
        proxy_headers=bool(server.trusted_proxies),
        forwarded_allow_ips=server.trusted_proxies,
        timeout_graceful_shutdown=int(settings.delivery.shutdown_grace_seconds) + 5,
    )
    loaded.load()  # picks uvicorn's protocol class, which the limits then wrap
    loaded.http_protocol_class = _with_head_limits(
        loaded.http_protocol_class, server.head_timeout_seconds, parser
    )
    return loaded


def run(app: Any, config: Config, listening: Listening, served: Served) -> None:
    settings = config.settings
    server = settings.server
    raise_open_file_limit()
    # "socket.accept() out of system resource" comes once per loop turn while fds run out.
    logging.getLogger("asyncio").addFilter(_EveryTenSeconds())
    metrics_port = listening.metrics.getsockname()[1] if listening.metrics else None
    uvicorn_config = served_config(wrapped(app, server, metrics_port), config)
    drain = server.drain_seconds
    serving = _DrainingServer(uvicorn_config, drain)
    served.drains_by(lambda: serving.draining)
    serving.on_drain = lambda: served.log.info("server.draining", seconds=drain)
    sockets = [s for s in (listening.public, listening.metrics) if s is not None]
    served.log.info(
        "server.listening",
        address=_address(listening.public),
        metrics=_address(listening.metrics) if listening.metrics else None,
        loop=uvicorn_config.loop,
        http=uvicorn_config.http,
    )
    serving.run(sockets=sockets)
    if not serving.started:
        sys.exit(3)  # as uvicorn.run: it never served (its start-up failed)


def _address(bound: socket.socket) -> str:
    host, port = bound.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
