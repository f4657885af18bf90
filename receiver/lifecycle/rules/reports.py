"""What CometAPI tells of a task, and how far the relay believes it: an observation (what one
report says, whatever shape it came in; its progress as a fraction; its credits, when they
can be a price), and a callback's claim weighed against CometAPI's own answer.

CometAPI does not sign its callbacks: the signed URL proves which task a callback is about,
not that the body is true. So a callback is a claim. What the relay applies and fans out
comes from an authenticated poll; the claim only gets a verdict:

- confirmed: CometAPI's answer agrees (the same state, or one further on; for a finished
  task, the claimed video among CometAPI's outputs);
- contradicted: CometAPI's answer disagrees, and either it is final or the claim is older
  than the corroboration window (a genuine callback can run ahead of the feed for a moment);
- unconfirmed: CometAPI could not be asked (unreachable, or `task_not_exist`) within the
  window.

The bounds on what one task may keep of its callbacks, when the poll a claim brings forward
is due, what a poll's answer settles, and what a failed render's code allows (another try)
and may tell an end user are here too. Everything here is pure: the transactions
read the task and its pending claims, call these, and write what they decide, in one
transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, cast
from urllib.parse import urlsplit

from receiver.lifecycle.rules.task import TERMINAL_STATES, State, advances


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


# --- failed renders ----------------------------------------------------------------------
# Runway's failure codes: `INTERNAL.BAD_OUTPUT.*` and `INTERNAL` may come out right when run
# again; `SAFETY.*` never will, nor will input errors (`INPUT_PREPROCESSING.*`, `ASSET.*`).


def worth_resubmitting(code: str | None) -> bool:
    return code is not None and (code == "INTERNAL" or code.startswith("INTERNAL.BAD_OUTPUT."))


def resubmit(code: str | None, resubmits_done: int, allowed: int) -> bool:
    """Whether a task that failed upstream with `code` is sent again as a new upstream task."""
    return resubmits_done < allowed and worth_resubmitting(code)


# Most specific first: a code takes the message of the first prefix it starts with. Runway
# advises against showing its raw failure text to end users; these say what they can do.
_MESSAGES: tuple[tuple[str, str], ...] = (
    ("SAFETY.OUTPUT.", "The result was withheld by content moderation."),
    ("SAFETY.", "The request was declined by content moderation."),
    ("INPUT_PREPROCESSING.SAFETY.", "The request was declined by content moderation."),
    ("INPUT_PREPROCESSING.", "The input could not be processed. Check the source and retry."),
    ("ASSET.", "The input file is not valid. Check its format, length and size."),
    ("INTERNAL.BAD_OUTPUT.", "The render did not come out right. Trying again may work."),
    ("INTERNAL", "The provider had an internal error. Trying again may work."),
)
DEFAULT_FAILURE_MESSAGE = "The render could not be completed."


def failure_message(code: str | None) -> str:
    """A short message about a failed task, safe to show an end user."""
    for prefix, message in _MESSAGES:
        if code is not None and code.startswith(prefix):
            return message
    return DEFAULT_FAILURE_MESSAGE
