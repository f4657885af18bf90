"""What a downstream takes, as an event's audience reads it: the config file's downstreams
as they are, and each row made through the API judged as the directory reads it (its
settings checked, its seals tried). The audience itself, read from the store in the event's
own transaction, is the outbox's (receiver/outbox/rules/delivery.py's
`Subscribers`): an event of one app's task reads that app's rows and the global ones,
never every app's, and calls in here only for a row it has not judged in its version yet.
What a judge opened is kept a while (`Openings`): the fan-out's lane made for the row takes
it rather than open the row again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from receiver.config import Downstream, ManagedDownstreamConfig
from receiver.config.downstream import credential_values
from receiver.kernel.observability import logs
from receiver.kernel.secrets.sealing import SEALED, Sealer, Unsealable, open_url
from receiver.outbox.rows import outbox
from receiver.outbox.rules.delivery import (
    SECRET_HELD,
    Judge,
    MadeDownstream,
    Subscribers,
    Subscription,
    owner_of,
)


class Stored(Protocol):
    """A downstream's row as the store keeps it: its name and its settings, seals and all."""

    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> dict[str, Any]: ...


class Sealed(Stored, Protocol):
    """A stored row with its secrets, sealed."""

    @property
    def sealed_secret(self) -> str: ...
    @property
    def sealed_previous(self) -> str | None: ...


@dataclass(frozen=True)
class Opened:
    """A row opened: its settings checked and its secrets open, beside the stored values
    they came from (what a later read of the row must match to use them)."""

    spec: dict[str, Any]  # as stored: its URL sealed
    sealed: tuple[str, str | None]
    opened_spec: dict[str, Any]  # its URL open
    settings: ManagedDownstreamConfig
    secret: str
    previous: str | None

    def hide(self, secrets: logs.Redactor) -> None:
        """What its settings hold that no line may show, added to `secrets`."""
        secrets.add(_header_values(self.opened_spec))
        secrets.add(credential_values(self.settings))


def _header_values(spec: dict[str, Any]) -> list[str]:
    return list(dict(spec.get("headers") or {}).values())


def open_row(sealer: Sealer, row: Sealed, secrets: logs.Redactor | None = None) -> Opened:
    """`row` opened with `sealer`'s keys: Unsealable when a seal does not open,
    ValidationError when its settings no longer pass. What it holds that no line may show
    goes to `secrets` as it opens: its headers before the check, whose error may quote
    them."""
    spec = open_url(sealer, row.spec, row.name)
    if secrets is not None:
        secrets.add(_header_values(spec))
    settings = ManagedDownstreamConfig.model_validate({**spec, "name": row.name})
    if secrets is not None:
        secrets.add(credential_values(settings))
    secret = sealer.open(row.sealed_secret, row.name)
    sealed = row.sealed_previous
    previous = sealer.open(sealed, row.name) if sealed else None
    return Opened(row.spec, (row.sealed_secret, sealed), spec, settings, secret, previous)


class Openings:
    """The rows events judged lately, opened: the lane made when a delivery comes for one
    takes what was opened instead of opening the row again (checking its settings is most
    of the cost). Each is taken once, and only while the row read is as it was judged:
    never a stale secret. A bounded few, as the judged rows themselves."""

    KEPT = 4096  # as many as `Subscribers` keeps judged

    def __init__(self) -> None:
        self._kept: OrderedDict[str, Opened] = OrderedDict()
        self._lock = threading.Lock()  # judges run on the store's threads

    def keep(self, name: str, opened: Opened) -> None:
        with self._lock:
            self._kept[name] = opened
            self._kept.move_to_end(name)
            if len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)

    def take(self, row: Sealed) -> Opened | None:
        """What was opened of `row`, when it is still the row judged."""
        with self._lock:
            kept = self._kept.pop(row.name, None)
        if kept is None or kept.spec != row.spec:
            return None
        return kept if kept.sealed == (row.sealed_secret, row.sealed_previous) else None


def subscription(d: Downstream | ManagedDownstreamConfig, held: str | None = None) -> Subscription:
    return Subscription(frozenset(d.events), frozenset(d.channels), held, owner_of(d.name))


def stand_in(row: Stored) -> ManagedDownstreamConfig | None:
    """The settings of a row read without opening its seals, with a stand-in URL (None if
    they no longer pass their checks)."""
    # Its headers' values and its credentials are sealed too.
    spec = {key: value for key, value in row.spec.items() if key != "url" and key not in SEALED}
    try:
        return ManagedDownstreamConfig.stand_in({**spec, "name": row.name})
    except ValidationError:
        return None


def judge(sealer: Sealer, openings: Openings | None = None) -> Judge:
    """How a row is judged with this relay's keys: held when a seal of it does not open (its
    other settings as far as they can be read), None when its settings no longer pass their
    checks (the directory logs both when it reads the row). What opens is kept in
    `openings`."""

    def judged(row: MadeDownstream) -> Subscription | None:
        try:
            opened = open_row(sealer, row)
        except Unsealable:
            held = stand_in(row)
            return None if held is None else subscription(held, SECRET_HELD)
        except ValidationError:
            return None
        if openings is not None:
            openings.keep(row.name, opened)
        return subscription(opened.settings)

    return judged


def subscribers(
    configured: Iterable[Downstream], sealer: Sealer, openings: Openings | None = None
) -> Subscribers:
    """Who an event may go to: the config file's `configured`, and the rows made through the
    API, judged with `sealer`'s keys (what opens kept in `openings`)."""
    subscriptions = {d.name: subscription(d) for d in configured}
    judged = judge(sealer, openings)
    return Subscribers(subscriptions, (outbox.made_for, outbox.made_named), judged)
