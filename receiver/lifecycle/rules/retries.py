"""The retries of a task's lifecycle, pure: what follows a send CometAPI refused, and when a
finished render's copy is tried again or given up (a poll's are polling.py's)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from receiver.lifecycle.rules.queue import SubmitPolicy
from receiver.outbox.rules.delivery import Uniform, jittered_wait


def submit_backoff(attempt: int, initial: float, maximum: float) -> float:
    """The wait after send number `attempt` (1 for the first) was refused."""
    return float(min(maximum, initial * 2 ** (attempt - 1)))


# What CometAPI (and Runway behind it) answers when it has no room now: throttled, or a
# gateway in trouble. No answer at all (refused, reset, timed out) is retried too.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


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
    """What CometAPI answered a send it did not take (`status` None: no answer)."""

    status: int | None
    reason: str
    retry_after: float | None = None


def after_refusal(
    policy: SubmitPolicy,
    attempt: int,
    queued_since: float,
    refusal: Refusal,
    now: float,
    uniform: Uniform = random.uniform,
) -> Refused:
    """Send number `attempt` (1 for the first) of a task queued at `queued_since` got
    `refusal`: a refusal that will not change fails it; else it waits, with a backoff and
    Retry-After. A 429 holds every send back as long, since the limit is the account's; any
    other refusal holds back its own task only. The last try is at its give-up time."""
    status, reason, retry_after = refusal.status, refusal.reason, refusal.retry_after
    if not retryable_submit(status):
        return Refused("failed", None, None, reason)
    backoff = submit_backoff(attempt, policy.initial_backoff, policy.max_backoff)
    delay = jittered_wait(backoff, policy.jitter, retry_after, policy.max_retry_after, uniform)
    pause = now + delay if status == 429 else None
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


# A finished render's copy exists so that its event's deliveries can carry it: once they can
# wait no longer (`media.wait_seconds` after the event), trying on serves no one.
_COPY_MAX_BACKOFF = 60.0


def copy_attempt_seconds(
    started_at: float, now: float, wait: float, download_timeout: float
) -> float:
    """How long the next attempt may take: the download timeout, cut short where the
    deliveries stop waiting (0 or less: that moment has passed)."""
    return min(download_timeout, started_at + wait - now)


def copy_retry_in(
    attempts: int, started_at: float, now: float, wait: float, final: bool
) -> float | None:
    """Seconds until the next attempt after a failed one, doubling from 1 s up to a minute;
    None when the copy is given up (`final`, or the deliveries could wait no longer)."""
    if final:
        return None
    delay = min(_COPY_MAX_BACKOFF, 2.0 ** min(attempts, 6))
    if now + delay >= started_at + wait:
        return None
    return delay


def copy_overdue_reason(wait: float, last_error: str | None) -> str:
    """Why a copy was given up when its deliveries could wait no longer."""
    reason = f"not copied within media.wait_seconds ({wait:g} s)"
    return f"{reason}; last error: {last_error}" if last_error else reason


# Why copies still to be made are given up when the relay starts with copying turned off.
COPIES_TURNED_OFF = "media copies are turned off"
