"""An alert decided and queued in one transaction: the downstream's mark locked, the dedupe
rule applied to it, and, when the alert is due, the mark moved on, the alert kept as an event
of the relay's own task (as the `downstream.disabled` notice is) and one delivery made to
each alert downstream. Retries and dead letters are then those of any delivery."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from receiver.alerts import rows
from receiver.alerts.rules import after, due, quiet_until, targets
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, new_id
from receiver.lifecycle.rows import deliveries, events
from receiver.lifecycle.rows.downstreams import RELAY_TASK
from receiver.lifecycle.rules.catalog import DISABLED
from receiver.lifecycle.rules.routing import owned_name, owner_of, shown_name

# With nowhere to send an alert, ask again this soon: an app may name a downstream meanwhile.
NOWHERE_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    """What an alert's decision needs of the relay's settings and downstreams."""

    operator: str  # `[alerts] downstream` ("": none)
    quiet: float  # seconds
    known: Callable[[str], bool]  # a downstream of this name exists
    held: Mapping[str, str]  # why each downstream that cannot be used holds its rows


@dataclass(frozen=True)
class Told:
    sent: bool
    ask_after: float  # no alert of this kind about it is due before then


async def alert(store: Store, about: str, kind: str, reason: str, plan: Plan) -> Told:
    """Not durable: an alert lost to a power cut is told again by the next transition."""
    return await store.run(
        lambda db: alert_now(db, about, kind, reason, plan, time.time()), durable=False
    )


def alert_now(db: Db, about: str, kind: str, reason: str, plan: Plan, now: float) -> Told:
    owner = owner_of(about)
    app = rows.app_choice(db, owner) if owner is not None else None
    to = targets(about, plan.operator, app[1] if app else None, plan.known)
    if not to:
        return Told(False, now + NOWHERE_SECONDS)
    mark = rows.locked(db, about)
    if not due(mark, kind, now, plan.quiet):
        return Told(False, quiet_until(mark, kind, plan.quiet))
    rows.keep(db, about, after(mark, kind, now))
    failing_since, disabled_reason = rows.failure(db, about)
    event_id = new_id("evt")
    document = {
        "event_id": event_id,
        "type": kind,
        "task_id": RELAY_TASK,
        "kind": "relay",
        "state": kind,
        "downstream": shown_name(about),
        "app": app[0] if app else None,
        "reason": (disabled_reason if kind == DISABLED else None) or reason,
        "failing_since": failing_since,
        "occurred_at": now,
    }
    events.insert_notice(db, RELAY_TASK, f"{kind}:{about}:{now}", document)
    told = [(t, "held" if t in plan.held else "pending") for t in to]
    deliveries.insert_deliveries(db, RELAY_TASK, event_id, told, now, plan.held)
    return Told(True, now + plan.quiet)


async def open_problems(store: Store) -> set[str]:
    return await store.read(rows.open_problems)


async def choose(store: Store, known: Callable[[str], bool], app_id: str, name: str | None) -> None:
    """The downstream of its own (by the name it gave it) an app's alerts go to; None: none.
    A name the app has no downstream of is refused (422)."""
    if name is not None and not known(owned_name(app_id, name)):
        raise InvalidRequest(f"alert_downstream: the app has no downstream named {name!r}")
    await store.run(lambda db: rows.set_app_choice(db, app_id, name))


async def chosen(store: Store, app_id: str) -> str | None:
    """The downstream of its own an app named for its alerts (None: none)."""
    found = await store.read(lambda db: rows.app_choice(db, app_id))
    return found[1] if found else None
