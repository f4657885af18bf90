"""How the service listens: uvicorn, with limits on what one caller can hold.

Each connection and request goes through the wrappers of receiver/kernel/http/connections.py
(a request head within `head_timeout_seconds`, at most 64 KiB; /metrics on its own port);
the body must arrive within `body_timeout_seconds` (the routes' own reads), and past
`max_connections` new requests get 503. The open-file soft limit is raised to the hard
limit, and the event loop's accept errors are logged at a bounded rate.
"""

from __future__ import annotations

import errno
import logging
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn
from starlette.types import ASGIApp

from receiver.config import Config, ServerConfig
from receiver.kernel.errors import ConfigError
from receiver.kernel.http.connections import with_head_limits, wrapped
from receiver.kernel.net import speed
from receiver.kernel.observability.logs import Log


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
    except ConfigError as exc:
        public.close()
        if "already in use" in str(exc):
            # Most often a second replica on one host, started with the same settings.
            host = f"[{address[0]}]" if ":" in address[0] else address[0]
            raise ConfigError(
                f"{exc} (another relay on this host? give each its own:"
                f" RECEIVER__SERVER__METRICS_LISTEN={host}:<a free port>, or an empty"
                " value for no /metrics listener)"
            ) from None
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
    loaded.http_protocol_class = with_head_limits(
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
    served_app = wrapped(app, metrics_port, server.metrics_public)
    uvicorn_config = served_config(served_app, config)
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
