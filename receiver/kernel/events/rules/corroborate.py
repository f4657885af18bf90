"""Judging a callback against CometAPI's own answer.

CometAPI does not sign its callbacks: the signed URL proves which task a callback is about,
not that the body is true. So a callback is a claim. What the relay applies and fans out
comes from an authenticated poll; the claim only gets a verdict:

- confirmed: CometAPI's answer agrees (the same state, or one further on; for a finished
  task, the claimed video among CometAPI's outputs);
- contradicted: CometAPI's answer disagrees, and either it is final or the claim is older
  than the corroboration window (a genuine callback can run ahead of the feed for a moment);
- unconfirmed: CometAPI could not be asked (unreachable, or `task_not_exist`) within the
  window.

Everything here is pure: the poller and the store call it with what they read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from receiver.kernel.events.rules.observation import Observation
from receiver.kernel.events.rules.states import TERMINAL_STATES, advances

Verdict = Literal["confirmed", "contradicted", "unconfirmed"]
PENDING = "pending"


@dataclass(frozen=True)
class Claim:
    """What one stored callback said about its task."""

    event_id: str
    state: str | None
    outputs: tuple[str, ...]
    received_at: float


def _where(url: str) -> tuple[str, str, str]:
    # Runway's CDN links are signed and re-signed on each fetch: the same file can come back
    # with another query string, so a video is the same one when its place is.
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower(), parts.path


def _same_videos(claimed: tuple[str, ...], answered: tuple[str, ...]) -> bool:
    known = {_where(url) for url in answered}
    return all(_where(url) in known for url in claimed)


def judge(claim: Claim, answer: Observation | None, now: float, window: float) -> Verdict | None:
    """The claim's verdict given CometAPI's answer (None: no answer), or None to ask again."""
    expired = now - claim.received_at >= window
    if answer is None or answer.state is None:
        return "unconfirmed" if expired else None
    if claim.state is None:
        return "confirmed"  # a hint with no claim of its own ("something changed"): answered
    if claim.state in TERMINAL_STATES:
        if answer.state == claim.state and _same_videos(claim.outputs, answer.outputs):
            return "confirmed"
        if answer.state in TERMINAL_STATES or expired:
            return "contradicted"
        return None
    if not advances(answer.state, claim.state):
        return "confirmed"  # CometAPI is at the claimed state or past it
    return "contradicted" if expired else None


def claim_of(callback: Observation) -> Observation:
    """What a callback's body may claim: a state and its outputs, never credits. Cost, like
    the state, is CometAPI's authenticated answer's; a callback's `point` and `refund` stay
    in its raw body. So under `trust_body` too: that setting skips waiting for CometAPI's
    word on the state, it does not make anyone's figures count in `relay_credits`."""
    return replace(callback, point=None, refund=None)


def retry_delay(claim_age: float) -> float:
    """When to ask CometAPI again about a claim it has not settled: soon for a fresh claim,
    backing off as it ages (about half its age, from a quarter second to ten seconds)."""
    return min(10.0, max(0.25, claim_age / 2))
