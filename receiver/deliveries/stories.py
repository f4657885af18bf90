"""A delivery attempt ends: its outcome kept (unless another worker took the lease), what it
says of its downstream's health, and a downstream that failed too long, or answered 410
Gone, disabled for every replica, with a notice to the downstreams that subscribe to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from receiver.deliveries.rules.retry import row_state
from receiver.kernel.events.rows import health as downstreams
from receiver.kernel.events.rows import outbox
from receiver.kernel.events.rows.health import DISABLED, RELAY_TASK
from receiver.kernel.events.rows.outbox import AttemptEnd
from receiver.kernel.events.rules.routing import Subscriptions, held_reasons, notified_of
from receiver.kernel.store import Attempt, Store
from receiver.kernel.store.db import Db
from receiver.kernel.store.records import new_id
from receiver.tasks.rows import tasks


@dataclass(frozen=True)
class AttemptHealth:
    """What an attempt says of its downstream's health (None when it says nothing, as when
    the receiver asked the relay to stop retrying one message)."""

    downstream: str
    ok: bool
    disable_after: float
    subscriptions: Subscriptions


async def ended(
    store: Store,
    attempt: Attempt,
    owner: str,
    next_attempt_at: float,
    health: AttemptHealth | None = None,
    posted: tuple[str, bool] | None = None,
) -> tuple[bool, bool]:
    """(kept, this attempt disabled its downstream). Not durable: an outcome lost to a power
    cut makes the delivery due again, and deliveries are at least once."""
    end = AttemptEnd(attempt, owner, row_state(attempt.outcome), next_attempt_at, posted)
    return await store.run(
        lambda db: _ended(db, end, health, time.time()), durable=False, urgent=False
    )


def _ended(db: Db, end: AttemptEnd, health: AttemptHealth | None, now: float) -> tuple[bool, bool]:
    kept = outbox.finish_attempt(db, end, now)
    if health is None:
        return kept, False
    if health.ok:
        downstreams.mark_ok(db, health.downstream)
        return kept, False
    failing = downstreams.mark_failing(db, health.downstream, now)
    if failing is None:
        return kept, False
    since, disabled = failing
    if disabled or now - since < health.disable_after:
        return kept, False
    reason = f"every attempt failed for {(now - since) / 3600:.1f} h"
    return kept, disable_now(db, health.downstream, reason, health.subscriptions, since, now)


async def disable(store: Store, name: str, reason: str, subscriptions: Subscriptions) -> bool:
    """Disable a downstream (an operator, or a 410): False when it was disabled already."""
    return await store.run(
        lambda db: disable_now(db, name, reason, subscriptions, None, time.time())
    )


def disable_now(
    db: Db,
    name: str,
    reason: str,
    subscriptions: Subscriptions,
    failing_since: float | None,
    now: float,
) -> bool:
    """Its waiting deliveries are held, and the downstreams that subscribe to
    `downstream.disabled` are told."""
    if not downstreams.disable(db, name, reason, now):
        return False
    event_id = new_id("evt")
    document = {
        "event_id": event_id,
        "type": DISABLED,
        "task_id": RELAY_TASK,
        "kind": "relay",
        "state": DISABLED,
        "downstream": name,
        "reason": reason,
        "failing_since": failing_since,
        "occurred_at": now,
    }
    downstreams.insert_notice(db, document, f"disabled:{name}:{now}")
    reasons = held_reasons(subscriptions)
    told = [
        (other, "held" if other in reasons else "pending")
        for other in notified_of(DISABLED, name, subscriptions)
    ]
    outbox.insert_deliveries(db, RELAY_TASK, event_id, told, now, reasons)
    return True


async def webhook_gone(store: Store, task_id: str, reason: str, except_id: str) -> int:
    """The task's own webhook answered 410: it takes nothing more of this task. Its other
    unfinished deliveries there end; how many."""
    return await store.run(
        lambda db: tasks.webhook_gone(db, task_id, reason, except_id, time.time())
    )
