"""Run an ASGI app under uvicorn in a daemon thread on 127.0.0.1 (demo and tests)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

_HOST = "127.0.0.1"
# Only a server that hangs meets it: on a loaded machine (CI's, two cores, three suites)
# a healthy one has taken over 10 s to start its thread.
_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 10.0


class BackgroundServer:
    """A uvicorn server on a loopback socket bound in ``__init__`` (port 0 by default), so
    that ``port`` and ``url`` are known before ``start()`` and no other process can take the
    port in between. The app may be set later (before ``start()``) to know its own URL."""

    def __init__(self, app: ASGIApp | None = None, *, port: int = 0) -> None:
        self.app = app
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
        # TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # Lets a fixed port be reused right after a previous run left it in TIME_WAIT.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((_HOST, port))
        except OSError:
            self._sock.close()
            raise
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{_HOST}:{self.port}"
        self._server: uvicorn.Server | None = None
        # uvicorn's settings, when not this module's own (the relay as `receiver serve` runs it).
        self.config: uvicorn.Config | None = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # uvicorn reports a failed lifespan with sys.exit()
            self._error = exc

    def start(self) -> None:
        """Start serving; block until uvicorn reports started, or raise."""
        if self._thread.ident is not None:
            raise RuntimeError("BackgroundServer can only be started once")
        config = self.config
        if config is None:
            if self.app is None:
                raise RuntimeError("BackgroundServer has no app to serve")
            config = uvicorn.Config(
                self.app,
                log_level="warning",
                lifespan="on",
                # Leave the host process's logging setup alone; uvicorn records still reach root.
                log_config=None,
                # A handler stuck in a long sleep (e.g. a slow sink) must not block stop().
                timeout_graceful_shutdown=2,
                # Nothing stands in front on loopback: the peer is the client (the demo's relay
                # must not take X-Forwarded-For from anyone, as `receiver serve` does not).
                proxy_headers=False,
            )
        self._server = uvicorn.Server(config)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise RuntimeError(f"server on {self.url} failed to start") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server on {self.url} did not start within {_START_TIMEOUT} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask uvicorn to exit (running lifespan shutdown) and wait for the thread."""
        if self._server is None:
            self._sock.close()
            return
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive():
                # Graceful shutdown is wedged; skip the remaining waits.
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
