"""An alert decided and queued in one transaction: the downstream's mark locked, the rule
applied to it (receiver/alerts/rules.py), the mark moved on, and, when an alert is due, the
alert kept as a notice of the relay's own with one delivery to each alert downstream. A
transition held back by the quiet window is decided again, as one, when the window ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from receiver.alerts import rows
from receiver.alerts.rules import Decision, Mark, at_window_end, decide, targets
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.rules.catalog import DISABLED
from receiver.lifecycle.rules.routing import owned_name, owner_of, shown_name
from receiver.lifecycle.transactions.notices import notice

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
class Recipients:
    to: list[str]  # the alert downstreams
    app: str | None  # the name of the app of the downstream it is about


@dataclass(frozen=True)
class Told:
    sent: str | None  # the alert that went out (None: none)
    mark: Mark | None  # the downstream's mark now; None: there was nowhere to send one
    reason: str = ""  # why, when one went out
    decided: bool = True  # False: another replica had decided the held one first


async def alert(store: Store, about: str, kind: str, reason: str, plan: Plan) -> Told:
    """Not durable: an alert lost to a power cut is told again by the next transition."""
    return await store.run(
        lambda db: alert_now(db, about, kind, reason, plan, time.time()), durable=False
    )


def alert_now(db: Db, about: str, kind: str, reason: str, plan: Plan, now: float) -> Told:
    recipients = _recipients(db, about, plan)
    if not recipients.to:
        return Told(None, None)
    mark = rows.locked(db, about)
    decided = decide(mark, kind, reason, now, plan.quiet)
    return _carried_out(db, about, mark, decided, recipients, plan, now)


async def window_ended(store: Store, about: str, plan: Plan) -> Told:
    """The transition held back about `about`, now that its window is over: told if news."""
    return await store.run(lambda db: window_ended_now(db, about, plan, time.time()), durable=False)


def window_ended_now(db: Db, about: str, plan: Plan, now: float) -> Told:
    recipients = _recipients(db, about, plan)
    mark = rows.locked(db, about)
    disabled = rows.failure(db, about)[1] is not None
    decided = at_window_end(mark, now, plan.quiet, disabled)
    if decided is None:
        return Told(None, mark, decided=False)  # another replica decided it first
    if not recipients.to:  # nowhere to tell it any more: forgotten
        decided = Decision(replace(mark, held_kind=None, held_reason=None))
    return _carried_out(db, about, mark, decided, recipients, plan, now)


def _recipients(db: Db, about: str, plan: Plan) -> Recipients:
    owner = owner_of(about)
    app = rows.app_choice(db, owner) if owner is not None else None
    to = targets(about, plan.operator, app[1] if app else None, plan.known)
    return Recipients(to, app[0] if app else None)


def _carried_out(
    db: Db,
    about: str,
    before: Mark,
    decided: Decision,
    recipients: Recipients,
    plan: Plan,
    now: float,
) -> Told:
    if decided.mark != before:
        rows.keep(db, about, decided.mark)
    kind = decided.send
    if kind is None:
        return Told(None, decided.mark)
    failing_since, disabled_reason = rows.failure(db, about)
    fields = {
        "downstream": shown_name(about),
        "app": recipients.app,
        "reason": (disabled_reason if kind == DISABLED else None) or decided.reason,
        "failing_since": failing_since,
    }
    notice(db, kind, about, fields, recipients.to, plan.held, now)
    return Told(kind, decided.mark, str(fields["reason"]))


async def live_marks(store: Store) -> dict[str, Mark]:
    """The downstreams with a problem told and not yet answered, or a transition held back."""
    return await store.read(rows.live_marks)


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
