"""Who an event may go to, read from the store in the event's own transaction: the config
file's downstreams (few, and fixed at start), and those made through the API that are global
or the task's app's, found through the store's index by app. An event of one app's task
reads that app's rows and the global ones, never every app's, so it costs the same beside ten
apps or ten thousand; and a downstream made, changed or removed on another replica counts at
once, not at this process's next look at the changes.

A row's subscription is worked out once a version of it (its settings checked, its seals
tried), and kept in a bounded cache: an event reads its few rows and looks them up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from receiver.config import Downstream, ManagedDownstreamConfig
from receiver.deliveries.rules.delivery import (
    SECRET_HELD,
    Subscription,
    Subscriptions,
    owner_of,
)
from receiver.downstreams import rows as downstreams
from receiver.downstreams.rows import ManagedRow
from receiver.kernel.secrets.sealing import SEALED, Sealer, Unsealable, open_url
from receiver.kernel.store.db import Db

# Rows whose subscription is kept worked out: a few apps' busy downstreams, well over what
# one app has; a row not among them is worked out again when an event reads it.
CACHED_ROWS = 4096

# What a row's subscription follows: its last change (settings, a rotation), and its seals
# (a reseal under another replica's key changes no number, but may change what opens here).
_Version = tuple[int, str, str | None]


def subscription(d: Downstream | ManagedDownstreamConfig, held: str | None = None) -> Subscription:
    return Subscription(frozenset(d.events), frozenset(d.channels), held, owner_of(d.name))


def stand_in(row: ManagedRow) -> ManagedDownstreamConfig | None:
    """The settings of a row read without opening its seals, with a stand-in URL (None if
    they no longer pass their checks)."""
    # Its headers' values and its credentials are sealed too.
    spec = {key: value for key, value in row.spec.items() if key != "url" and key not in SEALED}
    try:
        return ManagedDownstreamConfig.stand_in({**spec, "name": row.name})
    except ValidationError:
        return None


def judged(row: ManagedRow, sealer: Sealer) -> Subscription | None:
    """A row's subscription, as the directory reads the row: held when a seal of it does not
    open with this relay's keys (its other settings as far as they can be read), None when
    its settings no longer pass their checks (the directory logs both)."""
    try:
        spec = open_url(sealer, row.spec, row.name)
        settings = ManagedDownstreamConfig.model_validate({**spec, "name": row.name})
        for sealed in (row.sealed_secret, row.sealed_previous):
            if sealed:
                sealer.open(sealed, row.name)
    except Unsealable:
        held = stand_in(row)
        return None if held is None else subscription(held, SECRET_HELD)
    except ValidationError:
        return None
    return subscription(settings)


class StoredSubscribers:
    """`Subscribers` (receiver/deliveries/rules/delivery.py) read from the store."""

    def __init__(self, configured: Iterable[Downstream], sealer: Sealer) -> None:
        self._configured = {d.name: subscription(d) for d in configured}
        self._sealer = sealer
        # Name -> (the row's version, its subscription); read in the store's threads.
        self._judged: OrderedDict[str, tuple[_Version, Subscription | None]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, db: Db, owner: str | None) -> Subscriptions:
        return self._with(downstreams.made_for(db, owner))

    def named(self, db: Db, names: Sequence[str]) -> Subscriptions:
        found = self._with(downstreams.made_named(db, list(names)))
        return {n: found[n] for n in names if n in found}

    def _with(self, rows: list[ManagedRow]) -> dict[str, Subscription]:
        """The config file's, and `rows` (one of the same name stands in the file's place)."""
        found = dict(self._configured)
        for row in rows:
            sub = self._subscription(row)
            if sub is not None:
                found[row.name] = sub
        return found

    def _subscription(self, row: ManagedRow) -> Subscription | None:
        version = (row.change_seq, row.sealed_secret, row.sealed_previous)
        with self._lock:
            kept = self._judged.get(row.name)
            if kept is not None and kept[0] == version:
                self._judged.move_to_end(row.name)
                return kept[1]
        sub = judged(row, self._sealer)
        with self._lock:
            self._judged[row.name] = (version, sub)
            self._judged.move_to_end(row.name)
            while len(self._judged) > CACHED_ROWS:
                self._judged.popitem(last=False)
        return sub
