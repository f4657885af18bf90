"""How callbacks, which are claims, are weighed: the bounds on what one task may keep, when
the poll a claim brings forward is due, and what a poll's answer settles.

Pure: the store reads the task and its pending claims, calls these, and writes what they
decide, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from receiver.kernel.events.rules.corroborate import Claim, Verdict, judge, retry_delay
from receiver.kernel.events.rules.observation import Observation
from receiver.kernel.events.rules.states import State


@dataclass(frozen=True)
class ClaimPolicy:
    """How callbacks are weighed (the `callbacks` config section)."""

    trust_body: bool  # apply a callback's state at once, unconfirmed (opt-in, risky)
    window: float  # how long a claim may wait for CometAPI to agree
    min_poll_gap: float  # the fewest seconds between two polls a callback may cause
    max_count: int  # callback bodies kept per task...
    max_bytes: int  # ...and their bytes; past either, a callback is a hint only


def over_history_bound(count: int, stored_bytes: int, size: int, policy: ClaimPolicy) -> bool:
    """Past the task's bound, a callback is not stored: it only brings the poll forward."""
    return count >= policy.max_count or stored_bytes + size > policy.max_bytes


def poll_due(now: float, last_polled_at: float | None, policy: ClaimPolicy) -> float:
    """When the poll a callback brings forward is due: now, but never sooner than
    `min_poll_gap` after the last poll (a flood of callbacks is not a flood of polls)."""
    return max(now, (last_polled_at or 0.0) + policy.min_poll_gap)


def judge_on_ended(
    task_state: str, task_outputs: list[str], claim: Observation, now: float
) -> Verdict | None:
    """A claim about a task that has already ended is judged at once, against what CometAPI
    said when it ended."""
    known = Observation(state=cast(State, task_state), outputs=tuple(task_outputs))
    return judge(Claim("", claim.state, claim.outputs, now), known, now, window=0.0)


@dataclass
class Settlement:
    """What one poll's answer does to the task's pending claims."""

    verdicts: list[tuple[Claim, Verdict]] = field(default_factory=list)
    waiting_since: float | None = None  # the oldest claim still unsettled


def settle(
    claims: list[Claim],
    answer: Observation | None,
    now: float,
    window: float,
    polled_again: bool,
) -> Settlement:
    """Judge each pending claim by CometAPI's answer; with no further poll coming
    (`polled_again` false), one that cannot be judged yet is `unconfirmed`."""
    out = Settlement()
    for claim in claims:
        verdict = judge(claim, answer, now, window)
        if verdict is None and not polled_again:
            verdict = "unconfirmed"  # no further poll will come to settle it
        if verdict is None:
            out.waiting_since = out.waiting_since or claim.received_at
            continue
        out.verdicts.append((claim, verdict))
    return out


def next_poll(
    now: float, scheduled: float | None, waiting_since: float | None, ended: bool
) -> float | None:
    """When to ask CometAPI next: a claim still unsettled brings the scheduled poll closer
    (sooner for a fresh claim); an ended task with nothing left to settle is not asked
    again."""
    if waiting_since is not None and scheduled is not None:
        return min(scheduled, now + retry_delay(now - waiting_since))
    return None if ended else scheduled
