"""Each downstream's lane and its way out (an HTTP session, or a broker's publisher), kept
as the directory has them: one made through the API gets its own, a changed one new ones,
and a removed one's close once its attempts in flight have had their time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from receiver.config import Downstream
from receiver.config.downstream import client_tls_of
from receiver.deliveries.fanout.lanes import Lane, close_later, task_webhooks
from receiver.deliveries.fanout.outgoing import Way, fixed_authorization
from receiver.deliveries.rules import STATE_NUMBERS
from receiver.destinations.publishing import Publisher
from receiver.destinations.registry import open_publisher, provider_of
from receiver.downstreams.directory import Directory
from receiver.kernel.net import guard
from receiver.kernel.net.credentials import client_tls
from receiver.kernel.net.outbound import IDLE_KEEPALIVE_SECONDS, env_proxy, tls_context
from receiver.lifecycle.rules.routing import TASK_WEBHOOK
from receiver.wiring.service import Service

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened


def _came_through_the_api(d: Downstream) -> bool:
    """A task's webhook, or a downstream made through the API (not the operator's file)."""
    return d.name == TASK_WEBHOOK or d.managed


def proxy_of(service: Service, d: Downstream) -> str | None:
    """The proxy a downstream's requests go through: its own, else `delivery.proxy`, else
    (the config file's alone) the environment's. aiohttp's trust_env would read the
    environment and ~/.netrc on every request, in a thread; this is settled once. A URL from
    the API goes direct, or through a proxy once judged: the environment's proxy would
    resolve it past the guard."""
    configured = service.config.settings.delivery.proxy
    return d.proxy or configured or (None if _came_through_the_api(d) else env_proxy(d.url))


def open_session(service: Service, d: Downstream, guarded: bool) -> aiohttp.ClientSession:
    """A session for one downstream's requests, with its TLS (a client certificate, a
    private CA). `guarded`: its URL came through the API, and reaches public addresses only.

    The resolver refuses a name that resolves to a private address, at connect time. Through
    a proxy it connects only to that: `delivery.proxy` is the operator's, a downstream's own
    proxy from the API must be public like its URL; the target is judged before each send
    instead (outgoing.judge_target)."""
    import aiohttp  # with a downstream's first session: a relay starts without it

    operators_proxy = bool(service.config.settings.delivery.proxy) and d.proxy is None
    tls = client_tls_of(d)
    context = client_tls(tls.client_cert, tls.client_key, tls.ca) if tls else tls_context()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=d.max_in_flight,
            ssl=context,
            resolver=guard.resolver(not guarded or operators_proxy),
            keepalive_timeout=IDLE_KEEPALIVE_SECONDS,
        ),
        headers={"User-Agent": "runway-relay", "Content-Type": "application/json"},
        auto_decompress=False,
    )


class Connections:
    def __init__(self, service: Service, directory: Directory, private_ok: bool) -> None:
        self.service = service
        self.directory = directory
        self._private_ok = private_ok
        self._task_lane = task_webhooks(service)
        self.downstreams: dict[str, Downstream] = {}
        self.lanes: dict[str, Lane] = {}
        self._generation = -1  # of the directory, when the lanes were last made from it
        # Opened in the fan-out's run(): aiohttp wants a running loop.
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.publishers: dict[str, Publisher] = {}  # broker downstreams
        self.ways: dict[str, Way] = {}  # HTTP downstreams: how each one's requests leave
        # A broker made through the API: its host's addresses checked before its first send.
        self.broker_checks: dict[str, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()  # old sessions, closing once idle

    def from_the_api(self, d: Downstream) -> bool:
        """Its URL came through the API: it may reach public addresses only, unless the
        operator allows private ones."""
        return _came_through_the_api(d) and not self._private_ok

    def follow(self) -> None:
        """Lanes for the downstreams as the directory has them now: one made through the
        API gets its lane and connections, a changed one new ones, a removed one none (its
        in-flight attempts finish on the old)."""
        directory = self.directory
        if directory.generation == self._generation:
            return
        self._generation = directory.generation
        wanted = dict(directory.every)
        if self._task_lane is not None:
            wanted[TASK_WEBHOOK] = self._task_lane
        for name in [n for n, d in self.downstreams.items() if wanted.get(n) != d]:
            self._retire(name)
        for name, d in wanted.items():
            if self.downstreams.get(name) != d:
                self._open(d)

    def _open(self, d: Downstream) -> None:
        name = d.name
        self.downstreams[name] = d
        self.lanes[name] = Lane.of(d)
        self.service.metrics.breakers[name] = STATE_NUMBERS["closed"]
        if d.broker is not None:
            self.publishers[name] = open_publisher(d.broker, name, d.max_in_flight)
            connected = provider_of(d.format).connects_to(d)
            if self.from_the_api(d) and connected is not None:
                host = urlsplit(connected[1]).hostname or ""
                self.broker_checks[name] = asyncio.create_task(guard.check_resolved(host))
            return
        session = self.sessions[name] = open_session(self.service, d, self.from_the_api(d))
        tokens = self.directory.token_source(d)
        authorization = fixed_authorization(d)
        proxy = proxy_of(self.service, d)
        self.ways[name] = Way(session, proxy, self.from_the_api(d), tokens, authorization)

    def way(self, d: Downstream) -> Way:
        """How a delivery to `d` leaves now (no session: it was changed or removed)."""
        return self.ways.get(d.name) or Way(None, None, judged=False)

    def _retire(self, name: str) -> None:
        d = self.downstreams.pop(name)
        self.lanes.pop(name, None)
        self.service.metrics.breakers.pop(name, None)
        self.broker_checks.pop(name, None)
        self.ways.pop(name, None)
        closing = self.sessions.pop(name, None) or self.publishers.pop(name, None)
        if closing is not None:
            task = asyncio.create_task(close_later(closing, d.timeout + 1))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
        for publisher in self.publishers.values():
            await publisher.close()
        for task in self._retiring:
            task.cancel()  # closes at once
        await asyncio.gather(*self._retiring, return_exceptions=True)
