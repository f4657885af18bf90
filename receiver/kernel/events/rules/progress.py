"""Progress events: when a running task's progress is worth telling its subscribers, how a
newer figure takes the place of one not yet sent, and what a terminal event does to those
still waiting.

Pure: the store reads the task's last progress event and the progress deliveries still
waiting, and writes what these rules decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from receiver.kernel.events.rules.poll_timing import end_from_progress
from receiver.kernel.events.rules.routing import RowState
from receiver.kernel.events.rules.states import TERMINAL_STATES

# The event a downstream (its `events`) or a task's webhook (`webhook_events`) subscribes to.
PROGRESS = "progress"
# The webhook format's `type` of a progress event, and the source of its event row.
PROGRESS_TYPE = "task.progress"


@dataclass(frozen=True)
class LastSent:
    """The task's latest progress event: its figure and when it was made."""

    progress: float
    at: float


def progress_due(
    state: str, progress: float | None, last: LastSent | None, now: float, every: float
) -> bool:
    """Whether a report of `progress` on a task now in `state` makes a progress event: only
    while it runs, only a figure above the last one told (so subscribers never see it go
    back), and at most one per `every` seconds."""
    if state != "running" or progress is None or progress <= 0:
        return False
    if last is None:
        return True
    return progress > last.progress and now - last.at >= every


def estimated_end(started_at: float | None, now: float, progress: float) -> str | None:
    """The end the progress since the task was first seen running points to, as an ISO
    8601 time in UTC; None: unknown (not seen running before, or too little progress)."""
    end = None if started_at is None else end_from_progress(started_at, now, progress)
    if end is None:
        return None
    return datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Waiting:
    """A progress delivery of the task not yet sent: its row, downstream, state, attempts so
    far and lease (None: none)."""

    id: str
    downstream: str
    state: str
    attempts: int
    lease_until: float | None


def replaceable(row: Waiting, now: float) -> bool:
    """A waiting row whose event may still be swapped for a newer one: never attempted, and
    not leased to a worker that may be sending it now."""
    unleased = row.lease_until is None or row.lease_until < now
    return row.state in ("pending", "held") and row.attempts == 0 and unleased


@dataclass(frozen=True)
class Coalesced:
    """A progress event's deliveries: new rows, and waiting rows that now carry it."""

    new: list[tuple[str, RowState]]
    replaced: list[str]


def coalesce(
    wanted: Sequence[tuple[str, RowState]], waiting: Sequence[Waiting], now: float
) -> Coalesced:
    """For each downstream that takes the event: the row it already has waiting takes the
    newer event in place of the older one, when it still can; otherwise a new row."""
    by_downstream = {w.downstream: w for w in waiting if replaceable(w, now)}
    new: list[tuple[str, RowState]] = []
    replaced: list[str] = []
    for name, row_state in wanted:
        found = by_downstream.get(name)
        if found is None:
            new.append((name, row_state))
        else:
            replaced.append(found.id)
    return Coalesced(new, replaced)


def supersedes(state: str) -> bool:
    """Whether an event in `state` ends the progress deliveries still waiting: a terminal
    event is never held behind them, and a figure told after the end would mislead."""
    return state in TERMINAL_STATES
