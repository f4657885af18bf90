"""Who may do what: the fixed set of scopes an API key can hold, and the caller a request
was authenticated as.

`admin` covers every scope and every task; any other caller sees only its app's tasks: an
app owns what any of its keys made, so a key rotated loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from receiver.keys.rules.limits import NO_LIMITS, KeyLimits

Scope = Literal["tasks:submit", "tasks:read", "tasks:cancel", "downstreams", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the bootstrap admin token (`key_id` None) or an API key of
    an app (`app_id`)."""

    key_id: str | None
    name: str
    scopes: frozenset[Scope]
    limits: KeyLimits = NO_LIMITS  # its app's, on what it submits; the admin token has none
    app_id: str | None = None  # the app whose key it is: the owner of what it makes
    app: str = ""  # that app's name

    def allows(self, scope: Scope) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def sees_all(self) -> bool:
        """Every task, not only its own."""
        return "admin" in self.scopes

    @property
    def owner(self) -> str | None:
        """The app what it makes belongs to (None: the admin token's)."""
        return self.app_id if self.key_id is not None else None

    def owns(self, task_owner: str | None) -> bool:
        return self.sees_all or (task_owner is not None and task_owner == self.owner)

    @property
    def owner_filter(self) -> str | None:
        """The owner a task list is narrowed to (None: every task)."""
        return None if self.sees_all else self.owner or ""


BOOTSTRAP = Caller(None, "admin token", frozenset(SCOPES))


def parse_scopes(given: list[str]) -> frozenset[Scope]:
    """The scopes named, or ValueError naming the first unknown one."""
    known = set(SCOPES)
    for scope in given:
        if scope not in known:
            raise ValueError(f"unknown scope {scope!r}; the scopes are {', '.join(SCOPES)}")
    if not given:
        raise ValueError("at least one scope is needed")
    return frozenset(s for s in SCOPES if s in given)
