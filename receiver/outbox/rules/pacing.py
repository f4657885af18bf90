"""The fan-out's lanes: each downstream's pace (a token bucket), and its fair share of the
free slots in each round of claims."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar


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


def claim_turn(
    places: list[int],
    at: Callable[[int], L],
    turn: int,
    free: int,
    allowance: Callable[[L], int],
) -> tuple[list[tuple[L, int]], int]:
    """The shares of the lanes with rows due (at `places` among all lanes, in order; `at`
    a place, its lane), and the turn of the next round.

    The turn is a place among all lanes, not among the due ones, so that it keeps its
    meaning while the due lanes change from one round to the next. Only the lanes served
    are looked at, however many are due.
    """
    served = share_slots(places, bisect_left(places, turn), free, lambda p: allowance(at(p)))
    if not served:
        return [], turn
    return [(at(place), n) for place, n in served], served[-1][0] + 1
