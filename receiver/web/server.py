"""How the service listens: uvicorn, with limits on what one caller can hold.

uvicorn (with h11) times out idle keep-alive connections but not a request whose head or
body never finishes, so a few hundred slow senders could hold every file descriptor. Here
a request head must arrive within `head_timeout_seconds` of the connection (or of the
previous answer), the body within `body_timeout_seconds` (the routes' own reads), and
past `max_connections` new requests get 503. The open-file soft limit is raised to the
hard limit, and the event loop's accept errors are logged at a bounded rate.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from receiver.config import Config


class _HeadDeadline(H11Protocol):
    """h11's protocol, closing a connection whose request head is not in on time."""

    head_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.head_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the head is in: the route's own body timeout takes over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets a deadline of its own

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


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


def run(app: Any, config: Config) -> None:
    server = config.settings.server
    raise_open_file_limit()
    # "socket.accept() out of system resource" comes once per loop turn while fds run out.
    logging.getLogger("asyncio").addFilter(_EveryTenSeconds())
    protocol = type("HeadDeadline", (_HeadDeadline,), {"head_timeout": server.head_timeout_seconds})
    listening = uvicorn.Server(
        uvicorn.Config(
            app,
            host=server.host,
            port=server.port,
            http=protocol,
            log_config=None,
            access_log=False,
            lifespan="on",
            limit_concurrency=server.max_connections,
            timeout_graceful_shutdown=int(config.settings.delivery.shutdown_grace_seconds) + 5,
        )
    )
    app.state.service.draining = lambda: listening.should_exit
    listening.run()
    if not listening.started:
        sys.exit(3)  # as uvicorn.run: it never listened (the port taken, a failed start-up)
