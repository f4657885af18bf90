"""A key's own limits on the tasks it submits, each optional: `max_queued`, how many of its
tasks may be open at once (not ended: waiting in the submit queue, being sent, or running
at CometAPI), and `max_per_day`, how many it may make in any 24 hours (a rolling window,
not a calendar day, so that no burst fits at midnight).

Pure: the store counts under the key's lock, in the transaction that takes the task in
(receiver/lifecycle/rows/tasks/intake.py); these decide whether one more task fits, and if
not, which limit refuses it and how long to wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DAY_SECONDS = 86_400.0
# An open task frees its place when it ends, which no one can foretell: a render takes a
# minute or more, so asking again sooner than this only spends requests.
QUEUED_RETRY_SECONDS = 15

LimitName = Literal["max_queued", "max_per_day"]


@dataclass(frozen=True)
class KeyLimits:
    max_queued: int | None = None
    max_per_day: int | None = None

    @property
    def any(self) -> bool:
        return self.max_queued is not None or self.max_per_day is not None


NO_LIMITS = KeyLimits()


@dataclass(frozen=True)
class Usage:
    """What the key has now: its open tasks, the tasks it made since `day_start(now)`, and
    when the first of those that must leave the window for one more to fit was made (None
    while the day's limit is not reached)."""

    open_tasks: int
    made_in_day: int
    freeing_made_at: float | None = None


@dataclass(frozen=True)
class OverLimit:
    limit: LimitName
    retry_after: int  # whole seconds, at least 1
    reason: str


def day_start(now: float) -> float:
    """Where the day's window begins: a task made after it counts."""
    return now - DAY_SECONDS


def freeing_offset(limits: KeyLimits, made_in_day: int) -> int | None:
    """Which of the day's tasks, oldest first (0: the oldest), must leave the window before
    one more fits; None while one more fits now."""
    if limits.max_per_day is None or made_in_day < limits.max_per_day:
        return None
    return made_in_day - limits.max_per_day


def over_limit(limits: KeyLimits, usage: Usage, now: float) -> OverLimit | None:
    """None when one more task fits under every limit; else the limit it breaks (the day's
    first, which is the longer wait) and when to ask again."""
    if limits.max_per_day is not None and usage.made_in_day >= limits.max_per_day:
        made_at = usage.freeing_made_at if usage.freeing_made_at is not None else now
        wait = max(1, math.ceil(made_at + DAY_SECONDS - now))
        return OverLimit(
            "max_per_day",
            wait,
            f"this key's max_per_day is reached ({limits.max_per_day} tasks in 24 hours);"
            f" a place frees in {wait} s",
        )
    if limits.max_queued is not None and usage.open_tasks >= limits.max_queued:
        return OverLimit(
            "max_queued",
            QUEUED_RETRY_SECONDS,
            f"this key's max_queued is reached ({limits.max_queued} tasks not ended);"
            " a place frees when one of them ends",
        )
    return None
