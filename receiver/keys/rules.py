"""What a key is and may do: the scopes it can hold and the caller a request was
authenticated as, with its own limits on what it submits, and its form and keyed hash.

`max_per_day` is a rolling 24 hours, not a calendar day, so that no burst fits at midnight;
the store counts under the key's lock, these decide whether one more task fits. `admin`
covers every scope and task; any other caller sees only its app's tasks (an app owns what
any of its keys made, so a key rotated loses nothing).

A key is `rr_` and 43 URL-safe characters, so secret scanners can find one that leaks, and
is stored only as an HMAC-SHA256 under keys derived from each of the relay's callback
secrets: a key is looked up under every one, so a rotation does not void the keys given out.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, get_args

from receiver.kernel.net.request_calls import Asker
from receiver.kernel.secrets.sealing import derive_key

Scope = Literal["tasks:submit", "tasks:read", "tasks:cancel", "downstreams", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

DAY_SECONDS = 86_400.0
# An open task frees its place when it ends, which no one can foretell: a render takes a
# minute or more, so asking again sooner than this only spends requests.
QUEUED_RETRY_SECONDS = 15

LimitName = Literal["max_queued", "max_per_day"]


@dataclass(frozen=True)
class KeyLimits:
    max_queued: int | None = None
    max_per_day: int | None = None

    @property
    def any(self) -> bool:
        return self.max_queued is not None or self.max_per_day is not None


NO_LIMITS = KeyLimits()


@dataclass(frozen=True)
class Usage:
    """What the key has now: its open tasks, the tasks it made since `day_start(now)`, and
    when the first of those that must leave the window for one more to fit was made (None
    while the day's limit is not reached)."""

    open_tasks: int
    made_in_day: int
    freeing_made_at: float | None = None


@dataclass(frozen=True)
class OverLimit:
    limit: LimitName
    retry_after: int  # whole seconds, at least 1
    reason: str


def day_start(now: float) -> float:
    """Where the day's window begins: a task made after it counts."""
    return now - DAY_SECONDS


def freeing_offset(limits: KeyLimits, made_in_day: int) -> int | None:
    """Which of the day's tasks, oldest first (0: the oldest), must leave the window before
    one more fits; None while one more fits now."""
    if limits.max_per_day is None or made_in_day < limits.max_per_day:
        return None
    return made_in_day - limits.max_per_day


def over_limit(limits: KeyLimits, usage: Usage, now: float) -> OverLimit | None:
    """None when one more task fits under every limit; else the limit it breaks (the day's
    first, which is the longer wait) and when to ask again."""
    if limits.max_per_day is not None and usage.made_in_day >= limits.max_per_day:
        made_at = usage.freeing_made_at if usage.freeing_made_at is not None else now
        wait = max(1, math.ceil(made_at + DAY_SECONDS - now))
        return OverLimit(
            "max_per_day",
            wait,
            f"this key's max_per_day is reached ({limits.max_per_day} tasks in 24 hours);"
            f" a place frees in {wait} s",
        )
    if limits.max_queued is not None and usage.open_tasks >= limits.max_queued:
        return OverLimit(
            "max_queued",
            QUEUED_RETRY_SECONDS,
            f"this key's max_queued is reached ({limits.max_queued} tasks not ended);"
            " a place frees when one of them ends",
        )
    return None


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
    # The app what it makes belongs to (None: the admin token's). Settled when the key is
    # resolved, so that a route reads it without asking the keys again.
    owner: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", self.app_id if self.key_id is not None else None)

    def allows(self, scope: Scope) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def sees_all(self) -> bool:
        """Every task, not only its own."""
        return "admin" in self.scopes

    def owns(self, task_owner: str | None) -> bool:
        return self.sees_all or (task_owner is not None and task_owner == self.owner)

    @property
    def asker(self) -> Asker:
        """Whose bound a call to a downstream it asks for counts under: its app's room (the
        admin token's and an app-less key's: the operator's own) and its key's rate."""
        return Asker(self.owner, self.key_id or "admin token")

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


PREFIX = "rr_"
_INFO = b"runway-relay api keys v1"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX) and 20 <= len(token) <= 100


class KeyHasher:
    """Hashes with the newest derived key; `digests` gives the hash under each, newest first."""

    def __init__(self, relay_secrets: list[str]) -> None:
        if not relay_secrets:
            raise ValueError("a key hasher needs at least one secret")
        self._secrets = list(relay_secrets)

    @cached_property
    def _keys(self) -> list[bytes]:
        # Derived at the first key hashed, not at start-up: a start to /healthz, and the
        # CLI listing the scopes, load no cryptography.
        return [derive_key(s, _INFO) for s in reversed(self._secrets)]

    def digest(self, key: str) -> str:
        return self.digests(key)[0]

    def digests(self, key: str) -> list[str]:
        return [hmac.new(k, key.encode(), hashlib.sha256).hexdigest() for k in self._keys]


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
