"""Every downstream the relay delivers to: the config file's, fixed at start and held, and
those made through the API, read from the store through its indexes when asked for (by
name, by app) and kept opened in a cache of bounded size: one app's work reads that app's
rows, whatever the number of apps.

Each process follows, every tick, the changes numbered in the store since the last it saw
(migration 0023): a changed or removed downstream leaves the cache and is told to the
fan-out (`followed`), so that a change made through any replica is in use everywhere within
a tick, and one made here at once. Their secrets are opened here, from the sealed values the
store keeps; after a start, what an older key sealed is sealed again in the background (the
rows found through the index of the key they were sealed under, never every row).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter
from pydantic import ValidationError

from receiver.config import Config, Downstream, ManagedDownstreamConfig, managed_downstream
from receiver.config.downstream import (
    OAuth2Auth,
    endpoint_auth,
    read_by_pull,
)
from receiver.downstreams import names, transactions
from receiver.downstreams import rows as downstream_rows
from receiver.downstreams.key_sets import KeySets, Owner
from receiver.downstreams.rows import DownstreamHealth, ManagedRow
from receiver.downstreams.rules import Health, Outcomes, health
from receiver.downstreams.subscribers import Openings, open_row, stand_in, subscribers
from receiver.kernel.errors import NotFound
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
from receiver.kernel.store.db import Db
from receiver.outbox.rules.delivery import (
    SECRET_HELD,
    UNNAMED_APP,
    DownstreamLabels,
    owner_of,
)
from receiver.wiring.worker_parts import WorkerParts

REMOVED = "the downstream was removed"
# Ticks after a removal during which rows a slower replica still made for it are ended too.
_STRAGGLER_TICKS = 3
# Rows opened between two turns of the loop: an opening (its seals, its settings checked)
# takes about 0.1-0.3 ms, so that no read of many holds the loop for long.
_OPENED_AT_ONCE = 40
_SWEPT_AT_ONCE = 100  # rows read at a time when sealing again after a start


@dataclass(frozen=True)
class Held:
    """One made through the API whose secret or URL does not open here: its settings as
    far as they can be read, and why it cannot be used."""

    settings: ManagedDownstreamConfig
    reason: str


Found = Downstream | Held
Secrets = tuple[logs.Redactor, ...]


@dataclass(frozen=True)
class _Entry:
    """A downstream as read: None when its settings no longer pass (it exists still: it can
    be removed); what only its own attempts may show (an app's secrets)."""

    found: Found | None
    secrets: logs.Redactor | None = None


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


def is_pulled(found: Found | None) -> bool:
    """It is read by pull (no breaker, no attempts of its own)."""
    settings = found.settings if isinstance(found, Held) else found
    return settings is not None and settings.pulled


class Directory:
    CACHED = 1024  # downstreams made through the API kept opened: the busy ones of many apps

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
        self._file = {name: _Entry(d) for name, d in self.configured.items()}
        self.public_url = config.public_url
        # The relay's host as the CloudEvents handshake's `WebHook-Request-Origin` names it.
        self.origin = urlsplit(config.public_url).hostname or config.public_url
        self._store, self.sealer, self._log = store, sealer, log
        self._rows_read = rows_read
        # The names of the apps whose downstreams were read: their metrics' labels.
        self.app_names = {} if app_names is None else app_names
        logs.name_downstreams(self.shown_name)  # log lines name an app's as APP/NAME
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        # Grows with every entry dropped: a row read before a drop is not kept after it.
        self._drops = 0
        self._last_change = -1  # the store's change number last followed (-1: none yet)
        self._refreshing = asyncio.Lock()
        self._gone: dict[str, int] = {}  # removed lately -> ticks left to end stragglers
        # Who an event may go to, read in its transaction: the config file's downstreams, and
        # the global ones and the task's app's made through the API.
        self.openings = Openings()  # what they opened: a lane made for a row takes it
        self.subscribers = subscribers(config.downstreams, sealer, self.openings)
        # Each downstream's OAuth2 token, shared by the fan-out and the test events.
        self._tokens: OrderedDict[str, TokenSource] = OrderedDict()
        # False in a one-shot process (the command line's operator actions): it reads the
        # downstreams and leaves their rows to the relay's own processes, which hold what
        # their key cannot open and release it when it can.
        self._follows = follows
        self._key_sets = KeySets()  # each owner's RFC 9421 public keys, serialised
        self._followers: list[set[str]] = []

    def followed(self) -> set[str]:
        """A set this process adds the name of each downstream changed or removed to, as
        it follows them (the fan-out's lanes are made anew from it)."""
        changed: set[str] = set()
        self._followers.append(changed)
        return changed

    # --- Reading them ---------------------------------------------------------------------

    async def find(self, name: str) -> Found | None:
        """The downstream of that name, usable or held (None: none, or its settings no
        longer pass)."""
        entry = (await self._entries([name])).get(name)
        return None if entry is None else entry.found

    async def get(self, name: str) -> Downstream | None:
        """The downstream of that name when it can be used."""
        found = await self.find(name)
        return found if isinstance(found, Downstream) else None

    async def held(self, name: str) -> Held | None:
        """Made through the API with a secret (or URL) sealed under a key this relay no
        longer has: its settings as far as they read, and why it cannot be used."""
        found = await self.find(name)
        return found if isinstance(found, Held) else None

    async def knows(self, name: str) -> bool:
        """A downstream of this name exists (usable or not: a managed one whose secret does
        not open can still be disabled, enabled or removed)."""
        return name in await self._entries([name])

    def known_in(self, db: Db, name: str) -> bool:
        """`knows`, within a transaction of the store (as it sees the rows)."""
        return name in self.configured or downstream_rows.made_exists(db, name)

    async def any_owned(self) -> bool:
        """Some app has a downstream of its own (through the index of the apps')."""
        return await transactions.any_owned(self._store)

    async def pulled(self, name: str) -> bool:
        return is_pulled(await self.find(name))

    async def found(
        self, wanted: Iterable[str], rows: Mapping[str, ManagedRow] | None = None
    ) -> dict[str, Found]:
        """Those of `wanted` there are, usable or held; `rows`: some of theirs, read
        already (a page's)."""
        entries = await self._entries(wanted, rows)
        return {name: e.found for name, e in entries.items() if e.found is not None}

    async def usable(self, wanted: Iterable[str]) -> dict[str, tuple[Downstream, Secrets]]:
        """Those of `wanted` that can be used, each with what only its own attempts may
        show (`scope_of`: the secrets an app gave it)."""
        entries = await self._entries(wanted)
        return {
            name: (e.found, () if e.secrets is None else (e.secrets,))
            for name, e in entries.items()
            if isinstance(e.found, Downstream)
        }

    async def owned(self, owner: Owner) -> list[Downstream]:
        """The usable downstreams of an app (its id; None: the operator's, the config
        file's with them), through the index of the apps'."""
        rows = {row.name: row for row in await transactions.made_of(self._store, owner or "")}
        found = await self.found(rows, rows)
        mine = [d for d in found.values() if isinstance(d, Downstream)]
        return [*(self.configured.values() if owner is None else ()), *mine]

    async def every_one(self) -> list[Downstream]:
        """Every usable downstream, read a batch at a time and not kept (the admin's
        documents that name them all)."""
        every = list(self.configured.values())
        made = await transactions.made_names(self._store)
        for at in range(0, len(made), _SWEPT_AT_ONCE):
            batch = await self._entries(made[at : at + _SWEPT_AT_ONCE], keep=False)
            every += [e.found for e in batch.values() if isinstance(e.found, Downstream)]
        return every

    async def _entries(
        self, wanted: Iterable[str], rows: Mapping[str, ManagedRow] | None = None, keep: bool = True
    ) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        missing: list[str] = []
        for name in dict.fromkeys(wanted):
            entry = self._file.get(name) or self._cache.get(name)
            if entry is None:
                missing.append(name)
                continue
            if name in self._cache:
                self._cache.move_to_end(name)
            found[name] = entry
        if not missing:
            return found
        drops, given = self._drops, rows or {}
        unread = [name for name in missing if name not in given]
        # Their apps' names with them (the metrics' labels, the log lines').
        owners = {owner_of(name) or "" for name in missing} - {"", *self.app_names}
        made, named = (
            await transactions.made_named_of_apps(self._store, unread, sorted(owners))
            if unread or owners
            else ([], {})
        )
        self.app_names.update(named)
        read = {row.name: row for row in made}
        self._rows_read.inc(len(read))
        opening = [row for name in missing if (row := given.get(name) or read.get(name))]
        for at, row in enumerate(opening):
            if at and at % _OPENED_AT_ONCE == 0:
                await asyncio.sleep(0)
            found[row.name] = entry = self._open(row)
            if keep and drops == self._drops:
                self._cache[row.name] = entry
                if len(self._cache) > self.CACHED:
                    self._cache.popitem(last=False)
        return found

    async def kept_of(self, typed: str) -> str:
        """The name a downstream typed as `APP/NAME` is kept under (of the live app of that
        name); any other name as it is."""
        try:
            return await names.kept_name(self._store, typed)
        except NotFound:
            return typed

    def shown_name(self, kept: str) -> str:
        """A downstream as people read it: an app's as `APP/NAME`, as its metrics label it,
        never the `<app id>.<name>` it is kept under; the operator's own as it is."""
        return DownstreamLabels(self.app_names)(kept)

    def app_of(self, kept: str) -> str | None:
        """The name of the app a downstream is kept for (its CloudEvents `source` names it);
        None: the operator's."""
        owner = owner_of(kept)
        return None if owner is None else self.app_names.get(owner, UNNAMED_APP)

    def pulled_of(self, h: DownstreamHealth) -> bool:
        """Whether the downstream of a health record is read by pull, known without
        opening it (its format is not sealed)."""
        if (d := self.configured.get(h.name)) is not None:
            return d.pulled
        return bool(h.format) and read_by_pull(h.format)

    def health(self, h: DownstreamHealth) -> Health | None:
        """Its health in the one vocabulary (None: a pull downstream with events to read)."""
        return health_of(h, self.pulled_of(h))

    def summary(self, h: DownstreamHealth) -> dict[str, Any]:
        """Its health as the API answers it: the record's fields and the word."""
        return {**h.summary(), "health": self.health(h)}

    async def key_set(self, owner: Owner, now: float) -> bytes:
        """The JWKS of `owner`'s downstreams (an app's id; None: the operator's own)."""
        kept = self._key_sets.kept(owner, now)
        if kept is not None:
            return kept
        return self._key_sets.build(owner, await self.owned(owner), now)

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
        self._tokens.move_to_end(d.name)
        if len(self._tokens) > self.CACHED:
            self._tokens.popitem(last=False)
        return source

    def scope_of(self, name: str, secrets: Secrets = ()) -> Secrets:
        """What only `name`'s own attempts may show and must not (`logs.scoped`): the
        `secrets` of a downstream an app made (`usable`), and the OAuth2 token its endpoint
        chose. The config file's secrets are the operator's, scrubbed everywhere."""
        tokens = self._tokens.get(name)
        return secrets if tokens is None else (*secrets, tokens.redactor)

    # --- Opening a row --------------------------------------------------------------------

    def _open(self, row: ManagedRow) -> _Entry:
        """A row as a downstream; when its secret or URL was sealed under a key this relay
        no longer has, its other settings and the reason (and a log line); None when its
        settings no longer pass."""
        secrets = logs.Redactor()
        with logs.scoped(secrets):  # its error lines may quote what the app gave
            return _Entry(self._opened(row, secrets), secrets)

    def _opened(self, row: ManagedRow, secrets: logs.Redactor) -> Found | None:
        try:
            if (opened := self.openings.take(row)) is not None:  # an event's judge opened it
                opened.hide(secrets)
            else:
                opened = open_row(self.sealer, row, secrets)
        except Unsealable as exc:
            reason = self._unopened(row, exc)
            held = stand_in(row)
            return None if held is None else Held(held, reason)
        except ValidationError as exc:
            self._log.error("downstream.unusable", downstream=row.name, reason=str(exc)[:200])
            return None
        secret, previous = opened.secret, opened.previous
        d = managed_downstream(opened.settings, secret, previous, row.previous_until)
        # Never in its attempts' log lines, nor in an error kept from a receiver's answer.
        parts = urlsplit(d.url)
        token = parts.username if parts.password is None else None  # NATS: a token alone
        url_secrets = [d.url if d.url_is_secret else None, parts.password, token]
        secrets.add([secret, previous, *url_secrets])
        return d

    def _unopened(self, row: ManagedRow, exc: Unsealable) -> str:
        """Why a row whose secret or URL no key here opens cannot be used, said in the log."""
        reason = f"{SECRET_HELD} (its secret or URL does not open: {exc})"
        self._log.error("downstream.unusable", downstream=row.name, reason=reason)
        return reason

    # --- Following the store's changes ----------------------------------------------------

    async def refresh(self) -> bool:
        """Follow what changed among the managed downstreams since the last look: only the
        rows changed since are read; True when one did. One look at a time (a create's and
        the tick's), so that a change is read once."""
        async with self._refreshing:
            return await self._refresh()

    async def _refresh(self) -> bool:
        if self._last_change < 0:  # the first look: from here on (rows are read as asked)
            self._last_change = await transactions.last_change(self._store)
            return False
        if self._follows:
            await self._end_stragglers()
        changes = await transactions.changes_since(self._store, self._last_change)
        self._last_change = changes.last
        if not (changes.rows or changes.removed):
            return False
        self._rows_read.inc(len(changes.rows) + len(changes.removed))
        remade = {row.name for row in changes.rows}
        for _, name in changes.removed:
            self._drop(name)
            if name not in remade:  # made again after it was removed: the new row stands
                self._gone[name] = _STRAGGLER_TICKS
        for row in changes.rows:
            self._drop(row.name)
            self._gone.pop(row.name, None)
        if self._follows:
            # One changed so that it can no longer be used has its waiting rows held; one
            # changed so that it can again (its secret rotated, its URL given) sends what it
            # held. One just made has nothing waiting: it is not opened until asked for.
            changed = {row.name: row for row in changes.rows if row.changed_at != row.created_at}
            found = await self.found(changed, changed)
            usable = [name for name, d in found.items() if isinstance(d, Downstream)]
            held = [name for name, d in found.items() if isinstance(d, Held)]
            if usable or held:
                await transactions.follow_unopened(self._store, held, usable)
        return True

    def _drop(self, name: str) -> None:
        self._drops += 1
        self._cache.pop(name, None)
        self._key_sets.changed(owner_of(name))
        for changed in self._followers:
            changed.add(name)

    async def _end_stragglers(self) -> None:
        """A replica that had not seen a removal yet may have queued deliveries for it:
        they end as dead letters too, for a few ticks after."""
        for name, left in list(self._gone.items()):
            if not await self.knows(name):
                await transactions.end_deliveries(self._store, name, REMOVED)
            if left <= 1:
                del self._gone[name]
            else:
                self._gone[name] = left - 1

    # --- At a start: what an older key sealed -------------------------------------------

    async def _sweep(self) -> None:
        """Seal again, under the newest key, every secret sealed under an older one (after
        the relay's secret was rotated), a batch at a time; hold the rows of those no key
        here opens, and send what was held for one that opens again."""
        if self._last_change == 0:
            return  # none was ever made through the API: no key is needed
        key = self.sealer.current_key
        stale = await transactions.sealed_otherwise(self._store, key)
        resealed, unusable = 0, []
        for at in range(0, len(stale), _SWEPT_AT_ONCE):
            for row in await transactions.made_named(self._store, stale[at : at + _SWEPT_AT_ONCE]):
                opened = await self._reseal(row, key)
                resealed += opened is True
                if opened is None:
                    unusable.append(row.name)
        if unusable:
            await transactions.follow_unopened(self._store, unusable, [])
        held = await transactions.held_unopened(self._store)
        found = await self.found(held)
        usable = [name for name, d in found.items() if isinstance(d, Downstream)]
        if usable:
            await transactions.follow_unopened(self._store, [], usable)
        if resealed:
            self._log.info("downstream.resealed", downstreams=resealed)

    async def _reseal(self, row: ManagedRow, key: str) -> bool | None:
        """Its seals made under `key`: True when one was not; None when one does not open."""
        sealed = [row.sealed_secret, row.sealed_previous]
        secrets_current = all(s is None or self.sealer.is_current(s) for s in sealed)
        url_current = url_is_current(self.sealer, row.spec)
        if secrets_current and url_current:
            await transactions.mark_sealed(self._store, row.name, key)
            return False
        try:
            opened = [self.sealer.open(s, row.name) if s else None for s in sealed]
            spec = open_url(self.sealer, row.spec, row.name)
        except Unsealable as exc:
            self._unopened(row, exc)
            return None
        if not url_current:
            await transactions.change(self._store, row.name, seal_url(self.sealer, spec, row.name))
        secret, previous = (self.sealer.seal(s, row.name) if s else None for s in opened)
        assert secret is not None
        await transactions.reseal(self._store, row.name, secret, previous, key)
        return True

    async def start(self) -> None:
        """At a process's start: where the store's changes stand (no row is read)."""
        await self.refresh()

    async def run(self, stopping: asyncio.Event, every: float) -> None:
        """Follow the store's changes until `stopping` is set; what an older key sealed is
        sealed again meanwhile."""
        sweeping = asyncio.create_task(self._swept())
        try:
            while not stopping.is_set():
                try:
                    await self.refresh()
                except Exception:
                    self._log.exception("directory.refresh_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), every)
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)

    async def _swept(self) -> None:
        try:
            await self._sweep()
        except Exception:
            self._log.exception("directory.reseal_failed")


def new_directory(
    config: Config, parts: WorkerParts, app_names: dict[str, str], follows: bool = True
) -> Directory:
    """Every downstream of the relay: the config file's and those made through the API
    (`app_names` filled as their apps' are read, for the metrics' labels). One a process."""
    sealer = Sealer(config.secrets.signing_keys)
    rows_read = parts.metrics.directory_rows
    return Directory(config, parts.store, sealer, parts.log, rows_read, app_names, follows)
