"""What a key is and may do: the scopes it can hold and the caller a request was
authenticated as, with its own limits on what it submits (their rules are the submit
queue's, receiver/lifecycle/rules/quotas.py, applied where its tasks are counted), and its
form and keyed hash.

Who may do what: `admin` covers every scope and every task; any other caller sees only its
app's tasks: an app owns what any of its keys made, so a key rotated loses nothing.

A key is `rr_` and 43 URL-safe characters, so secret scanners can find one that leaks, and
it is stored only as a keyed hash (HMAC-SHA256). The hash's key is derived with HKDF from
each of the relay's callback secrets, as the sealing of stored secrets is (sealing.py): the
newest hashes a new key, and a key is looked up under every one of them, so a rotation of
that secret does not void the keys already given out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, get_args

from receiver.kernel.secrets.sealing import derive_key
from receiver.lifecycle.rules.quotas import NO_LIMITS, KeyLimits

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
