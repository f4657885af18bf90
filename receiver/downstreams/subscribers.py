"""What a downstream takes, as an event's audience reads it: the config file's downstreams
as they are, and each row made through the API judged as the directory reads it (its
settings checked, its seals tried). The audience itself, read from the store in the event's
own transaction, is the outbox's (receiver/outbox/rules/delivery.py's
`Subscribers`): an event of one app's task reads that app's rows and the global ones,
never every app's, and calls in here only for a row it has not judged in its version yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from pydantic import ValidationError

from receiver.config import Downstream, ManagedDownstreamConfig
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


def judge(sealer: Sealer) -> Judge:
    """How a row is judged with this relay's keys: held when a seal of it does not open (its
    other settings as far as they can be read), None when its settings no longer pass their
    checks (the directory logs both when it reads the row)."""

    def judged(row: MadeDownstream) -> Subscription | None:
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

    return judged


def subscribers(configured: Iterable[Downstream], sealer: Sealer) -> Subscribers:
    """Who an event may go to: the config file's `configured`, and the rows made through the
    API, judged with `sealer`'s keys."""
    subscriptions = {d.name: subscription(d) for d in configured}
    return Subscribers(subscriptions, (outbox.made_for, outbox.made_named), judge(sealer))
