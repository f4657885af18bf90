"""When a copy of a render is tried, for how long, and when it is given up.

Pure: the mirror worker (receiver/media/mirror.py) asks these with the job's figures and
the clock. A copy exists so that its event's deliveries can carry it; once they can wait no
longer (`media.wait_seconds` after the event), trying on serves no one.
"""

from __future__ import annotations

_MAX_BACKOFF = 60.0


def attempt_seconds(started_at: float, now: float, wait: float, download_timeout: float) -> float:
    """How long the next attempt may take: the download timeout, cut short where the
    deliveries stop waiting (0 or less: that moment has passed)."""
    return min(download_timeout, started_at + wait - now)


def retry_in(
    attempts: int, started_at: float, now: float, wait: float, final: bool
) -> float | None:
    """Seconds until the next attempt after a failed one (`attempts` failed before it), with
    a backoff doubling from 1 s up to a minute; None when the copy is given up: trying
    again cannot help (`final`), or the deliveries could wait no longer by then."""
    if final:
        return None
    delay = min(_MAX_BACKOFF, 2.0 ** min(attempts, 6))
    if now + delay >= started_at + wait:
        return None
    return delay


def overdue_reason(wait: float, last_error: str | None) -> str:
    """Why a copy was given up when its deliveries could wait no longer."""
    reason = f"not copied within media.wait_seconds ({wait:g} s)"
    return f"{reason}; last error: {last_error}" if last_error else reason


# Why copies still to be made are given up when the relay starts with copying turned off.
TURNED_OFF = "media copies are turned off"
