"""Each downstream's lane and its publisher (an HTTP destination's with its session, proxy
and auth), made when the downstream has work, made anew when the directory follows a change
of it, and let go once idle: an idle relay holds the config file's lanes alone, however
many downstreams its apps made."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from receiver.config import Downstream
from receiver.config.downstream import BasicAuth, BearerAuth, client_tls_of, endpoint_auth
from receiver.config.sections import DeliveryConfig
from receiver.deliveries.fanout.lanes import Busy, Lane, app_task_webhooks, close_later
from receiver.destinations import cloudevents, handshake
from receiver.destinations.http import Route
from receiver.destinations.publishing import Opening, Publisher
from receiver.destinations.registry import open_publisher, unallowed_target
from receiver.downstreams.directory import Directory, Secrets
from receiver.kernel.net import guard
from receiver.kernel.net.credentials import basic_authorization, client_tls
from receiver.kernel.net.outbound import IDLE_KEEPALIVE_SECONDS, env_proxy, tls_context
from receiver.kernel.observability import logs
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.sealing import Unsealable
from receiver.keys.webhook_keys import AppWebhookKeys, TaskWebhookKeys
from receiver.outbox.rules.delivery import (
    STATE_NUMBERS,
    TASK_WEBHOOK,
    Answer,
    Verdict,
    is_task_webhook,
    owner_of,
)

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened


def origin_of(directory: Directory, settings: DeliveryConfig, kept: str) -> cloudevents.Origin:
    """Where a downstream's CloudEvents come from: `delivery.cloudevents_source` (else the
    relay's public URL), and its app's name for an app's; the type prefix of the settings."""
    base = settings.cloudevents_source or directory.public_url
    source = cloudevents.source_of(base, directory.app_of(kept))
    return cloudevents.Origin(source, settings.cloudevents_type_prefix)


def _came_through_the_api(d: Downstream) -> bool:
    """A task's webhook, or a downstream made through the API (not the operator's file)."""
    return is_task_webhook(d.name) or d.managed


def proxy_of(rules: DeliveryConfig, d: Downstream) -> str | None:
    """The proxy a downstream's requests go through: its own, else `delivery.proxy`, else
    (the config file's alone) the environment's, settled once (aiohttp's trust_env reads it
    on every request). A URL from the API never takes the environment's: it would resolve
    it past the guard."""
    return d.proxy or rules.proxy or (None if _came_through_the_api(d) else env_proxy(d.url))


def proxy_names(rules: DeliveryConfig, d: Downstream) -> tuple[str, ...]:
    """The names the operator lets `delivery.proxy` resolve unjudged, when a downstream's
    requests go through it (not its own proxy)."""
    return tuple(rules.proxy_names) if rules.proxy and d.proxy is None else ()


def _unguarded(rules: DeliveryConfig, d: Downstream, guarded: bool) -> bool:
    """Its session's resolver lets private addresses through: its URL is the operator's,
    or its requests go through the operator's `delivery.proxy` (the target is judged before
    each send instead)."""
    return not guarded or (bool(rules.proxy) and d.proxy is None)


def open_session(
    rules: DeliveryConfig, d: Downstream, guarded: bool, bodies: bool = True, shared: bool = False
) -> aiohttp.ClientSession:
    """A session for one downstream's requests, with its TLS. `guarded`: its URL came through
    the API, and its resolver refuses private addresses at connect time (`_unguarded`).
    `bodies`: its requests carry JSON (not the handshake's OPTIONS, which has no body).
    `shared` by its app's lanes (`AppSessions`): no cap of its own, each lane keeps its own."""
    import aiohttp  # with a downstream's first session: a relay starts without it

    tls = client_tls_of(d)
    context = client_tls(tls.client_cert, tls.client_key, tls.ca) if tls else tls_context()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=0 if shared else d.max_in_flight,
            ssl=context,
            resolver=guard.resolver(_unguarded(rules, d, guarded)),
            keepalive_timeout=IDLE_KEEPALIVE_SECONDS,
        ),
        headers={
            "User-Agent": "runway-relay",
            **({"Content-Type": "application/json"} if bodies else {}),
        },
        auto_decompress=False,
    )


def fixed_authorization(downstream: Downstream) -> str | None:
    """The `Authorization` value of a downstream's `basic` or `bearer` auth; None for none,
    and for `oauth2` (its token changes)."""
    auth = endpoint_auth(downstream)
    if isinstance(auth, BasicAuth):
        return basic_authorization(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.token}"
    return None


class AppSessions:
    """Each app's HTTP sessions (pools of connections), one per way of connecting (its
    TLS, its resolver's guard), shared by that app's lanes alone and closed with the last
    of them: a lane made for an app reuses the connections its others left open instead of
    a session and connections of its own. Never one across apps, so that an app's
    connections, and their failures, stay its own; each new connection is judged by its
    session's resolver as it is made, as a lane's own was."""

    def __init__(self) -> None:
        self._held: dict[tuple[Any, ...], tuple[aiohttp.ClientSession, int]] = {}

    def share(self, route: Route, rules: DeliveryConfig, d: Downstream, judged: bool) -> None:
        """An app's downstream's `route` goes out through its app's session (any other's
        keeps its own)."""
        if (owner := owner_of(d.name)) is None:
            return
        tls = client_tls_of(d)
        way = tls and (tls.client_cert, tls.client_key, tls.ca)
        key = (owner, _unguarded(rules, d, judged), way)
        opens = functools.partial(open_session, rules, d, judged, shared=True)
        route.opens = functools.partial(self._take, key, opens)
        route.lets_go = functools.partial(self._give_back, key)

    def _take(
        self, key: tuple[Any, ...], opens: Callable[[], aiohttp.ClientSession]
    ) -> aiohttp.ClientSession:
        session, users = self._held.get(key, (None, 0))
        if session is None or session.closed:
            session, users = opens(), 0
        self._held[key] = (session, users + 1)
        return session

    async def _give_back(self, key: tuple[Any, ...], session: aiohttp.ClientSession) -> None:
        """A lane's share given back: the session closed with the last one."""
        held, users = self._held.get(key, (None, 0))
        if held is session and users > 1:
            self._held[key] = (session, users - 1)
            return
        if held is session:
            del self._held[key]
        await session.close()


def open_route(
    rules: DeliveryConfig,
    directory: Directory,
    d: Downstream,
    judged: bool,
    bodies: bool = True,
    sessions: AppSessions | None = None,
) -> Route:
    """An HTTP downstream's way out, its session opened: `judged`, its URL came through the
    API and each target is judged before it is sent; `sessions`: an app's lanes' own."""
    tokens, authorization = directory.token_source(d), fixed_authorization(d)
    names = proxy_names(rules, d)
    opens = functools.partial(open_session, rules, d, judged, bodies)
    route = Route(opens, proxy_of(rules, d), judged, tokens, authorization, names)
    if sessions is not None:
        sessions.share(route, rules, d, judged)
    return route


async def validate(
    rules: DeliveryConfig, directory: Directory, d: Downstream, judged: bool, origin: str
) -> Verdict | Answer:
    """The CloudEvents handshake with a downstream's endpoint (one OPTIONS), its own way out
    (its session, TLS, proxy, auth), opened for it and closed after: its verdict, or the
    failed attempt's Answer when it gave none."""
    route = open_route(rules, directory, d, judged, bodies=False)
    try:
        return await handshake.ask(route, d.url, origin, d.timeout)
    finally:
        await route.close()


async def _judge_public(host: str, port: int) -> None:
    """A server a broker's client is about to dial, of a downstream from the API: judged
    each time it connects (receiver/destinations/connection.py's `judged`, Kafka's every
    broker, AWS's resolver)."""
    await guard.check_resolved(host)


class Connections:
    def __init__(
        self,
        metrics: Metrics,
        rules: DeliveryConfig,
        directory: Directory,
        task_lane: Downstream | None,
        task_keys: TaskWebhookKeys | None = None,
    ) -> None:
        """`task_lane`: the operator's own tasks' webhooks' lane; `task_keys`: the apps'
        keys their tasks' webhooks' lanes are signed with (None: no such lanes)."""
        self.metrics = metrics
        self._task_keys = task_keys
        # The keys each app's task-webhook lane was made with (`task_lane`).
        self._task_lane_keys: dict[str, AppWebhookKeys] = {}
        self._unopened: set[str] = set()  # those whose keys do not open (said once)
        self.rules = rules
        self.directory = directory
        self._changed = directory.followed()  # changed or removed since the last look
        # Downstreams with rows due and none usable here: not read again until then.
        self._missing: dict[str, float] = {}
        self._private_ok = rules.allow_private_networks
        self._task_lane = task_lane
        self.downstreams: dict[str, Downstream] = {}
        self.lanes: dict[str, Lane] = {}
        self.busy = Busy()  # those with work: a round visits these alone
        # Those a failure may have opened the breaker of: each round looks at these alone.
        self.breaking: set[Lane] = set()
        self._places = itertools.count()  # each lane's place, as it is made
        self.placed: dict[int, Lane] = {}  # each lane by its place
        # Opened in the fan-out's run(): aiohttp wants a running loop.
        self.publishers: dict[str, Publisher] = {}
        self.sessions = AppSessions()  # each app's connections, shared by its lanes
        # Old publishers closing once idle, and lanes being made.
        self._retiring: set[asyncio.Task[None]] = set()

    def from_the_api(self, d: Downstream) -> bool:
        """Its URL came through the API: it may reach public addresses only, unless the
        operator allows private ones."""
        return _came_through_the_api(d) and not self._private_ok

    def open_held(self) -> None:
        """The lanes held while the process runs: the config file's (a few), and the
        operator's tasks' webhooks'. A run started again after a failure keeps those it
        has (their publishers open, their attempts in flight)."""
        held = [*self.directory.configured.values(), *filter(None, [self._task_lane])]
        for d in held:
            if d.name not in self.downstreams:
                self._open(d)

    def _held(self, name: str) -> bool:
        return name in self.directory.configured or name == TASK_WEBHOOK

    async def follow(self) -> None:
        """The lanes of the downstreams changed since the last look made anew as the
        directory has them now (their attempts in flight finish on the old), a removed
        one's let go."""
        while self._changed:
            name = self._changed.pop()
            self._missing.pop(name, None)
            if name not in self.downstreams or is_task_webhook(name):
                continue
            d, secrets = (await self.directory.usable([name])).get(name, (None, ()))
            if d != self.downstreams.get(name) and name in self.downstreams:
                self._retire(name)
                if d is not None:
                    self._open(d, secrets)

    async def with_work(self, due: Iterable[str], now: float, handed: bool = False) -> None:
        """Lanes for the downstreams of `due` with none: read in one go through the
        directory (an app's task webhooks' with its keys). `handed`: made for the rows a
        transaction leased here, so none of theirs waits for a claim (drained: no round is
        run for them as slots free)."""
        wanted = [n for n in due if n not in self.lanes and now >= self._missing.get(n, 0.0)]
        for name in [n for n in wanted if is_task_webhook(n)]:
            await self.task_lane(name)
        others = [n for n in wanted if not is_task_webhook(n)]
        found = await self.directory.usable(others) if others else {}
        for name in others:
            if name not in found:  # removed, held, or not valid any more
                self._missing[name] = now + self.rules.outbox_scan_seconds
            elif name not in self.lanes:
                self._open(*found[name])
                self.lanes[name].drained = handed

    def have_rows(self, names: Iterable[str]) -> None:
        """These downstreams' rows are due again (their leases given back): their lanes
        claim them in the next round."""
        for name in set(names):
            if (lane := self.lanes.get(name)) is not None:
                lane.backlog, lane.drained = True, False

    def let_go(self, now: float) -> None:
        """The lanes idle a while let go (their connections closed once idle), but the
        held ones: made again when their downstream has work."""
        for name in [n for n, lane in self.lanes.items() if lane.idle(now)]:
            if not self._held(name):
                self._retire(name)
        self._missing = {n: until for n, until in self._missing.items() if until > now}

    def breakers_moved(self, now: float) -> list[tuple[Lane, str]]:
        """The lanes whose breaker's state is not the one last reported, with it, of those
        a failure may have opened; one closed and reported so is not looked at again."""
        moved: list[tuple[Lane, str]] = []
        for lane in list(self.breaking):
            if self.lanes.get(lane.downstream.name) is not lane:  # let go meanwhile
                self.breaking.discard(lane)
            elif (state := lane.breaker.state(now)) != lane.reported:
                moved.append((lane, state))
            elif state == "closed":
                self.breaking.discard(lane)
        return moved

    def open_later(self, names: list[str], then: Callable[[], None]) -> None:
        """Lanes made in a task of its own (their rows, or their app's keys, read from the
        store in one go), then `then`."""

        async def opening() -> None:
            try:
                await self.with_work(names, time.time(), handed=True)
            except Exception:  # made at the next claim that finds their rows due
                logs.get_logger("receiver").exception("fanout.lanes_failed", downstreams=names)
            then()

        task = asyncio.create_task(opening())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def task_lane(self, name: str) -> Lane | None:
        """The lane of an app's tasks' own webhooks (`<app id>.task-webhook`), made when it
        first has work and made anew when the app's keys changed (a rotation: its attempts
        in flight finish on the old one); any other name's lane as it is."""
        owner = owner_of(name)
        if owner is None or self._task_keys is None or not is_task_webhook(name):
            return self.lanes.get(name)
        try:
            keys = await self._task_keys.of(owner)
        except Unsealable as exc:  # said once; its lane signs on as it was, or its rows wait
            if name not in self._unopened:
                log = logs.get_logger("receiver")
                log.error("task_webhook.keys_unopened", app=owner, reason=str(exc))
            self._unopened.add(name)
            return self.lanes.get(name)
        self._unopened.discard(name)
        # As it is now: another claim or handed event may have made it meanwhile.
        lane = self.lanes.get(name)
        if lane is not None and self._task_lane_keys.get(name) == keys:
            return lane
        if name in self.downstreams:
            self._retire(name)
        self._task_lane_keys[name] = keys
        self._open(app_task_webhooks(name, keys, self.rules))
        scope = logs.Redactor()  # its keys, cut out of what its attempts log
        scope.add(secret for pair in keys.in_use(time.time()) for secret in pair.both)
        lane = self.lanes[name]
        lane.scope = (scope,)
        return lane

    def _open(self, d: Downstream, secrets: Secrets = ()) -> None:
        """`secrets`: what only its own attempts may show (`Directory.scope_of`)."""
        name = d.name
        self.downstreams[name] = d
        self.lanes[name] = lane = Lane.of(d, self.busy, next(self._places))
        self.placed[lane.place] = lane
        self.metrics.breakers[name] = STATE_NUMBERS["closed"]
        judged = self.from_the_api(d)
        opening = Opening(
            name,
            d.max_in_flight,
            _judge_public if judged else None,
            self._patterns(d),
            lambda: open_route(self.rules, self.directory, d, judged, sessions=self.sessions),
        )
        self.publishers[name] = open_publisher(d, opening)
        # Once its publisher is open: an OAuth2 token source is made with its route.
        self.lanes[name].scope = self.directory.scope_of(name, secrets)

    def _patterns(self, d: Downstream) -> tuple[str, ...]:
        """The operator's patterns an app's downstream is held to at every server its
        client dials (the brokers a Kafka cluster names, too), when every server of its URL
        is within them: an app's key made it so. The admin's made outside them are not
        checked, as when they were made."""
        owner = owner_of(d.name)
        if not d.managed or owner is None:
            return ()
        rules = self.rules
        app = self.directory.app_names.get(owner, "")
        patterns = [*rules.allowed_targets, *rules.allowed_targets_by_app.get(app, [])]
        if not patterns or unallowed_target(d, patterns) is not None:
            return ()
        return tuple(patterns)

    def _retire(self, name: str) -> None:
        d = self.downstreams.pop(name)
        if (lane := self.lanes.pop(name, None)) is not None:
            self.busy.forget(lane)
            del self.placed[lane.place]
            self.breaking.discard(lane)
        self._task_lane_keys.pop(name, None)
        self.metrics.breakers.pop(name, None)
        closing = self.publishers.pop(name, None)
        if closing is not None:
            task = asyncio.create_task(close_later(closing, d.timeout + 1))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for publisher in self.publishers.values():
            await publisher.close()
        for task in self._retiring:
            task.cancel()  # closes at once
        await asyncio.gather(*self._retiring, return_exceptions=True)
