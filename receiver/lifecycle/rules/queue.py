"""The submit queue's rules, pure: how many waiting tasks may go to CometAPI now, and which
of them (fair turns between keys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True)
class SubmitPolicy:
    max_concurrent: int | None  # tasks running upstream at once (sent, not ended); None: no cap
    give_up_seconds: float  # a task still not taken this long after it was queued fails
    initial_backoff: float  # the wait after the first refusal; it doubles each time
    max_backoff: float
    jitter: float  # each wait is shortened by a random share up to this
    max_retry_after: float  # CometAPI's Retry-After is honoured up to this


def free_slots(cap: int | None, running: int, paused_until: float, now: float) -> int | None:
    """How many waiting tasks may be sent now under `cap` (None: as many as are waiting)."""
    if now < paused_until:
        return 0
    if cap is None:
        return None
    return max(0, cap - running)


# Fair turns: each key's waiting tasks form a line, and the lines take turns by key, each
# sending up to its weight, so one key's batch cannot hold another's single task behind it.
# A turn outlives the claim that began it (`left`): a claim with room for one takes one.

T = TypeVar("T")


@dataclass(frozen=True)
class Turns(Generic[T]):
    chosen: list[T]  # in the order they are sent
    last: str | None  # the key served last
    left: int = 0  # how many more `last` may send in its turn before the key after it


def take_turns(
    lines: Mapping[str, Sequence[T]],
    after: str | None,
    slots: int,
    weights: Mapping[str, int] | None = None,
    left: int = 0,
) -> Turns[T]:
    """Up to `slots` of the waiting tasks, key by key in turn, each key's oldest first, up
    to its weight (at least 1) a turn: `after` goes on first if `left` of its turn remain,
    else the key after it starts."""

    def weight(key: str) -> int:
        return max(1, (weights or {}).get(key, 1))

    keys = sorted(k for k, line in lines.items() if line)
    if not keys or slots <= 0:
        return Turns([], after, left)
    if after in keys and left > 0:
        at, used = keys.index(after), max(0, weight(after) - left)
    else:
        at, used = next((i for i, k in enumerate(keys) if after is not None and k > after), 0), 0
    taken = dict.fromkeys(keys, 0)
    chosen: list[T] = []
    last, last_left = after, left
    while len(chosen) < slots and any(taken[k] < len(lines[k]) for k in keys):
        key = keys[at]
        if used < weight(key) and taken[key] < len(lines[key]):
            chosen.append(lines[key][taken[key]])
            taken[key] += 1
            used += 1
            last, last_left = key, weight(key) - used
            continue
        at, used = (at + 1) % len(keys), 0
    return Turns(chosen, last, last_left)
