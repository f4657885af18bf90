"""A circuit breaker and a token bucket for one downstream, both pure: the caller passes
the time, so their rules are tested without waiting.

Breaker: after `failures` attempts in a row fail, the downstream is left alone (`open`)
for `cool_off` seconds; then one probe is let through (`half_open`); its success closes the
breaker, its failure opens it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "half_open", "open"]
# For the `relay_downstream_state` gauge; `disabled` is an operator's or the relay's decision.
STATE_NUMBERS = {"closed": 0, "half_open": 1, "open": 2, "disabled": 3}


@dataclass
class Breaker:
    failures: int  # attempts in a row that open the breaker
    cool_off: float  # seconds it stays open before a probe
    failed_in_a_row: int = 0
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

    def succeeded(self) -> None:
        self.failed_in_a_row, self.opened_at, self.probing = 0, None, False

    def failed(self, now: float) -> None:
        self.failed_in_a_row += 1
        if self.probing or (self.opened_at is None and self.failed_in_a_row >= self.failures):
            self.opened_at = now
        self.probing = False


@dataclass
class TokenBucket:
    """At most `rate` attempts a second on average, bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float = field(default=0.0)
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def available(self, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def take(self, count: int) -> None:
        self.tokens -= count
