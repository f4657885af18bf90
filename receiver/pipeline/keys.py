"""API keys at run time: made (shown once), listed, revoked, and the caller a bearer token
authenticates as.

What a key authenticates as is remembered for a second at most, so a key revoked on any
replica is refused by every replica within that second; a token that is no key is never
remembered (a key made on another replica works there at once).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from receiver.adapters.apikeys import KeyHasher, looks_like_key, new_key, same_digest
from receiver.domain.access import BOOTSTRAP, SCOPES, Caller, Scope, parse_scopes
from receiver.domain.key_limits import NO_LIMITS, KeyLimits
from receiver.errors import InvalidRequest
from receiver.persist import Store
from receiver.persist.keys import KeyRow, NewKey
from receiver.transitions import keys

REMEMBER_SECONDS = 1.0
_MAX_REMEMBERED = 10_000
# How often a key's `last used` is written: a write per request would cost more than it tells.
_USED_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class _Known:
    caller: Caller
    until: float


class Keys:
    def __init__(self, store: Store, relay_secrets: list[str], admin_token: str) -> None:
        self._store = store
        self._hasher = KeyHasher(relay_secrets)
        self._admin_token = admin_token.encode()
        self._known: dict[str, _Known] = {}
        self._used: dict[str, float] = {}

    async def create(
        self, name: str, scopes: list[str], weight: int = 1, limits: KeyLimits = NO_LIMITS
    ) -> tuple[KeyRow, str]:
        """The new key's row and the key itself, which is never seen again."""
        try:
            chosen: frozenset[Scope] = parse_scopes(scopes)
        except ValueError as exc:
            raise InvalidRequest(f"scopes: {exc}") from None
        key = new_key()
        ordered: list[str] = [s for s in SCOPES if s in chosen]
        row = await keys.create(
            self._store,
            NewKey(
                name,
                self._hasher.digest(key),
                ordered,
                weight,
                limits.max_queued,
                limits.max_per_day,
            ),
        )
        return row, key

    async def listed(self) -> list[KeyRow]:
        return await keys.live(self._store)

    async def revoke(self, name: str) -> None:
        await keys.revoke(self._store, name)
        self._known.clear()  # at once on this replica; the others within REMEMBER_SECONDS

    async def caller(self, token: str) -> Caller | None:
        """Who `token` is: the admin token, a live key, or no one (None)."""
        if hmac.compare_digest(token.encode(), self._admin_token):
            return BOOTSTRAP
        if not looks_like_key(token):
            return None
        digests = self._hasher.digests(token)
        now = time.monotonic()
        known = self._known.get(digests[0])
        if known is not None and known.until > now:
            return known.caller
        row = await keys.by_digest(self._store, digests)
        if row is None or not any(same_digest(row.digest, d) for d in digests):
            self._known.pop(digests[0], None)
            return None
        if row.digest != digests[0]:
            # Hashed under a previous relay secret: rehashed under the newest while both
            # are configured, so the key outlives that secret's removal.
            await keys.rehash(self._store, row.id, digests[0])
        limits = KeyLimits(row.max_queued, row.max_per_day)
        caller = Caller(row.id, row.name, parse_scopes(row.scopes), limits)
        if len(self._known) >= _MAX_REMEMBERED:
            self._known.clear()
        self._known[digests[0]] = _Known(caller, now + REMEMBER_SECONDS)
        await self._note_use(row.id, now)
        return caller

    async def live(self, key_id: str) -> bool:
        """The key is not revoked (a share link it made still opens)."""
        return await keys.is_live(self._store, key_id)

    async def _note_use(self, key_id: str, now: float) -> None:
        if now - self._used.get(key_id, -_USED_EVERY_SECONDS) >= _USED_EVERY_SECONDS:
            if len(self._used) >= _MAX_REMEMBERED:
                self._used.clear()
            self._used[key_id] = now
            await keys.used(self._store, key_id)
