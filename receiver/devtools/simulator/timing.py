"""A task's own timing, read from its prompt, so that a test or the bench can run tasks of
varied lengths in one simulator: `queue=3 run=45` (seconds PENDING, then RUNNING),
`curve=1.4` (progress grows as the running share to that power: uneven), `noprogress`
(CometAPI reports none), `failat=0.5` (fails that share of the way through its run).
Anything not given takes the simulator's own settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"(\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class Timing:
    queued_seconds: float
    running_seconds: float
    curve: float = 1.0
    shows_progress: bool = True
    fails_midway: bool = False
    planned_seconds: float = 0.0  # the whole run its progress counts against (failat)


def _number(prompt: str, name: str) -> float | None:
    found = re.search(rf"\b{name}={_NUMBER}", prompt)
    return float(found[1]) if found else None


def timing_of(prompt: str, queued_seconds: float, running_seconds: float) -> Timing:
    """The timing the prompt asks for, the simulator's defaults for the rest."""
    queued = _number(prompt, "queue")
    running = _number(prompt, "run")
    fail_at = _number(prompt, "failat")
    running = running_seconds if running is None else running
    return Timing(
        queued_seconds=queued_seconds if queued is None else queued,
        running_seconds=running * min(fail_at, 1.0) if fail_at is not None else running,
        curve=_number(prompt, "curve") or 1.0,
        shows_progress=re.search(r"\bnoprogress\b", prompt) is None,
        fails_midway=fail_at is not None,
        planned_seconds=running,
    )
