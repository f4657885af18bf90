"""What one report from CometAPI says about a task, whatever shape it came in."""

from __future__ import annotations

import math
from dataclasses import dataclass

from receiver.domain.states import State


@dataclass(frozen=True)
class Observation:
    """What one report from upstream says about a task."""

    state: State | None
    upstream_status: str | None = None
    upstream_task_id: str | None = None
    outputs: tuple[str, ...] = ()
    thumbnail: str | None = None
    error: str | None = None
    progress: str | None = None
    # Credits charged and refunded, as CometAPI's callback reports them (`point`, `refund`).
    point: float | None = None
    refund: float | None = None
    # When CometAPI says the task was created and last changed (epoch seconds).
    upstream_created_at: float | None = None
    upstream_updated_at: float | None = None


def progress_fraction(text: str | None) -> float | None:
    """Upstream's progress as a fraction from 0 to 1: CometAPI writes "45%", Runway's
    official format 0.45; anything else says nothing."""
    if text is None:
        return None
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    if percent or value > 1:
        value /= 100
    return min(value, 1.0)
