"""When an alert is due, and to whom: the dedupe rule the store applies under a row lock, so
that however many replicas see a transition, one alert goes out per quiet window.

- `endpoint.failing` (its breaker opened, or a delivery went dead): unless a failing or
  disabled alert about it went out within the quiet window.
- `endpoint.disabled`: unless one went out within the quiet window (a failing alert does
  not hold it back: being disabled says more).
- `endpoint.recovered` (a delivery went through): only after a failing or disabled alert
  that no recovery has answered yet, so each problem told of is told to be over once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from receiver.lifecycle.rules.catalog import DISABLED, FAILING, RECOVERED
from receiver.lifecycle.rules.routing import TASK_WEBHOOK, owned_name, owner_of


@dataclass(frozen=True)
class Mark:
    """What was last told about one downstream (the store's `alert_marks` row)."""

    open_kind: str | None = None  # a failing or disabled alert not yet answered by a recovery
    failing_at: float | None = None
    disabled_at: float | None = None


def due(mark: Mark, kind: str, now: float, quiet: float) -> bool:
    """Whether an alert of `kind` about the downstream goes out now."""
    if kind == RECOVERED:
        return mark.open_kind is not None
    return now >= quiet_until(mark, kind, quiet)


def quiet_until(mark: Mark, kind: str, quiet: float) -> float:
    """When an alert of this kind (failing or disabled) may next go out."""
    told = [mark.disabled_at] if kind == DISABLED else [mark.failing_at, mark.disabled_at]
    last = max((t for t in told if t is not None), default=None)
    return float("-inf") if last is None else last + quiet


def after(mark: Mark, kind: str, now: float) -> Mark:
    """The mark once an alert of `kind` went out."""
    if kind == RECOVERED:
        return replace(mark, open_kind=None)
    if kind == FAILING:
        return replace(mark, open_kind=FAILING, failing_at=now)
    return replace(mark, open_kind=DISABLED, disabled_at=now)


def targets(
    about: str, operator: str, app_choice: str | None, known: Callable[[str], bool]
) -> list[str]:
    """The downstreams an alert about `about` goes to: the operator's alert downstream, and
    the one its app named (kept as `<app id>.<name>`), each when it exists; never the
    downstream the alert is about, and nothing about a task's own webhook."""
    if about == TASK_WEBHOOK:
        return []
    owner = owner_of(about)
    chosen = [operator]
    if owner is not None and app_choice:
        chosen.append(owned_name(owner, app_choice))
    return [t for t in dict.fromkeys(chosen) if t and t != about and known(t)]
