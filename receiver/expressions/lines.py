"""The expression pool's waiting lines: one a line key (an app, the operator, the relay's own
downstreams, tasks' own webhooks), each bounded on its own, so that one app's flood never
fills another's line. The next taken is the oldest of the line that has used the least of
the processes' time lately (halved every `HALF_LIFE` seconds), so two that flood share the
processes' time, not their count of requests. Pure: the pool says what waits and what a
request cost.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Line keys beside the apps' ids (which hold no colon): who asks, when it is no app.
OPERATOR = "operator:"  # the admin token and the console
RELAY_DOWNSTREAMS = "downstreams:"  # the config file's downstreams, and global ones
TASK_WEBHOOKS = "webhooks:"  # a task's own webhook's filter

HALF_LIFE = 2.0  # seconds: what a line used counts half as much this long after
# A line's cost of a request: each measured one weighs this much in it (a moving average).
_WEIGHT = 0.125
# Lines kept with what they used, past which those used least (long idle) are forgotten.
_KEPT = 4096

T = TypeVar("T")


@dataclass(slots=True)
class _Use:
    """What a line used (seconds of the processes' time) as of `at`, and what one of its
    requests costs."""

    used: float = 0.0
    at: float = 0.0
    cost: float = 0.0

    def now(self, now: float) -> float:
        return self.used * math.exp2((self.at - now) / HALF_LIFE) if self.used else 0.0


class Lines(Generic[T]):
    """Items waiting, a line per key: `take` gives the oldest of the line that used least
    (ties: the one whose turn it is), charging it the cost of one of its requests."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()  # the next turn first
        self._use: dict[str, _Use] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def waiting(self, key: str) -> int:
        """How many wait in `key`'s line (what its bound is held to)."""
        found = self._lines.get(key)
        return len(found) if found is not None else 0

    def add(self, key: str, item: T) -> None:
        """At the end of its line; a new line's first turn comes after the others'."""
        self._lines.setdefault(key, deque()).append(item)
        self._count += 1

    def again(self, key: str, items: Iterable[T]) -> None:
        """First in their line again, in their order (already let in: past any bound)."""
        given = list(items)
        self._lines.setdefault(key, deque()).extendleft(reversed(given))
        self._count += len(given)

    def take(self, now: float = 0.0, may: Callable[[str], bool] | None = None) -> T | None:
        """The next of the lines `may` allows (all, without it), or None when none waits."""
        least: tuple[float, str] | None = None
        for key in self._lines:
            if may is None or may(key):
                used = self._use[key].now(now) if key in self._use else 0.0
                if least is None or used < least[0]:
                    least = (used, key)
        if least is None:
            return None
        key = least[1]
        line = self._lines[key]
        item = line.popleft()
        self._count -= 1
        if line:
            self._lines.move_to_end(key)
        else:
            del self._lines[key]
        use = self._use.get(key)
        if use is not None and use.cost:
            use.used, use.at = use.now(now) + use.cost, now
        return item

    def spent(self, key: str, seconds: float) -> None:
        """One of `key`'s requests took `seconds` of a process: what the next are charged."""
        use = self._use.get(key)
        if use is None:
            if len(self._use) >= _KEPT:
                self._forget()
            use = self._use[key] = _Use(cost=seconds)
        use.cost += (seconds - use.cost) * _WEIGHT

    def _forget(self) -> None:
        """Half the lines kept, those that used least (and wait for nothing), forgotten."""
        latest = max(use.at for use in self._use.values())
        idle = sorted((use.now(latest), key) for key, use in self._use.items())
        for _, key in idle[: len(idle) // 2]:
            if key not in self._lines:
                del self._use[key]

    def drain(self) -> list[T]:
        """Everything waiting, taken out."""
        items = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        self._count = 0
        return items
