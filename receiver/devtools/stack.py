"""The simulator, a downstream sink and the relay on loopback, in one process: what
`receiver demo` (a temporary folder, free ports) and `receiver dev` (a folder kept between
runs, ports that may be fixed) both start."""

from __future__ import annotations

import contextlib
import errno
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from receiver.devtools.localserver import BackgroundServer
from receiver.kernel.secrets import signing as sign

# The secrets the relay's config below names, besides those the relay always reads.
SINK_SECRET_ENV = "LOCAL_SINK_SECRET"


def new_secrets(key_prefix: str) -> dict[str, str]:
    """The relay's secrets, made afresh; COMETAPI_KEY is the simulator's, not a real key."""
    return {
        "COMETAPI_KEY": key_prefix + secrets.token_hex(8),
        "RECEIVER_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "RECEIVER_SECRET": secrets.token_urlsafe(32),
        SINK_SECRET_ENV: sign.new_secret(),
    }


def sink_webhook(sink_url: str, name: str, hook: str = "relay") -> dict[str, Any]:
    """A webhook downstream at the sink's /hooks/`hook`, signed as a real downstream's."""
    return {
        "name": name,
        "url": f"{sink_url}/hooks/{hook}",
        "format": "webhook",
        "secret_env": SINK_SECRET_ENV,
    }


class StackError(Exception):
    """A start-up problem said in one line (a port in use, a server that did not start)."""


@dataclass(frozen=True)
class Ports:
    """0: a free port, chosen when bound."""

    relay: int = 0
    simulator: int = 0
    sink: int = 0


def relay_settings(
    folder: Path, relay_url: str, sim_url: str, downstreams: list[dict[str, Any]]
) -> dict[str, Any]:
    """A relay against the simulator, quick to poll and retry, its store and media in
    `folder`: the settings a newcomer would otherwise gather from three guides."""
    return {
        # Any free port for /metrics: the stack runs beside whatever the machine runs.
        "server": {"public_url": relay_url, "metrics_listen": "127.0.0.1:0"},
        "upstream": {"base_url": sim_url, "timeout_seconds": 5},
        "polling": {"callback_grace_seconds": 8},
        # The sink is on loopback, and so is any downstream made through the API here.
        "delivery": {"retry_schedule": [0.5, 1, 2], "allow_private_networks": True},
        "advanced": {
            "polling": {
                "initial_delay_seconds": 1,
                "interval_seconds": 1,
                "max_interval_seconds": 2,
                "scan_seconds": 0.2,
            },
            "delivery": {"outbox_scan_seconds": 0.2},
        },
        "storage": {"url": f"sqlite:///{folder / 'relay.db'}"},
        # The renders are copied before their links expire; the simulator is on loopback.
        "media": {"enabled": True, "dir": str(folder / "media"), "allow_private_sources": True},
        "logging": {"level": "warning"},
        "downstream": downstreams,
    }


class LocalStack:
    """Bound at once (so every URL is known, and a port in use is said before anything
    starts); served from `with` to its end, the relay stopped first."""

    def __init__(
        self,
        folder: Path,
        env: dict[str, str],
        downstreams: Callable[[str], list[dict[str, Any]]],
        ports: Ports | None = None,
        announce: Callable[[dict[str, Any]], None] | None = None,
        tune: Callable[[dict[str, Any]], None] | None = None,
        served: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        """`env`: the relay's secrets (COMETAPI_KEY is the simulator's key too);
        `downstreams(sink_url)`: the config file's downstreams; `announce`: told of each
        request the sink records; `tune`: changes the relay's settings before it is built;
        `served`: the relay runs as `receiver serve` runs it (its connection wrappers, loop,
        parser and limits), `served` around all of it."""
        ports = ports or Ports()
        self._bound: list[BackgroundServer] = []
        try:
            self.simulator = self._take(ports.simulator, "simulator")
            self.sink = self._take(ports.sink, "sink")
            self.relay = self._take(ports.relay, "relay")  # its URL goes into callback URLs
        except StackError:
            self.close()
            raise
        # The service is imported once the ports are bound: a port in use is said at once.
        from receiver.app import server
        from receiver.app.build import build_service, create_app
        from receiver.config import parse_settings, resolve
        from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
        from receiver.devtools.sink import create_sink_app
        from receiver.kernel.http import connections

        self.simulator.app = create_simulator_app(
            SimulatorConfig(
                api_key=env["COMETAPI_KEY"],
                queued_seconds=1,
                running_seconds=2,
                not_exist_seconds=1,
            )
        )
        self.sink.app = create_sink_app(announce)
        wanted = downstreams(self.sink.url)
        settings = relay_settings(folder, self.relay.url, self.simulator.url, wanted)
        if tune is not None:
            tune(settings)
        config = resolve(parse_settings(settings), env)
        self.relay.app = create_app(build_service(config))
        if served is not None:
            # /metrics's own port is left out here: its socket is not bound.
            relay = config.settings  # its server section, as `receiver serve` reads it
            public = relay.server.metrics_public
            outer = served(connections.wrapped(self.relay.app, None, public))
            self.relay.config = server.served_config(outer, config)

    def _take(self, port: int, what: str) -> BackgroundServer:
        try:
            server = BackgroundServer(port=port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StackError(
                    f"127.0.0.1:{port} ({what}) is in use: free it or pick another"
                ) from None
            raise StackError(
                f"cannot listen on 127.0.0.1:{port} ({what}): {exc.strerror}"
            ) from None
        self._bound.append(server)
        return server

    def close(self) -> None:
        """Stop what runs, the relay first, and free every port."""
        for server in reversed(self._bound):
            server.stop()

    def __enter__(self) -> LocalStack:
        try:
            for server, what in zip(self._bound, ("simulator", "sink", "relay"), strict=True):
                try:
                    server.start()
                except (RuntimeError, TimeoutError) as exc:
                    cause = f": {exc.__cause__}" if exc.__cause__ else ""
                    raise StackError(f"the {what} did not start ({exc}{cause})") from None
        except StackError:
            with contextlib.suppress(Exception):
                self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
