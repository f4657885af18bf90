"""One downstream's share of the fan-out (its lane), and the lane of the tasks' own webhooks."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from receiver.config import Downstream
from receiver.config.sections import DeliveryConfig
from receiver.downstreams import transactions as downstream_transactions
from receiver.expressions.rules import Shaped
from receiver.kernel.observability.logs import Redactor
from receiver.kernel.store import Store
from receiver.keys.webhook_keys import AppWebhookKeys
from receiver.outbox.rules.delivery import TASK_WEBHOOK, Breaker, DeliveryJob
from receiver.outbox.rules.pacing import TokenBucket


class Closable(Protocol):
    async def close(self) -> None: ...


async def close_later(closing: Closable, after: float) -> None:
    """Close a changed or removed downstream's connections once the attempts that started
    on them have had their whole timeout (at once when cancelled, at shutdown)."""
    try:
        await asyncio.sleep(after)
    finally:
        await closing.close()


def task_webhooks(secret: str | None, d: DeliveryConfig) -> Downstream | None:
    """The lane of every task's own webhook: signed with the task webhook secret, its URL
    taken from each delivery's task. No breaker and never disabled as a whole: one tenant's
    webhook failing says nothing of another's. None while no secret is configured."""
    if secret is None:
        return None
    # Each delivery's own URL: the lane has none of its own to check.
    return Downstream.model_construct(
        name=TASK_WEBHOOK,
        url="",
        events=[],
        secret=secret,
        timeout=d.task_webhook_timeout,
        url_is_secret=True,
        max_in_flight=d.task_webhook_max_in_flight,
        breaker_failure_rate=1.0,
        breaker_min_attempts=2**31,
        breaker_cool_off_seconds=1.0,
        disable_after_seconds=float("inf"),
        ordering="task",
    )


def app_task_webhooks(name: str, keys: AppWebhookKeys, d: DeliveryConfig) -> Downstream:
    """The lane of one app's tasks' own webhooks (`name`: `<app id>.task-webhook`): signed
    with the app's own keys (`v1` and `v1a`, the pair a rotation replaced beside them until
    its overlap ends), its own cap and breaker, so that another app's webhooks, slow or
    failing, take none of its slots. Never disabled as a whole."""
    previous = keys.previous
    return Downstream.model_construct(
        name=name,
        url="",
        events=[],
        secret=keys.current.secret,
        key_beside=keys.current.key,
        previous_secret=previous.secret if previous else None,
        previous_key_beside=previous.key if previous else None,
        previous_until=keys.previous_until or 0.0,
        timeout=d.task_webhook_timeout,
        url_is_secret=True,
        max_in_flight=d.task_webhook_max_in_flight,
        disable_after_seconds=float("inf"),
        ordering="task",
    )


@dataclass(eq=False)  # one lane is itself alone: compared and hashed by identity
class Lane:
    """One downstream's share of the fan-out: its own cap, rate, breaker and slots."""

    downstream: Downstream
    breaker: Breaker
    bucket: TokenBucket | None
    # A task's events go out in order: asked for, or a chat's (a later state of the task
    # edits the message its first posted).
    ordered: bool
    body: Callable[[DeliveryJob], Shaped]  # its format's own body, looked up once
    # The turns of its attempts in flight (the fan-out numbers each attempt as it begins), in
    # order: a failure is weighed against those begun before it, which may yet succeed
    # (outbox/rules/delivery.py).
    begun: list[int] = field(default_factory=list)
    reported: str = "closed"  # the breaker state last written to the store and the gauge
    # Its last claim got less than it asked for (`drained`): nothing more waits until new
    # rows are committed or a tick passes (a retry comes due). Its last claim came back full
    # (`backlog`): more rows wait, whatever woke the fan-out since.
    _drained: bool = False
    _backlog: bool = False
    # The fan-out's lanes with work, told as this one changes (None: a lane on its own).
    busy: Busy | None = None
    # Its place among the fan-out's lanes, in the order they were made: where the claims'
    # turn stands (`claim_turn`).
    place: int = 0
    # What its attempts must not show (`logs.scoped`): its downstream's own secrets, as the
    # directory had them when its publisher opened (receiver/downstreams/directory.py).
    scope: tuple[Redactor, ...] = ()
    # The rate its endpoint allowed in the CloudEvents handshake (receiver/destinations/
    # handshake.py); None: none said.
    allowed_per_second: float | None = None
    # The rate its last claim went by (`claim_rate`): what its attempts were leased within.
    claimed_per_second: float | None = None
    # A CloudEvents webhook: its endpoint is asked before it is sent to (read once here).
    handshake: bool = False
    # Its endpoint not asked yet: one attempt at a time, the one that asks, so that none
    # goes before the rate it answers is known.
    unasked: bool = False
    # What its last claim raised (None: it went through): logged when it changes only.
    claim_failure: str | None = None
    # When an attempt last began on it (made: then): idle long enough, it is let go.
    used_at: float = field(default_factory=time.time)

    @property
    def drained(self) -> bool:
        return self._drained

    @drained.setter
    def drained(self, value: bool) -> None:
        self._drained = value
        if self.busy is not None:
            self.busy.changed(self)

    @property
    def backlog(self) -> bool:
        return self._backlog

    @backlog.setter
    def backlog(self, value: bool) -> None:
        self._backlog = value
        if self.busy is not None:
            self.busy.changed(self)

    @property
    def in_flight(self) -> int:
        return len(self.begun)

    def began(self, turn: int) -> None:
        """An attempt took one of its slots."""
        insort(self.begun, turn)

    def ended(self, turn: int) -> int:
        """The attempt of `turn` gave its slot back: how many still in flight began before
        it."""
        self.begun.pop(bisect_left(self.begun, turn))
        return bisect_right(self.begun, turn)

    @property
    def per_second(self) -> float | None:
        """Its budget of attempts a second, by every replica together: `max_per_second`,
        or its endpoint's allowed rate when that is less."""
        rates = [r for r in (self.downstream.max_per_second, self.allowed_per_second) if r]
        return min(rates) if rates else None

    def claim_rate(self) -> float | None:
        """The rate a claim of its rows goes by, kept for the attempts of what it leases: one
        whose rate its endpoint lowered meanwhile was not counted within the new one."""
        self.claimed_per_second = self.per_second
        return self.claimed_per_second

    @classmethod
    def of(cls, d: Downstream, busy: Busy | None = None, place: int = 0) -> Lane:
        """`busy`: the fan-out's lanes with work, which this one joins; `place`: its own."""
        rate = d.rate_per_second
        bucket = TokenBucket(rate, max(1.0, rate)) if rate else None
        breaker = Breaker(
            d.breaker_failure_rate,
            d.breaker_min_attempts,
            d.breaker_window_seconds,
            d.breaker_cool_off_seconds,
        )
        asks = d.needs_handshake
        made = cls(d, breaker, bucket, d.ordered, d.bodies(), handshake=asks, unasked=asks)
        made.busy, made.place = busy, place
        if busy is not None:  # not drained: it was made for work
            busy.changed(made)
        return made

    def allowance(self, now: float, free: int) -> int:
        """How many of its due deliveries may start now."""
        n = min(free, self.downstream.max_in_flight - self.in_flight)
        if (probe := self.breaker.allowance(now)) is not None:
            n = min(n, probe)
        if self.bucket is not None:
            n = min(n, self.bucket.available(now))
        if self.unasked:
            n = min(n, 1 - self.in_flight)
        return max(n, 0)

    def claim_failed(self, error: BaseException) -> bool:
        """Its claim raised `error`: whether that is news (not what the last one raised)."""
        said = f"{type(error).__name__}: {error}"
        news, self.claim_failure = said != self.claim_failure, said
        return news

    def claimed(self, got: int, asked: int) -> None:
        self.drained = got < asked
        self.backlog = not self.drained

    def refill(self) -> bool:
        """Worth claiming again: a quarter of its slots is free (claims are transactions)."""
        cap = self.downstream.max_in_flight
        return self.in_flight <= cap - max(1, cap // 4)

    def idle(self, now: float) -> bool:
        """Nothing of it in flight or waiting, its breaker closed (what it remembers is
        none), no attempt begun for a while: it may be let go, and made again."""
        quiet = max(LANE_IDLE_SECONDS, self.downstream.breaker_window_seconds)
        if self.in_flight or self.backlog or now - self.used_at < quiet:
            return False
        return self.reported == "closed" and self.breaker.state(now) == "closed"


@dataclass
class Busy:
    """The lanes that may have rows due (not drained) and those known to (a backlog, by
    name, and their places in order), kept as each lane changes, so that a round of the
    fan-out visits these alone, however many lanes are held."""

    undrained: set[Lane] = field(default_factory=set)
    backlogged: dict[str, Lane] = field(default_factory=dict)
    places: list[int] = field(default_factory=list)  # the backlogged lanes', in order

    def changed(self, lane: Lane) -> None:
        """`lane` was drained or backlogged, or not any more."""
        if lane.drained:
            self.undrained.discard(lane)
        else:
            self.undrained.add(lane)
        if lane.backlog and lane.downstream.name not in self.backlogged:
            self.backlogged[lane.downstream.name] = lane
            insort(self.places, lane.place)
        elif not lane.backlog:
            self._unlisted(lane)

    def forget(self, lane: Lane) -> None:
        """A lane let go or made anew: not told of again."""
        lane.busy = None
        self.undrained.discard(lane)
        self._unlisted(lane)

    def _unlisted(self, lane: Lane) -> None:
        if self.backlogged.get(name := lane.downstream.name) is lane:
            del self.backlogged[name]
            self.places.pop(bisect_left(self.places, lane.place))


# A lane with no attempt begun for this long is let go (its connections closed): an idle
# relay visits none of its downstreams, however many.
LANE_IDLE_SECONDS = 60.0


async def with_rows_due(
    store: Store,
    busy: Busy,
    disabled: set[str],
    search: bool,
    woken: Mapping[str, Lane] | None = None,
) -> set[str]:
    """The downstreams that claim this round (a lane is made for one with none): those
    known to have rows (a full claim, leases given back), and when `search` (rows were
    committed, or a tick passed) those the store has rows due for: a downstream with no
    lane has rows only the store knows of (a retry come due, a replay), which must not wait
    until another app's backlog drains. A round run as slots free searches nothing: with
    many downstreams, one search lists each of them. Of the lanes with work (`busy`: the
    others have nothing known), those with nothing due are drained until new rows come
    or a tick passes; `woken`: every lane by name, when rows were committed since the last
    round (those the store finds rows for are not drained any more)."""
    found = await downstream_transactions.due(store) if search else set()
    due = found - disabled
    if woken is not None:  # rows committed: those found may claim again
        for name in due & woken.keys():
            woken[name].drained = False
    backlogged = busy.backlogged
    # Set operations, not a visit of each lane: the backlogged ones may be thousands.
    quiet = busy.undrained.difference(backlogged.values())
    held = [backlogged[name] for name in backlogged.keys() & disabled]
    due |= backlogged.keys() - disabled
    for lane in [*quiet, *held]:
        if lane.downstream.name not in due:
            lane.drained, lane.backlog = True, False
    return due


def startable(lane: Lane, backlogged: bool, disabled: set[str], free: int, now: float) -> bool:
    """Whether `lane` may send a new event's delivery at once, leased as it was made: not
    while any lane has a backlog (`backlogged`: the claims' fair shares decide what goes
    next), nor when it is disabled, rated or budgeted (the claims take its tokens), nor
    without room."""
    if free <= 0 or lane.downstream.name in disabled:
        return False
    if lane.bucket is not None or lane.per_second is not None:
        return False
    return not backlogged and lane.allowance(now, 1) >= 1
