"""A delivery attempt ends: its outcome kept (unless another worker took the lease), what it
says of its downstream's health, and a downstream that failed too long, or answered 410
Gone, disabled for every replica, with a notice to the downstreams that subscribe to it. Besides,
the deliveries claimed for an attempt, and replayed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from receiver.downstreams import rows as downstreams
from receiver.downstreams.rows import DISABLED, HandshakeRow
from receiver.expressions.rules import REFUSED
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows.tasks import tracking
from receiver.lifecycle.rules.polling import Bucket, give_back, take
from receiver.lifecycle.transactions.notices import notice
from receiver.outbox.rows import outbox
from receiver.outbox.rows.outbox import AttemptEnd
from receiver.outbox.rules.delivery import (
    TASK_WEBHOOK,
    Attempt,
    DeliveryJob,
    Subscribers,
    ask_again_in,
    held_reasons,
    is_task_webhook,
    notified_of,
    owner_of,
    row_state,
)


@dataclass(frozen=True)
class AttemptHealth:
    """What an attempt says of its downstream's health (None when it says nothing, as when
    the receiver asked the relay to stop retrying one message)."""

    downstream: str
    ok: bool
    disable_after: float
    subscribers: Subscribers


# Well within an attempt's lease (60 s by default), so the row is not claimed meanwhile.
_RECORD_SECONDS = 20.0


async def ended(
    store: Store,
    attempt: Attempt,
    owner: str,
    next_attempt_at: float,
    health: AttemptHealth | None = None,
    posted: tuple[str, bool] | None = None,
) -> tuple[bool, bool]:
    """(kept, this attempt disabled its downstream). Not durable: an outcome lost to a power
    cut makes the delivery due again, and deliveries are at least once. No caller waits on
    it, so it waits for the store longer than a request would (`_RECORD_SECONDS`): an
    outcome given up on while the store is slow, just after an outage, is a receiver sent the
    same webhook again once the lease ends."""
    return await store.run(
        lambda db: _ended(db, attempt, owner, next_attempt_at, posted, health),
        timeout=_RECORD_SECONDS,
        durable=False,
        urgent=False,
    )


def _ended(
    db: Db,
    attempt: Attempt,
    owner: str,
    next_attempt_at: float,
    posted: tuple[str, bool] | None,
    health: AttemptHealth | None,
) -> tuple[bool, bool]:
    now = time.time()
    end = AttemptEnd(attempt, owner, row_state(attempt.outcome), next_attempt_at, posted)
    kept = outbox.finish_attempt(db, end, now)
    if kept and filter_failed(attempt) and attempt.error is not None:
        downstreams.filter_failed(db, attempt.downstream, attempt.error, now)
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
    return kept, disable_now(db, health.downstream, reason, health.subscribers, since, now)


def filter_failed(attempt: Attempt) -> bool:
    """The downstream's own filter failed on the event (a task's webhook is no endpoint)."""
    return (
        attempt.outcome == "filtered"
        and attempt.error != REFUSED
        and not is_task_webhook(attempt.downstream)
    )


async def postpone(store: Store, delivery_id: str, owner: str, until: float) -> bool:
    """A delivery no attempt was made of (the relay too busy to evaluate its filter or
    transform), due again at `until` with nothing counted; False when its lease was lost."""
    return await store.run(
        lambda db: outbox.postpone(db, delivery_id, owner, until),
        timeout=_RECORD_SECONDS,
        durable=False,
        urgent=False,
    )


async def disable(store: Store, name: str, reason: str, subscribers: Subscribers) -> bool:
    """Disable a downstream (an operator, or a 410): False when it was disabled already."""
    return await store.run(lambda db: disable_now(db, name, reason, subscribers, None, time.time()))


def disable_now(
    db: Db,
    name: str,
    reason: str,
    subscribers: Subscribers,
    failing_since: float | None,
    now: float,
) -> bool:
    """Its waiting deliveries are held, and the downstreams that subscribe to
    `downstream.disabled` are told: the global ones, and its app's."""
    if not downstreams.disable(db, name, reason, now):
        return False
    outbox.hold(db, name, now)
    fields = {"downstream": name, "reason": reason, "failing_since": failing_since}
    subscriptions = subscribers.of(db, owner_of(name))
    told = notified_of(DISABLED, name, subscriptions)
    notice(db, DISABLED, name, fields, told, held_reasons(subscriptions), now)
    return True


async def handshake_refused(
    store: Store,
    name: str,
    of: str,
    reason: str,
    schedule: Sequence[float],
    subscribers: Subscribers,
) -> bool:
    """Its endpoint's answer did not allow the relay's CloudEvents: the verdict kept for every
    replica, asked again after the wait its refusals in a row call for; paused once (disabled
    with why, its deliveries held, the downstreams subscribed to `downstream.disabled` told).
    True when this paused it."""

    def write(db: Db) -> bool:
        now = time.time()
        kept = downstreams.handshake(db, name)
        refusals = kept.refusals + 1 if kept is not None and kept.refusal is not None else 1
        again = now + ask_again_in(schedule, refusals - 1)
        downstreams.note_handshake(db, name, HandshakeRow(of, reason, None, now, again, refusals))
        return disable_now(db, name, reason, subscribers, None, now)

    return await store.run(write)


async def webhook_gone(
    store: Store, task_id: str, reason: str, except_id: str, lane: str = TASK_WEBHOOK
) -> int:
    """The task's own webhook answered 410: it takes nothing more of this task. Its other
    unfinished deliveries there (in `lane`: its app's, or the operator's) end; how many."""
    now = time.time()
    return await store.run(lambda db: _webhook_gone(db, task_id, lane, reason, except_id, now))


def _webhook_gone(db: Db, task_id: str, lane: str, reason: str, except_id: str, now: float) -> int:
    if not tracking.mark_webhook_gone(db, task_id, now):
        return 0
    return outbox.end_of_task(db, task_id, lane, reason, except_id, now)


def claim_within(
    db: Db,
    owner: str,
    lease: float,
    limit: int,
    downstream: str,
    rate: float | None,
    ordered: bool = False,
) -> list[DeliveryJob]:
    """Lease up to `limit` of the downstream's deliveries due now, as many as its budget
    shared by every replica allows (`max_per_second`); those it holds back wait, their next
    attempt time put at the budget's next token. `ordered`: a task's events in order."""
    now = time.time()
    if rate is None:
        return outbox.claim_deliveries(db, owner, now, lease, limit, downstream, ordered)
    before = Bucket(*downstreams.budget(db, downstream))
    granted, after = take(before, now, rate, limit)
    jobs = outbox.claim_deliveries(db, owner, now, lease, granted, downstream, ordered)
    left = give_back(after, granted - len(jobs), rate)
    if left != before:
        downstreams.set_budget(db, downstream, left.tokens, left.at)
    if granted < limit and len(jobs) == granted:
        waiting = limit - granted
        times = [left.at + (k + 1 - left.tokens) / rate for k in range(waiting)]
        outbox.throttle(db, now, waiting, downstream, ordered, times)
    return jobs


async def claim(
    store: Store,
    owner: str,
    lease: float,
    limit: int,
    downstream: str,
    rate: float | None = None,
    ordered: bool = False,
) -> list[DeliveryJob]:
    """Not durable: a lease lost to a power cut only lets the delivery be sent again."""
    return await store.run(
        lambda db: claim_within(db, owner, lease, limit, downstream, rate, ordered),
        durable=False,
    )


def _replay(db: Db, delivery_ids: list[str]) -> int:
    return outbox.replay(db, delivery_ids, time.time())


async def replay(store: Store, delivery_ids: list[str]) -> int:
    """Put deliveries back in the queue for an immediate attempt, whatever their state;
    how many there were."""
    return await store.run(lambda db: _replay(db, delivery_ids))


DEAD_LETTERS = Sql(
    "SELECT id FROM deliveries WHERE state = 'dead' AND downstream = ? ORDER BY created_at"
)


async def replay_dead_letters(store: Store, downstream: str) -> int:
    """Every dead delivery to the downstream, pending again."""
    return await store.run(
        lambda db: _replay(db, [r["id"] for r in db.all(DEAD_LETTERS, (downstream,))])
    )


async def give_back_leases(store: Store, delivery_ids: list[str], owner: str) -> None:
    """Not durable: a lease kept through a power cut only holds the rows until it ends."""
    await store.run(lambda db: outbox.give_back(db, delivery_ids, owner), durable=False)
