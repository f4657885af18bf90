"""Fair turns between API keys in the submit queue: which waiting tasks are sent next.

Each key's waiting tasks form a line, oldest first. The lines take turns in a fixed order
(by key), each sending up to its weight per round, and the next claim goes on after the
key served last, so one key's batch of hundreds cannot hold another key's single task
behind it. The admin token's tasks are a line of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Turns(Generic[T]):
    chosen: list[T]  # in the order they are sent
    last: str | None  # the key served last: the next claim starts after it


def take_turns(
    lines: Mapping[str, Sequence[T]],
    after: str | None,
    slots: int,
    weights: Mapping[str, int] | None = None,
) -> Turns[T]:
    """Up to `slots` of the waiting tasks, key by key in turn from the key after `after`,
    each key's oldest first, up to its weight (at least 1) a round."""
    keys = sorted(k for k, line in lines.items() if line)
    if not keys or slots <= 0:
        return Turns([], after)
    start = next((i for i, k in enumerate(keys) if after is not None and k > after), 0)
    order = keys[start:] + keys[:start]
    taken = dict.fromkeys(order, 0)
    chosen: list[T] = []
    last = after
    while len(chosen) < slots and any(taken[k] < len(lines[k]) for k in order):
        for key in order:
            weight = max(1, (weights or {}).get(key, 1))
            line = lines[key]
            for _ in range(weight):
                if len(chosen) >= slots or taken[key] >= len(line):
                    break
                chosen.append(line[taken[key]])
                taken[key] += 1
                last = key
            if len(chosen) >= slots:
                break
    return Turns(chosen, last)
