"""What one report from CometAPI says about a task, whatever shape it came in."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from receiver.kernel.events.rules.states import State


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
    # Credits charged and refunded (`point`, `refund`), as CometAPI reports them; kept only
    # from its authenticated answers, and only when sane_credits lets them through.
    point: float | None = None
    refund: float | None = None
    # When CometAPI says the task was created and last changed (epoch seconds).
    upstream_created_at: float | None = None
    upstream_updated_at: float | None = None
    # Runway's code for a failure (`failureCode`, e.g. `SAFETY.INPUT.TEXT`), when it gave one.
    failure_code: str | None = None


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


# CometAPI prices one Runway render in points in the hundreds. A figure past this bound is
# no price but a fault or a forgery, and a single one would swamp every sum over the tasks.
MAX_CREDITS = 1_000_000.0


def _sane(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 <= value <= MAX_CREDITS)


def sane_credits(obs: Observation) -> tuple[Observation, dict[str, str]]:
    """`obs` without a credit figure that cannot be a price (not finite, negative, or past
    MAX_CREDITS), and the figures it dropped, by name and as read, for the warning."""
    refused = {
        name: str(value)
        for name, value in (("point", obs.point), ("refund", obs.refund))
        if not _sane(value)
    }
    if not refused:
        return obs, refused
    point = None if "point" in refused else obs.point
    refund = None if "refund" in refused else obs.refund
    return replace(obs, point=point, refund=refund), refused
