"""Every downstream the relay delivers to: the config file's, fixed at start, and those made
through the API, read from the store.

Each process keeps its own copy and compares, every tick, when each managed downstream last
changed: a change made through any replica is in use everywhere within a tick, and one made
here at once. Their secrets are opened here, from the sealed values the store keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter
from pydantic import ValidationError

from receiver.config import Config, Downstream, ManagedDownstreamConfig, managed_downstream
from receiver.config.downstream import OAuth2Auth, credential_values, endpoint_auth
from receiver.deliveries.rules.delivery import (
    SECRET_HELD,
    UNNAMED_APP,
    DownstreamLabels,
    owned_name,
    owner_of,
)
from receiver.downstreams import transactions
from receiver.downstreams.key_sets import KeySets, Owner
from receiver.downstreams.rows import DownstreamHealth, ManagedRow
from receiver.downstreams.rules import Health, Outcomes, health
from receiver.downstreams.subscribers import stand_in, subscribers, subscription
from receiver.kernel.net.credentials import TokenSource
from receiver.kernel.observability import logs
from receiver.kernel.secrets.sealing import (
    Sealer,
    Unsealable,
    open_url,
    seal_url,
    url_is_current,
)
from receiver.kernel.store import Store
from receiver.keys.transactions import apps
from receiver.wiring.worker_parts import WorkerParts

REMOVED = "the downstream was removed"
# Ticks after a removal during which rows a slower replica still made for it are ended too.
_STRAGGLER_TICKS = 3


def _keys(d: Downstream | None) -> tuple[object, ...] | None:
    """What a downstream's published keys are made of."""
    return None if d is None else (d.signing, d.secret, d.previous_secret, d.previous_until)


def health_of(h: DownstreamHealth, pulled: bool = False) -> Health | None:
    """Its health in the one vocabulary (rules.py), from its record in the store; `pulled`:
    a pull downstream's."""
    return health(
        Outcomes(
            delivered=h.deliveries.get("succeeded", 0),
            dead=h.deliveries.get("dead", 0),
            dead_since_success=h.dead_since_success,
            failing=h.failing_since is not None,
            breaker=h.breaker,
            enabled=h.disabled_at is None,
            pulled=pulled,
        )
    )


class Directory:
    def __init__(
        self,
        config: Config,
        store: Store,
        sealer: Sealer,
        log: Any,
        rows_read: Counter,
        app_names: dict[str, str] | None = None,
        follows: bool = True,
    ) -> None:
        self.configured = {d.name: d for d in config.downstreams}
        self.public_url = config.public_url
        # The relay's host as the CloudEvents handshake's `WebHook-Request-Origin` names it.
        self.origin = urlsplit(config.public_url).hostname or config.public_url
        self._store, self.sealer, self._log = store, sealer, log
        self._rows_read = rows_read
        # The names of the apps whose downstreams were read: their metrics' labels.
        self.app_names = {} if app_names is None else app_names
        logs.name_downstreams(self.shown_name)  # log lines name an app's as APP/NAME
        self._managed: dict[str, Downstream] = {}
        # Made through the API, with a secret (or URL) sealed under a key this relay no longer
        # has: its settings as far as they can be read, and why it cannot be used.
        self.unusable: dict[str, tuple[ManagedDownstreamConfig, str]] = {}
        self._made: set[str] = set()  # every managed row read, usable or not
        self._last_change = -1  # the store's change number last followed (-1: none yet)
        self._refreshing = asyncio.Lock()
        self.generation = 0  # grows with every change the fan-out must follow
        self._gone: dict[str, int] = {}  # removed lately -> ticks left to end stragglers
        # Downstream name -> the states and channels it takes; read on every event, a plain
        # field so that a callback's or a poll's walk runs no code of this folder for it.
        self.subscriptions = {n: subscription(d) for n, d in self.configured.items()}
        # Who an event may go to, read in its transaction: the config file's downstreams, and
        # the global ones and the task's app's made through the API.
        self.subscribers = subscribers(config.downstreams, sealer)
        # Each downstream's OAuth2 token, shared by the fan-out and the test events.
        self._tokens: dict[str, TokenSource] = {}
        # False in a one-shot process (the command line's operator actions): it reads the
        # downstreams and leaves their rows to the relay's own processes, which hold what
        # their key cannot open and release it when it can.
        self._follows = follows
        # The secrets an app gave each downstream it made (headers, credentials, URL): its
        # choice, cut out of what that downstream's attempts write, not of every log line.
        self._secrets: dict[str, logs.Redactor] = {}
        # Each owner's RFC 9421 public keys, serialised once a change of them.
        self._key_sets = KeySets()

    def key_set(self, owner: Owner, now: float) -> bytes:
        """The JWKS of `owner`'s downstreams (an app's id; None: the operator's own)."""
        return self._key_sets.body(owner, lambda: self.every.values(), now)

    def token_source(self, d: Downstream) -> TokenSource | None:
        """The one OAuth2 token source of `d` in this process (a new one once its `auth`
        changed); None when it has no `oauth2` auth."""
        auth = endpoint_auth(d)
        if not isinstance(auth, OAuth2Auth):
            self._tokens.pop(d.name, None)
            return None
        wanted = auth.credentials()
        source = self._tokens.get(d.name)
        if source is None or source.credentials != wanted:
            source = self._tokens[d.name] = TokenSource(wanted)
        return source

    def scope_of(self, name: str) -> tuple[logs.Redactor, ...]:
        """What only `name`'s own attempts may show and must not (`logs.scoped`): the
        secrets of a downstream an app made, and the OAuth2 token its endpoint chose. The
        config file's secrets are the operator's, scrubbed everywhere."""
        tokens = self._tokens.get(name)
        found = (self._secrets.get(name), tokens.redactor if tokens is not None else None)
        return tuple(r for r in found if r is not None)

    @property
    def every(self) -> dict[str, Downstream]:
        return {**self.configured, **self._managed}

    def knows(self, name: str) -> bool:
        """A downstream of this name exists (usable or not: a managed one whose secret does
        not open can still be disabled, enabled or removed)."""
        return name in self.configured or name in self._made

    def get(self, name: str) -> Downstream | None:
        return self.configured.get(name) or self._managed.get(name)

    def kept_of(self, typed: str) -> str:
        """The name a downstream typed as `APP/NAME` is kept under (the one of that app's
        that exists: an app's name may have been given again after a delete); any other
        name as it is."""
        app, slash, name = typed.partition("/")
        if not (slash and app and name):
            return typed
        owned = (owned_name(i, name) for i, shown in self.app_names.items() if shown == app)
        return next((kept for kept in owned if self.knows(kept)), typed)

    def shown_name(self, kept: str) -> str:
        """A downstream as people read it: an app's as `APP/NAME`, as its metrics label it,
        never the `<app id>.<name>` it is kept under; the operator's own as it is."""
        return DownstreamLabels(self.app_names)(kept)

    def app_of(self, kept: str) -> str | None:
        """The name of the app a downstream is kept for (its CloudEvents `source` names it);
        None: the operator's."""
        owner = owner_of(kept)
        return None if owner is None else self.app_names.get(owner, UNNAMED_APP)

    def pulled(self, name: str) -> bool:
        """It is read by pull (no breaker, no attempts of its own)."""
        d = self.get(name)
        settings = d if d is not None else self.unusable.get(name, (None, ""))[0]
        return settings is not None and settings.pulled

    def health(self, h: DownstreamHealth) -> Health | None:
        """Its health in the one vocabulary (None: a pull downstream with events to read)."""
        return health_of(h, self.pulled(h.name))

    def summary(self, h: DownstreamHealth) -> dict[str, Any]:
        """Its health as the API answers it: the record's fields and the word."""
        return {**h.summary(), "health": self.health(h)}

    async def refresh(self) -> bool:
        """Follow what changed among the managed downstreams since the last look: only the
        rows changed since are read; True when one did. One look at a time (a create's and
        the tick's), so that a change is read once."""
        async with self._refreshing:
            return await self._refresh()

    async def _refresh(self) -> bool:
        if self._follows:
            await self._end_stragglers()
        changes = await transactions.changes_since(self._store, self._last_change)
        first = self._last_change < 0
        self._last_change = changes.last
        if not (changes.rows or changes.removed):
            return False
        self._rows_read.inc(len(changes.rows) + len(changes.removed))
        remade = {row.name for row in changes.rows}
        for _, name in changes.removed:
            # Made again after it was removed: the new row stands.
            if name not in remade:
                if self._managed.get(name) is not None:
                    self._key_sets.changed(owner_of(name))
                self._forget(name)
                self._gone[name] = _STRAGGLER_TICKS
        usable, unusable = [], []
        for row in changes.rows:
            was_unusable = row.name in self.unusable
            before = _keys(self._managed.get(row.name))
            self._forget(row.name)
            self._made.add(row.name)
            opened = self._open(row)
            if _keys(opened if isinstance(opened, Downstream) else None) != before:
                self._key_sets.changed(owner_of(row.name))
            if isinstance(opened, Downstream):
                self._managed[row.name] = opened
                self._gone.pop(row.name, None)
                if first or was_unusable:
                    usable.append(row.name)
            elif opened is not None:
                self.unusable[row.name] = opened
                if first or not was_unusable:
                    unusable.append(row.name)
        self.subscriptions = {n: subscription(d) for n, d in self.every.items()}
        # Its rows are still made, held with the reason, until its key is back or its secret
        # is rotated, and then go out.
        for name, (settings, _) in self.unusable.items():
            self.subscriptions[name] = subscription(settings, SECRET_HELD)
        if (usable or unusable) and self._follows:
            await transactions.follow_unopened(self._store, unusable, usable)
        owners = {owner_of(row.name) or "" for row in changes.rows} - {"", *self.app_names}
        if owners:
            self.app_names.update(await apps.names(self._store, sorted(owners)))
        self.generation += 1
        return True

    def _forget(self, name: str) -> None:
        self._managed.pop(name, None)
        self._secrets.pop(name, None)
        self.unusable.pop(name, None)
        self._made.discard(name)

    async def _end_stragglers(self) -> None:
        """A replica that had not seen a removal yet may have queued deliveries for it:
        they end as dead letters too, for a few ticks after."""
        for name, left in list(self._gone.items()):
            if name not in self._managed:
                await transactions.end_deliveries(self._store, name, REMOVED)
            if left <= 1:
                del self._gone[name]
            else:
                self._gone[name] = left - 1

    def _open(self, row: ManagedRow) -> Downstream | tuple[ManagedDownstreamConfig, str] | None:
        """A row as a downstream; when its secret or URL was sealed under a key this relay
        no longer has, its other settings and the reason (and a log line); None when its
        settings no longer pass."""
        secrets = self._secrets[row.name] = logs.Redactor()
        with logs.scoped(secrets):  # its error lines may quote what the app gave
            return self._opened(row, secrets)

    def _opened(
        self, row: ManagedRow, secrets: logs.Redactor
    ) -> Downstream | tuple[ManagedDownstreamConfig, str] | None:
        try:
            spec = open_url(self.sealer, row.spec, row.name)
            secrets.add(dict(spec.get("headers") or {}).values())  # before any error
            settings = ManagedDownstreamConfig.model_validate({**spec, "name": row.name})
            secrets.add(credential_values(settings))
            secret = self.sealer.open(row.sealed_secret, row.name)
            previous = (
                self.sealer.open(row.sealed_previous, row.name) if row.sealed_previous else None
            )
        except Unsealable as exc:
            reason = f"{SECRET_HELD} (its secret or URL does not open: {exc})"
            self._log.error("downstream.unusable", downstream=row.name, reason=reason)
            held = stand_in(row)
            return None if held is None else (held, reason)
        except ValidationError as exc:
            self._log.error("downstream.unusable", downstream=row.name, reason=str(exc)[:200])
            return None
        d = managed_downstream(settings, secret, previous, row.previous_until)
        # Never in its attempts' log lines, nor in an error kept from a receiver's answer.
        parts = urlsplit(d.url)
        token = parts.username if parts.password is None else None  # NATS: a token alone
        url_secrets = [d.url if d.url_is_secret else None, parts.password, token]
        secrets.add([secret, previous, *url_secrets])
        return d

    async def reseal(self) -> int:
        """Seal again, under the newest key, every secret sealed under an older one (after
        the relay's secret was rotated); how many downstreams."""
        count = 0
        for row in await transactions.made(self._store):
            sealed = [row.sealed_secret, row.sealed_previous]
            secrets_current = all(s is None or self.sealer.is_current(s) for s in sealed)
            if secrets_current and url_is_current(self.sealer, row.spec):
                continue
            try:
                opened = [self.sealer.open(s, row.name) if s else None for s in sealed]
                spec = open_url(self.sealer, row.spec, row.name)
            except Unsealable:
                continue  # refresh() says so
            if not url_is_current(self.sealer, row.spec):
                await transactions.change(
                    self._store, row.name, seal_url(self.sealer, spec, row.name)
                )
            if not secrets_current:
                secret, previous = (self.sealer.seal(s, row.name) if s else None for s in opened)
                assert secret is not None
                await transactions.reseal(self._store, row.name, secret, previous)
            count += 1
        return count

    async def start(self) -> None:
        """At a process's start: re-seal what an older key sealed, then read them all."""
        if resealed := await self.reseal():
            self._log.info("downstream.resealed", downstreams=resealed)
        await self.refresh()

    async def run(self, stopping: asyncio.Event, every: float) -> None:
        """Follow the store's changes until `stopping` is set."""
        while not stopping.is_set():
            try:
                await self.refresh()
            except Exception:
                self._log.exception("directory.refresh_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every)


def new_directory(
    config: Config, parts: WorkerParts, app_names: dict[str, str], follows: bool = True
) -> Directory:
    """Every downstream of the relay: the config file's and those made through the API
    (`app_names` filled as their apps' are read, for the metrics' labels). One a process."""
    sealer = Sealer(config.secrets.signing_keys)
    rows_read = parts.metrics.directory_rows
    return Directory(config, parts.store, sealer, parts.log, rows_read, app_names, follows)
