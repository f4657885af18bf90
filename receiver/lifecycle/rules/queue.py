"""The submit queue's rules: how many waiting tasks may go to CometAPI now, which of them
(fair turns between keys), and what follows a send CometAPI refused.

Pure: the store counts, these functions decide, the submit worker acts. Waiting tasks go
in submission order (the store reads them oldest first); this module says how many.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

# What CometAPI (and Runway behind it) answers when it has no room now: throttled, or a
# gateway in trouble. No answer at all (refused, reset, timed out) is retried too.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class SubmitPolicy:
    max_concurrent: int | None  # tasks running upstream at once (sent, not ended); None: no cap
    give_up_seconds: float  # a task still not taken this long after it was queued fails
    initial_backoff: float  # the wait after the first refusal; it doubles each time
    max_backoff: float
    jitter: float  # each wait is shortened by a random share up to this
    max_retry_after: float  # CometAPI's Retry-After is honoured up to this


def free_slots(cap: int | None, running: int, paused_until: float, now: float) -> int | None:
    """How many waiting tasks may be sent now (None: as many as are waiting) under `cap`,
    given how many run upstream (sent and not ended, counted over every replica) and until
    when CometAPI asked every sender to wait."""
    if now < paused_until:
        return 0
    if cap is None:
        return None
    return max(0, cap - running)


def retryable_submit(status: int | None) -> bool:
    """None: no answer (refused, reset, timed out)."""
    return status is None or status in RETRY_STATUSES


@dataclass(frozen=True)
class Refused:
    """What follows a send that CometAPI did not take."""

    outcome: Literal["retry", "failed"]
    retry_at: float | None  # retry: when the task is sent again
    pause_until: float | None  # every send waits until then (CometAPI throttles the account)
    error: str  # the attempt's reason; failed: the task's error


@dataclass(frozen=True)
class Refusal:
    """What CometAPI answered a send it did not take: its `status` (None: no answer), the
    `reason`, and its Retry-After in seconds."""

    status: int | None
    reason: str
    retry_after: float | None = None


def after_refusal(
    policy: SubmitPolicy,
    attempt: int,
    queued_since: float,
    refusal: Refusal,
    now: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Refused:
    """Send number `attempt` (1 for the first) of a task queued at `queued_since` got
    `refusal`.

    A refusal that will not change fails the task at once with CometAPI's words. Otherwise
    it waits, doubling from `initial_backoff` up to `max_backoff`, never less than
    Retry-After asks (up to `max_retry_after`); a 429 or a Retry-After holds every send back
    as long, since the limit is the account's. The task fails only once its own give-up time
    (`give_up_seconds` after it was queued) has passed; a wait that would end later is cut
    to that time, for a last try.
    """
    status, reason, retry_after = refusal.status, refusal.reason, refusal.retry_after
    if not retryable_submit(status):
        return Refused("failed", None, None, reason)
    backoff = min(policy.max_backoff, policy.initial_backoff * 2 ** (attempt - 1))
    delay = backoff * uniform(1 - policy.jitter, 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after))
    pause = now + delay if status == 429 or retry_after is not None else None
    give_up_at = queued_since + policy.give_up_seconds
    if now >= give_up_at:
        waited = now - queued_since
        return Refused(
            "failed",
            None,
            pause,
            f"CometAPI had no room for {_duration(waited)} ({attempt} attempts); last: {reason}",
        )
    return Refused("retry", min(now + delay, give_up_at), pause, reason)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# Fair turns between API keys in the submit queue: which waiting tasks are sent next.
#
# Each key's waiting tasks form a line, oldest first. The lines take turns in a fixed order
# (by key), each sending up to its weight per turn, so one key's batch of hundreds cannot
# hold another key's single task behind it, and a key of weight 3 sends three tasks for each
# one of a key of weight 1. A turn outlives the claim that began it: a claim with room for
# one task (a cap of 1, or a slot freed) takes one, and the next claim goes on with the same
# key while its turn has tasks left (`left`), then with the key after it. The admin token's
# tasks are a line of their own.

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
