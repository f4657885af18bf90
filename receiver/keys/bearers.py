"""API keys and their apps at run time: apps made, changed and deleted; keys made (shown
once) as an app's credentials, listed, revoked; and the caller a bearer token authenticates
as (the key's app owns what it makes).

What a key authenticates as is remembered for a second at most, so a key revoked on any
replica is refused by every replica within that second; a token that is no key is never
remembered (a key made on another replica works there at once).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import asdict, dataclass

from receiver.kernel.errors import InvalidRequest
from receiver.kernel.store import Store
from receiver.keys.rows.apps import AppRow, AppSettings
from receiver.keys.rows.keys import KeyRow, NewKey
from receiver.keys.rules import (
    BOOTSTRAP,
    NO_LIMITS,
    SCOPES,
    Caller,
    KeyHasher,
    KeyLimits,
    Scope,
    looks_like_key,
    new_key,
    parse_scopes,
    same_digest,
)
from receiver.keys.transactions import apps, keys

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
        """`POST /v1/keys`: a key alone, the only key of a new app of its name. The new key's
        row and the key itself, which is never seen again."""
        settings = AppSettings(weight, limits.max_queued, limits.max_per_day)
        new, key = self._new_key(name, scopes, settings)
        return await apps.key_alone(self._store, new), key

    async def add(self, app: str, name: str, scopes: list[str]) -> tuple[KeyRow, str]:
        """A new key of the app: its row and the key itself, never seen again."""
        new, key = self._new_key(name, scopes, AppSettings())
        return await apps.add_key(self._store, app, new), key

    def _new_key(self, name: str, scopes: list[str], settings: AppSettings) -> tuple[NewKey, str]:
        try:
            chosen: frozenset[Scope] = parse_scopes(scopes)
        except ValueError as exc:
            raise InvalidRequest(f"scopes: {exc}") from None
        key = new_key()
        ordered: list[str] = [s for s in SCOPES if s in chosen]
        digest = self._hasher.digest(key)
        return NewKey(name, digest, ordered, **asdict(settings)), key

    async def listed(self, app_id: str | None = None) -> list[KeyRow]:
        return await keys.live(self._store, app_id)

    async def revoke(self, name: str, app: str | None = None) -> None:
        """A key of that app, or (None) the key of `DELETE /v1/keys`, whose app of the same
        name goes with it when it was its last key."""
        await apps.revoke_key(self._store, name, app)
        self._known.clear()  # at once on this replica; the others within REMEMBER_SECONDS

    async def make_app(self, name: str, settings: AppSettings) -> AppRow:
        return await apps.create(self._store, name, settings)

    async def app(self, name: str) -> AppRow:
        return await apps.named(self._store, name)

    async def apps(self) -> list[AppRow]:
        return await apps.live(self._store)

    async def app_names(self, app_ids: list[str]) -> dict[str, str]:
        return await apps.names(self._store, app_ids)

    async def change_app(self, name: str, settings: AppSettings) -> AppRow:
        changed = await apps.change(self._store, name, settings)
        self._known.clear()  # its keys' limits, here at once
        return changed

    async def delete_app(self, name: str) -> AppRow:
        """The app deleted, its keys revoked: refused everywhere within REMEMBER_SECONDS."""
        deleted = await apps.delete(self._store, name)
        self._known.clear()
        return deleted

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
        caller = Caller(row.id, row.name, parse_scopes(row.scopes), limits, row.app_id, row.app)
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
