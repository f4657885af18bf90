"""Which workers a recorded change wakes: the one rule, for every step that records one."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from receiver.lifecycle.rules.records import Recorded
from receiver.lifecycle.rules.reports import PENDING
from receiver.lifecycle.rules.task import TERMINAL_STATES


class Work(enum.Flag):
    """The workers a committed change can have something new for."""

    NONE = 0
    DELIVERIES = enum.auto()  # outbox rows to send
    POLLS = enum.auto()  # a task to ask CometAPI about now
    MIRRORS = enum.auto()  # a finished render to copy
    SUBMITS = enum.auto()  # a task to send to CometAPI, or room for one under the cap


@dataclass(frozen=True)
class Wakeups:
    """What a recorded observation can give work to, as the configuration sets it up:
    `mirroring`, finished renders are copied; `capped`, a cap on the tasks running upstream
    is set, so a task that ends may make room for a waiting one."""

    mirroring: bool
    capped: bool = True

    def work_after(self, recorded: Recorded, handed: frozenset[str] = frozenset()) -> Work:
        """Which workers a recorded observation gives something to do. `handed`:
        deliveries already handed to this process's fan-out, which need no claim."""
        work = Work.NONE
        if set(recorded.delivery_ids) - handed:
            work |= Work.DELIVERIES
        pending = recorded.verdict == PENDING and recorded.poll is None
        if pending or recorded.outcome == "over_limit":
            work |= Work.POLLS  # a poll the callback leased is handed to the poller instead
        task = recorded.task
        applied = recorded.outcome == "applied"
        if self.mirroring and applied and task and task.state == "succeeded":
            work |= Work.MIRRORS
        if self.capped and applied and task and task.state in TERMINAL_STATES:
            work |= Work.SUBMITS  # it ran upstream, and no longer counts against the cap
        return work
