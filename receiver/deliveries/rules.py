"""The rules of sending, pure (the caller passes the time, so they are tested without
waiting): each downstream's circuit breaker and token bucket, and its fair share of the
claims in one round (when to retry is the lifecycle's: receiver/lifecycle/rules/retries.py).

Breaker (Convoy's rule): it opens when, over the last `window` seconds, at least
`min_attempts` attempts were made and at least `failure_rate` of them failed; the
downstream is then left alone (`open`) for `cool_off` seconds; then one probe is let through
(`half_open`); its success closes the breaker, its failure opens it again. Counting a rate
over a window, not failures in a row, keeps a flaky downstream (one attempt in two fails)
served: runs of failures come by chance, and each run would have paused it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

BreakerState = Literal["closed", "half_open", "open"]
# For the `relay_downstream_state` gauge; `disabled` is an operator's or the relay's decision.
STATE_NUMBERS = {"closed": 0, "half_open": 1, "open": 2, "disabled": 3}


@dataclass
class Breaker:
    failure_rate: float  # the share of failed attempts in the window that opens it
    min_attempts: int  # no verdict on fewer attempts than this in the window
    window: float  # seconds of attempts that count
    cool_off: float  # seconds it stays open before a probe
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, failed)
    failed_in_window: int = 0
    opened_at: float | None = None
    probing: bool = False  # the half-open probe is in flight

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        return "half_open" if now - self.opened_at >= self.cool_off else "open"

    def allowance(self, now: float) -> int | None:
        """How many attempts may start now: None for no limit, 0 or 1 otherwise."""
        state = self.state(now)
        if state == "closed":
            return None
        if state == "half_open" and not self.probing:
            return 1
        return 0

    def started(self, now: float) -> None:
        if self.state(now) == "half_open":
            self.probing = True

    def succeeded(self, now: float) -> None:
        if self.opened_at is not None:
            self._reset(None)  # the probe (or a straggler) got through: closed again
            return
        self._note(now, failed=False)

    def failed(self, now: float) -> None:
        if self.probing:
            self._reset(now)  # the probe failed: open again, for a whole cool-off
            return
        if self.opened_at is not None:
            return  # an attempt that started before it opened
        self._note(now, failed=True)
        attempts = len(self.outcomes)
        if attempts >= self.min_attempts and self.failed_in_window >= self.failure_rate * attempts:
            self._reset(now)

    def _note(self, now: float, failed: bool) -> None:
        self.outcomes.append((now, failed))
        self.failed_in_window += failed
        while self.outcomes and self.outcomes[0][0] <= now - self.window:
            self.failed_in_window -= self.outcomes.popleft()[1]

    def _reset(self, opened_at: float | None) -> None:
        self.outcomes.clear()
        self.failed_in_window = 0
        self.opened_at, self.probing = opened_at, False


@dataclass
class TokenBucket:
    """At most `rate` attempts a second on average, bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float = field(default=0.0)
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def available(self, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def take(self, count: int) -> None:
        self.tokens -= count


# How the fan-out's free slots are shared among downstreams in one claiming round.
L = TypeVar("L")


def share_slots(
    lanes: list[L], start: int, free: int, allowance: Callable[[L], int]
) -> list[tuple[L, int]]:
    """How many due rows each lane may claim this round, from `free` slots in all.

    Each lane gets an equal share of the free slots (at least one), bounded by its own
    allowance, in turn from `start`. A share is reserved before anyone knows whether the
    lane has rows due; what goes unused is free again in the next round, which starts after
    the last lane served, so that with more lanes than slots every lane gets its turn.
    """
    if not lanes or free <= 0:
        return []
    share = max(1, free // len(lanes))
    first = start % len(lanes)
    wanted: list[tuple[L, int]] = []
    for lane in lanes[first:] + lanes[:first]:
        if free <= 0:
            break
        n = min(allowance(lane), share, free)
        if n > 0:
            wanted.append((lane, n))
            free -= n
    return wanted


def claim_round(
    lanes: list[L], due: Callable[[L], bool], turn: int, free: int, allowance: Callable[[L], int]
) -> tuple[list[tuple[L, int]], int]:
    """The shares of the lanes with rows due, and the turn of the next round.

    The turn is a place among all lanes, not among the due ones, so that it keeps its
    meaning while the due lanes change from one round to the next.
    """
    places = [i for i, lane in enumerate(lanes) if due(lane)]
    ready = [lanes[i] for i in places]
    wanted = share_slots(ready, sum(1 for i in places if i < turn), free, allowance)
    if not wanted:
        return wanted, turn
    return wanted, places[ready.index(wanted[-1][0])] + 1
