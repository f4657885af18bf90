"""The expression pool's waiting lines: one a line key (an app, the operator, the relay's own
downstreams, tasks' own webhooks), each bounded on its own and served in turn (round
robin), as the submit queue's keys take turns (receiver/lifecycle/rules/queue.py), so that
one app's flood waits behind itself and never fills another's line.

Pure: the pool (pool.py) says what waits and hands out what `take` gives.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Generic, TypeVar

# Line keys beside the apps' ids (which hold no colon): who asks, when it is no app.
OPERATOR = "operator:"  # the admin token and the console
RELAY_DOWNSTREAMS = "downstreams:"  # the config file's downstreams, and global ones
TASK_WEBHOOKS = "webhooks:"  # a task's own webhook's filter

T = TypeVar("T")


class Lines(Generic[T]):
    """Items waiting, a line per key: `take` gives the oldest of the line whose turn it is,
    then that line goes to the back of the turns; a line with nothing left leaves them."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()  # the next turn first
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

    def take(self) -> T | None:
        """The next in turn, or None when nothing waits."""
        if not self._lines:
            return None
        key, line = next(iter(self._lines.items()))
        item = line.popleft()
        self._count -= 1
        if line:
            self._lines.move_to_end(key)
        else:
            del self._lines[key]
        return item

    def drain(self) -> list[T]:
        """Everything waiting, taken out."""
        items = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        self._count = 0
        return items
