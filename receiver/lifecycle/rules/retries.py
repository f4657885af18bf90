"""The retry decision for one delivery attempt, as Svix and Convoy document theirs.

Pure: given what the attempt got back and which attempt it was, say whether the delivery
is done, is tried again (and when), or goes to the dead-letter state (and why).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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
    uniform: Callable[[float, float], float] = random.uniform,
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
    delay = policy.schedule[attempt - 1] * uniform(1 - policy.jitter, 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after))
    return Decision("retry", now + delay, failure)
