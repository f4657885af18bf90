"""What retention removes, and in what order: the prune rules.

Pure: the store reads the ended tasks past a cursor (oldest ended first) with what their
deliveries still need, these rules pick the ones that go and where the walk goes on, and
the store deletes each picked task with everything that hangs on it, a small batch per
transaction, so that the work never holds the database for long.

A task is pruned only when all of this holds:
- it has ended (succeeded, failed or cancelled) more than `task_days` ago; a task that has
  not ended is never pruned, however old;
- none of its deliveries still has work to do (pending, held for a disabled downstream,
  or waiting for a copy of its files): an operator may still recover a held one;
- none of its deliveries went dead less than `dead_letter_days` ago, so that dead letters
  can be kept for replay longer than the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from receiver.lifecycle.rules.task import TERMINAL_STATES

DAY = 86400.0

#: What a prune removes, in the order it is deleted (rows that point at others go first).
KINDS = ("attempts", "chat_messages", "mirrors", "deliveries", "events", "tasks")


@dataclass(frozen=True)
class RetentionPolicy:
    """The `retention` config section, as the rules need it."""

    task_days: float
    dead_letter_days: float
    batch_size: int  # tasks deleted per transaction

    def ended_before(self, now: float) -> float:
        """Tasks that ended before this may go."""
        return now - self.task_days * DAY

    def dead_before(self, now: float) -> float:
        """Dead letters that died before this no longer keep their task."""
        return now - self.dead_letter_days * DAY


@dataclass(frozen=True)
class Candidate:
    """An ended task, with what its deliveries still need."""

    task_id: str
    state: str
    ended_at: float | None
    unfinished: int  # deliveries still pending, held or waiting for a copy
    last_dead_at: float | None  # when its most recent dead letter died


@dataclass(frozen=True)
class Cursor:
    """Where a walk over the ended tasks stands: after this (ended_at, task_id)."""

    ended_at: float
    task_id: str


START = Cursor(float("-inf"), "")


@dataclass(frozen=True)
class Batch:
    """One step of the walk: the tasks to delete, and where the next step starts."""

    task_ids: list[str]
    cursor: Cursor
    last: bool  # nothing is left to look at past the cursor


def prunable(candidate: Candidate, policy: RetentionPolicy, now: float) -> bool:
    """Whether this task goes now, by the rules above."""
    if candidate.state not in TERMINAL_STATES or candidate.ended_at is None:
        return False
    if candidate.ended_at >= policy.ended_before(now):
        return False
    if candidate.unfinished:
        return False
    dead = candidate.last_dead_at
    return dead is None or dead < policy.dead_before(now)


def next_batch(
    candidates: list[Candidate], policy: RetentionPolicy, now: float, cursor: Cursor
) -> Batch:
    """The prunable ones among `candidates` (at most `batch_size` read past `cursor`,
    oldest ended first); the walk goes on after the last one read, so that tasks kept
    back (a dead letter held longer, a delivery still pending) are stepped over, not read
    again and again. Fewer than a batch read means the walk is over."""
    picked = [c.task_id for c in candidates if prunable(c, policy, now)]
    if not candidates:
        return Batch([], cursor, True)
    tail = candidates[-1]
    after = Cursor(tail.ended_at if tail.ended_at is not None else cursor.ended_at, tail.task_id)
    return Batch(picked, after, len(candidates) < policy.batch_size)


#: After a prune, free pages may stay up to this share of a SQLite file: new rows reuse them,
#: and giving every one back would only make the file grow again.
KEEP_FREE_SHARE = 0.05


def pages_to_free(free_pages: int, page_count: int, keep: float = KEEP_FREE_SHARE) -> int:
    """How many free pages to give back to the file system so that what stays free is at
    most `keep` of the file (each page given back shrinks the file by one page)."""
    excess = free_pages - keep * page_count
    if excess <= 0:
        return 0
    return min(free_pages, math.ceil(excess / (1 - keep)))
