"""The retry and backoff rules of a task's lifecycle, side by side: what follows a send
CometAPI refused (the submit queue), how far apart the polls of a task go when they fail or
its callback does not come, what follows a delivery attempt (as Svix and Convoy document
theirs) and when a downstream whose attempts keep failing is left alone (its breaker), and
when a finished render's copy is tried again or given up.

Pure: given what came back and which attempt it was, say whether there is another try and
when, or why there is none.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from receiver.lifecycle.rules.queue import SubmitPolicy

Uniform = Callable[[float, float], float]  # a random number between its two bounds


def jittered_wait(
    backoff: float,
    jitter: float,
    retry_after: float | None,
    max_retry_after: float,
    uniform: Uniform,
) -> float:
    """`backoff` shortened by a random share up to `jitter`, never less than the answer's
    Retry-After asks (honoured up to `max_retry_after`)."""
    delay = backoff * uniform(1 - jitter, 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay


def submit_backoff(attempt: int, initial: float, maximum: float) -> float:
    """The wait after send number `attempt` (1 for the first) was refused: doubling from
    `initial`, up to `maximum`."""
    return float(min(maximum, initial * 2 ** (attempt - 1)))


def poll_backoff(attempts: int, interval: float, factor: float, maximum: float) -> float:
    """The wait before the next poll of a task asked `attempts` times (CometAPI failed the
    last, or a callback task is past its grace): growing by `factor` from `interval`, up to
    `maximum`."""
    return float(min(maximum, interval * factor**attempts))


# Submits: a send CometAPI did not take.

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
    uniform: Uniform = random.uniform,
) -> Refused:
    """Send number `attempt` (1 for the first) of a task queued at `queued_since` got
    `refusal`.

    A refusal that will not change fails the task at once with CometAPI's words. Otherwise
    it waits, doubling from `initial_backoff` up to `max_backoff`, never less than
    Retry-After asks (up to `max_retry_after`); a 429 holds every send back as long, since
    the limit is the account's. Any other refusal, Retry-After or not, holds back its own
    task only: CometAPI answering one request 503 is that request's to bear, not the other
    apps' tasks behind it. The task fails only once its own give-up time
    (`give_up_seconds` after it was queued) has passed; a wait that would end later is cut
    to that time, for a last try.
    """
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


# Deliveries: one attempt to a downstream.

# Timeouts and throttling and server trouble pass; any other 4xx is the request's fault,
# and sending it again will not help.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...]  # seconds before each retry; the first attempt is at once
    jitter: float  # each wait is shortened by a random share up to this
    max_retry_after: float  # a downstream's Retry-After is honoured up to this


@dataclass(frozen=True)
class Decision:
    outcome: Literal["succeeded", "retry", "dead", "filtered"]
    next_attempt_at: float  # when to try again (retry), else when decided
    error: str | None  # why it failed, kept in last_error

    @property
    def state(self) -> str:
        """The outbox row's state after this attempt."""
        return row_state(self.outcome)


def row_state(outcome: str) -> str:
    """The outbox row's state after an attempt with this outcome: a retry stays pending."""
    return "pending" if outcome == "retry" else outcome


def retryable(status: int | None) -> bool:
    """None is a failure with no answer (refused, reset, timed out): always worth a retry."""
    return status is None or status in RETRYABLE_STATUSES or status >= 500


@dataclass(frozen=True)
class Answer:
    """What one attempt got back: `status` (None: no answer) or the `failure`, with the
    downstream's Retry-After in seconds."""

    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None
    abort: bool = False  # the receiver answered `webhook-delivery: abort-message`
    confirmed: bool = False  # a broker confirmed the message (brokers answer no HTTP status)


def decide(
    policy: RetryPolicy,
    attempt: int,
    answer: Answer,
    now: float,
    uniform: Uniform = random.uniform,
) -> Decision:
    """What follows attempt number `attempt` (1 for the first), which got `answer`."""
    status, failure, retry_after = answer.status, answer.failure, answer.retry_after
    if answer.confirmed or (status is not None and 200 <= status < 300):
        return Decision("succeeded", now, None)
    if answer.abort:
        return Decision("dead", now, f"the receiver asked to stop retrying; {failure}")
    if not retryable(status):
        return Decision("dead", now, failure)
    if attempt > len(policy.schedule):
        return Decision("dead", now, f"gave up after {attempt} attempts; last: {failure}")
    backoff = policy.schedule[attempt - 1]
    delay = jittered_wait(backoff, policy.jitter, retry_after, policy.max_retry_after, uniform)
    return Decision("retry", now + delay, failure)


# A downstream's breaker (Convoy's rule): it opens when, over the last `window` seconds, at
# least `min_attempts` attempts were made and at least `failure_rate` of them failed; the
# downstream is then left alone (`open`) for `cool_off` seconds; then one probe is let
# through (`half_open`); its success closes the breaker, its failure opens it again.
# Counting a rate over a window, not failures in a row, keeps a flaky downstream (one
# attempt in two fails) served: runs of failures come by chance, and each run would have
# paused it.
BreakerState = Literal["closed", "half_open", "open"]
# For the `relay_downstream_state` gauge; `disabled` is an operator's or the relay's decision.
STATE_NUMBERS = {"closed": 0, "half_open": 1, "open": 2, "disabled": 3}


@dataclass
class Breaker:
    failure_rate: float  # the share of failed attempts in the window that opens it
    min_attempts: int  # no verdict on fewer attempts than this in the window
    window: float  # seconds of attempts that count
    cool_off: float  # seconds it stays open before a probe
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, failed)
    failed_in_window: int = 0
    opened_at: float | None = None
    probing: bool = False  # the half-open probe is in flight

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        return "half_open" if now - self.opened_at >= self.cool_off else "open"

    def allowance(self, now: float) -> int | None:
        """How many attempts may start now: None for no limit, 0 or 1 otherwise."""
        state = self.state(now)
        if state == "closed":
            return None
        if state == "half_open" and not self.probing:
            return 1
        return 0

    def started(self, now: float) -> None:
        if self.state(now) == "half_open":
            self.probing = True

    def succeeded(self, now: float) -> None:
        if self.opened_at is not None:
            self._reset(None)  # the probe (or a straggler) got through: closed again
            return
        self._note(now, failed=False)

    def untried(self) -> None:
        """An attempt that never reached the downstream (the relay's own overload): it says
        nothing of its health, and a probe it was goes again."""
        self.probing = False

    def failed(self, now: float) -> None:
        if self.probing:
            self._reset(now)  # the probe failed: open again, for a whole cool-off
            return
        if self.opened_at is not None:
            return  # an attempt that started before it opened
        self._note(now, failed=True)
        attempts = len(self.outcomes)
        if attempts >= self.min_attempts and self.failed_in_window >= self.failure_rate * attempts:
            self._reset(now)

    def _note(self, now: float, failed: bool) -> None:
        self.outcomes.append((now, failed))
        self.failed_in_window += failed
        while self.outcomes and self.outcomes[0][0] <= now - self.window:
            self.failed_in_window -= self.outcomes.popleft()[1]

    def _reset(self, opened_at: float | None) -> None:
        self.outcomes.clear()
        self.failed_in_window = 0
        self.opened_at, self.probing = opened_at, False


# A finished render's copy (the mirror worker, receiver/media/mirror.py, asks with the job's
# figures and the clock): when it is tried, for how long, and when it is given up. A copy
# exists so that its event's deliveries can carry it; once they can wait no longer
# (`media.wait_seconds` after the event), trying on serves no one.
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
    """Seconds until the next attempt after a failed one (`attempts` failed before it), with
    a backoff doubling from 1 s up to a minute; None when the copy is given up: trying
    again cannot help (`final`), or the deliveries could wait no longer by then."""
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
