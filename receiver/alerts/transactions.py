"""An alert decided in one transaction: the downstream's mark locked, the rule applied to it
(receiver/alerts/rules.py), the mark moved on, and, when an alert is due, the downstream
named in its app's digest of that kind. A transition held back by the quiet window is
decided again, as one, when the window ends. A digest goes out in a transaction of its own,
once due: kept as a notice of the relay's own with one delivery to each alert downstream."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from receiver.alerts import rows
from receiver.alerts.rules import (
    Decision,
    Entry,
    Mark,
    at_window_end,
    decide,
    digest_due,
    digest_fields,
    digest_targets,
    sent_in_digest,
    targets,
)
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.lifecycle.transactions.notices import notice
from receiver.outbox.rules.delivery import Subscribers, held_reasons, owned_name, owner_of
from receiver.outbox.rules.event_types import DISABLED, FAILING

# With nowhere to send an alert, ask again this soon: an app may name a downstream meanwhile.
NOWHERE_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    """What an alert's decision needs of the relay's settings and downstreams."""

    operator: str  # `[alerts] downstream` ("": none)
    quiet: float  # seconds
    wait: float  # seconds a digest waits for the app's other downstreams
    known: Callable[[Db, str], bool]  # a downstream of this name exists (as the store has it)
    subscribers: Subscribers  # read for why a downstream told cannot be used (held)


@dataclass(frozen=True)
class Told:
    sent: str | None  # the alert named in its app's digest (None: none)
    mark: Mark | None  # the downstream's mark now; None: there was nowhere to send one
    reason: str = ""  # why, when one went out
    decided: bool = True  # False: another replica had decided the held one first


async def alert(store: Store, about: str, kind: str, reason: str, plan: Plan) -> Told:
    """Not durable: an alert lost to a power cut is told again by the next transition."""
    return await store.run(
        lambda db: alert_now(db, about, kind, reason, plan, time.time()), durable=False
    )


def alert_now(db: Db, about: str, kind: str, reason: str, plan: Plan, now: float) -> Told:
    if not _recipients(db, about, plan):
        return Told(None, None)
    mark = rows.locked(db, about)
    decided = decide(mark, kind, reason, now, plan.quiet)
    return _carried_out(db, about, mark, decided, now)


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
    if not recipients:  # nowhere to tell it any more: forgotten
        decided = Decision(replace(mark, held_kind=None, held_reason=None))
    return _carried_out(db, about, mark, decided, now)


def _recipients(db: Db, about: str, plan: Plan) -> list[str]:
    """The alert downstreams an alert about `about` would go to now."""
    owner = owner_of(about)
    app = rows.app_choice(db, owner) if owner is not None else None
    return targets(about, plan.operator, app[1] if app else None, partial(plan.known, db))


def _carried_out(db: Db, about: str, before: Mark, decided: Decision, now: float) -> Told:
    """The mark moved on, and what is told named in its app's digest."""
    if decided.mark != before:
        rows.keep(db, about, decided.mark)
    kind = decided.send
    if kind is None:
        return Told(None, decided.mark)
    failing_since, disabled_reason = rows.failure(db, about)
    if kind == FAILING and failing_since is None:
        # Its breaker opened on attempts whose outcomes are still being written: its first
        # failure is this moment's.
        failing_since = now
    reason = (disabled_reason if kind == DISABLED else None) or decided.reason
    entry = Entry(about, reason, failing_since)
    rows.join_digest(db, owner_of(about) or "", kind, entry, now)
    return Told(kind, decided.mark, reason)


@dataclass(frozen=True)
class Digest:
    """A digest that went out: its kind, its app's name, the downstreams it is about."""

    kind: str
    app: str | None
    about: list[str]  # their full names, in the order they joined


async def waiting_digests(store: Store) -> list[tuple[str, str, float, float | None]]:
    return await store.read(rows.waiting_digests)


async def send_digest(store: Store, app_id: str, kind: str, plan: Plan) -> Digest | None:
    """The app's digest of `kind`, if due, sent (None: not due, or another replica sent it
    first). Not durable, as an alert is not."""
    return await store.run(
        lambda db: send_digest_now(db, app_id, kind, plan, time.time()), durable=False
    )


def send_digest_now(db: Db, app_id: str, kind: str, plan: Plan, now: float) -> Digest | None:
    # The marks of the downstreams it names locked before the digest (as an alert deciding
    # locks its mark, then the digest it joins: one order, no deadlock), in one order, to
    # start their windows at the message. One joining meanwhile keeps its joining time.
    named = sorted({e.downstream for e in rows.digest_entries(db, app_id, kind)})
    marks = {name: rows.locked(db, name) for name in named}
    waiting_since, sent_at = rows.locked_digest(db, app_id, kind)
    if waiting_since is None or now < digest_due(waiting_since, sent_at, plan.wait, plan.quiet):
        return None
    entries = rows.take_digest(db, app_id, kind)
    app = rows.app_choice(db, app_id) if app_id else None
    owner = app_id or None
    about_them = {e.downstream for e in entries}
    known = partial(plan.known, db)
    to = digest_targets(owner, plan.operator, app[1] if app else None, known, about_them)
    if not entries or not to:  # nowhere to tell it any more: forgotten
        rows.digest_sent(db, app_id, kind, None)
        return None
    fields = digest_fields(kind, app[0] if app else None, entries)
    about = entries[0].downstream if len(entries) == 1 else f"app:{app_id}"
    held = held_reasons(plan.subscribers.named(db, to))
    notice(db, kind, about, fields, to, held, now)
    rows.digest_sent(db, app_id, kind, now)
    for name, mark in marks.items():
        rows.keep(db, name, sent_in_digest(mark, kind, now))
    return Digest(kind, app[0] if app else None, [e.downstream for e in entries])


async def live_marks(store: Store) -> dict[str, Mark]:
    """The downstreams with a problem told and not yet answered, or a transition held back."""
    return await store.read(rows.live_marks)


async def choose(
    store: Store, known: Callable[[Db, str], bool], app_id: str, name: str | None
) -> None:
    """The downstream of its own (by the name it gave it) an app's alerts go to; None: none.
    A name the app has no downstream of is refused (422)."""

    def write(db: Db) -> None:
        if name is not None and not known(db, owned_name(app_id, name)):
            raise InvalidRequest(f"alert_downstream: the app has no downstream named {name!r}")
        rows.set_app_choice(db, app_id, name)

    await store.run(write)


async def chosen(store: Store, app_id: str) -> str | None:
    """The downstream of its own an app named for its alerts (None: none)."""
    found = await store.read(lambda db: rows.app_choice(db, app_id))
    return found[1] if found else None
