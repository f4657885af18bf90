"""When an alert is due, and to whom: the rule the store applies under a row lock, so that
however many replicas see a transition, at most one alert about a downstream goes out per
quiet window, whatever its kind.

- Past the window, a transition is told: `endpoint.failing` (its breaker opened, or a
  delivery went dead) and `endpoint.disabled` always (a failure still going on is told
  again once a window), `endpoint.recovered` (a delivery went through) only after a failing
  or disabled alert that no recovery has answered yet.
- Within the window, nothing goes out, but the latest transition is kept (`held`): when the
  window ends, one alert tells the downstream's state then, if it differs from the last one
  told (failing told, recovered held: recovered goes out; failed again meanwhile: nothing).
- What is told joins its app's digest of that kind: one message a kind per app per quiet
  window names every downstream told in it (the first `LISTED`, then how many more), so
  an app's forty downstreams failing together make one message, not forty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from receiver.outbox.rules.delivery import is_task_webhook, owned_name, owner_of, shown_name
from receiver.outbox.rules.event_types import DISABLED, FAILING, RECOVERED

PROBLEMS = (FAILING, DISABLED)
# A digest names this many downstreams, then says how many more: one app cannot make the
# message huge. Each one's reason is cut to `REASON_CHARS`.
LISTED = 20
REASON_CHARS = 200


@dataclass(frozen=True)
class Mark:
    """What was told about one downstream, and what waits for the window's end (the store's
    `alert_marks` row)."""

    open_kind: str | None = None  # a failing or disabled alert not yet answered by a recovery
    failing_at: float | None = None
    disabled_at: float | None = None
    sent_at: float | None = None  # the last alert of any kind, a recovery too
    held_kind: str | None = None  # the latest transition the window held back
    held_reason: str | None = None


@dataclass(frozen=True)
class Decision:
    mark: Mark  # the mark kept from now on
    send: str | None = None  # the alert that goes out now (None: none)
    reason: str = ""


def told_at(mark: Mark) -> float | None:
    """When the last alert about it went out (None: never)."""
    times = (mark.failing_at, mark.disabled_at, mark.sent_at)
    return max((t for t in times if t is not None), default=None)


def quiet_until(mark: Mark, quiet: float) -> float:
    """When the next alert about it may go out."""
    last = told_at(mark)
    return float("-inf") if last is None else last + quiet


def last_told(mark: Mark) -> str | None:
    """The kind of the last alert about it (None: none ever)."""
    if mark.open_kind is not None:
        return mark.open_kind
    return RECOVERED if told_at(mark) is not None else None


def latest(mark: Mark) -> str | None:
    """What the store last heard of it: the transition held back, or the last one told."""
    return mark.held_kind or last_told(mark)


def news(kind: str, last: str | None) -> bool:
    """Whether telling `kind` now changes what was last told (being disabled says more than
    failing; a recovery answers either)."""
    if kind == RECOVERED:
        return last in PROBLEMS
    if kind == FAILING:
        return last not in PROBLEMS
    return last != DISABLED


def decide(mark: Mark, kind: str, reason: str, now: float, quiet: float) -> Decision:
    """A transition of `kind`: told now, held for the window's end, or no news."""
    if now < quiet_until(mark, quiet):
        return Decision(replace(mark, held_kind=kind, held_reason=reason))
    cleared = replace(mark, held_kind=None, held_reason=None)  # this transition is newer
    if kind == RECOVERED and last_told(mark) not in PROBLEMS:
        return Decision(cleared)
    return Decision(told(cleared, kind, now), kind, reason)


def at_window_end(mark: Mark, now: float, quiet: float, disabled: bool) -> Decision | None:
    """What a held transition comes to once the window is over (None: not over, or none
    held): one alert when it is news, else nothing, and the mark without it. A downstream
    held as disabled and enabled again since is not told disabled (`disabled`: it still is)."""
    if mark.held_kind is None or now < quiet_until(mark, quiet):
        return None
    kind, reason = mark.held_kind, mark.held_reason or ""
    cleared = replace(mark, held_kind=None, held_reason=None)
    if not news(kind, last_told(mark)) or (kind == DISABLED and not disabled):
        return Decision(cleared)
    return Decision(told(cleared, kind, now), kind, reason)


def told(mark: Mark, kind: str, now: float) -> Mark:
    """The mark once an alert of `kind` went out."""
    if kind == RECOVERED:
        return replace(mark, open_kind=None, sent_at=now)
    if kind == FAILING:
        return replace(mark, open_kind=FAILING, failing_at=now, sent_at=now)
    return replace(mark, open_kind=DISABLED, disabled_at=now, sent_at=now)


def sent_in_digest(mark: Mark, kind: str, now: float) -> Mark:
    """The mark once the digest naming it as `kind` went out: its window runs from the
    message, not from when it joined the digest (only the times: what is open stays)."""
    if kind == FAILING:
        return replace(mark, failing_at=now, sent_at=now)
    if kind == DISABLED:
        return replace(mark, disabled_at=now, sent_at=now)
    return replace(mark, sent_at=now)


def worth_asking(mark: Mark | None, kind: str, now: float, quiet: float) -> bool:
    """Whether a process that last saw `mark` should take a transition to the store: not a
    recovery of what is no problem, nor what the store already holds within its window."""
    seen = latest(mark) if mark is not None else None
    if kind == RECOVERED:
        return seen in PROBLEMS
    return mark is None or seen != kind or now >= quiet_until(mark, quiet)


def targets(
    about: str, operator: str, app_choice: str | None, known: Callable[[str], bool]
) -> list[str]:
    """The downstreams an alert about `about` goes to: the operator's alert downstream, and
    the one its app named (kept as `<app id>.<name>`), each when it exists; never the
    downstream the alert is about, and nothing about a task's own webhook."""
    if is_task_webhook(about):
        return []
    return digest_targets(owner_of(about), operator, app_choice, known, {about})


def digest_targets(
    owner: str | None,
    operator: str,
    app_choice: str | None,
    known: Callable[[str], bool],
    named: set[str],
) -> list[str]:
    """Where an alert about the downstreams `named` of the app `owner` (None: the relay's
    own) goes: the operator's and the app's alert downstreams, but none it names (failing,
    it could not take it)."""
    chosen = [operator]
    if owner is not None and app_choice:
        chosen.append(owned_name(owner, app_choice))
    return [t for t in dict.fromkeys(chosen) if t and t not in named and known(t)]


@dataclass(frozen=True)
class Entry:
    """One downstream a digest names (its full name), and why it is told."""

    downstream: str
    reason: str
    failing_since: float | None


def digest_due(waiting_since: float, sent_at: float | None, wait: float, quiet: float) -> float:
    """When a digest waiting since `waiting_since` goes out: after its wait, and not within
    the window of the one before it."""
    after_last = float("-inf") if sent_at is None else sent_at + quiet
    # At most half the window: an app's failing digest goes before a recovery of one it
    # names can join the next (a window after it joined).
    return max(waiting_since + min(wait, quiet / 2), after_last)


def shortened(reason: str) -> str:
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"


def _summary(kind: str, count: int) -> str:
    if kind == RECOVERED:
        return f"{count} downstreams deliver again"
    if kind == FAILING:
        return f"{count} downstreams are failing"
    return f"{count} downstreams were disabled"


def digest_fields(kind: str, app: str | None, entries: list[Entry]) -> dict[str, object]:
    """The event's own fields: a digest of one reads as the alert about that downstream did
    (its `downstream`, `reason`, `failing_since`); of more, `downstream` is null and
    `reason` says how many. `downstreams` lists the first `LISTED`, `more` counts the rest."""
    listed = [
        {
            "downstream": shown_name(e.downstream),
            "reason": shortened(e.reason),
            "failing_since": e.failing_since,
        }
        for e in entries[:LISTED]
    ]
    since = [e.failing_since for e in entries if e.failing_since is not None]
    one = len(entries) == 1
    return {
        "downstream": listed[0]["downstream"] if one else None,
        "app": app,
        "reason": listed[0]["reason"] if one else _summary(kind, len(entries)),
        "failing_since": min(since) if since else None,
        "downstreams": listed,
        "more": len(entries) - len(listed),
    }
