"""An app's portal links: made for one app (by its key with `downstreams`, or the admin),
opened once within a short life, while the app has a key made before the link. Signed with
the callback keys; its id is recorded when opened, so it opens once on any replica. A
session rests on the keys the app had when the link was made: once none is live, it ends,
and a key made later does not bring it back.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer

from receiver.kernel.errors import Conflict, InvalidRequest, NotFound
from receiver.kernel.store import Store
from receiver.keys.bearers import Keys
from receiver.keys.rows.apps import AppRow, PortalApp
from receiver.keys.rules import Caller, Scope
from receiver.keys.transactions import apps as app_transactions

DEFAULT_TTL_SECONDS = 15 * 60
MAX_TTL_SECONDS = 24 * 3600
MIN_TTL_SECONDS = 10
_LINK_SALT = "runway-relay.portal.link.v1"
PORTAL_PATH = "/portal"

Why = Literal["forged", "expired", "used", "revoked"]


class LinkRefused(Exception):
    """The link does not open; `why` says which of the reasons, for the page; `app_id`: the
    app a used link was for (a browser with that app's session goes in all the same)."""

    def __init__(self, why: Why, app_id: str | None = None) -> None:
        super().__init__(why)
        self.why: Why = why
        self.app_id = app_id


@dataclass(frozen=True)
class PortalLink:
    url: str
    expires_at: float


@dataclass(frozen=True)
class Opened:
    """A link opened: the app, and when the link was made (what the session rests on)."""

    app: PortalApp
    since: float


async def _app_asked(keys: Keys, caller: Caller, app: str | None) -> AppRow:
    """The app a link is for: the caller's own; the admin's must be named. Another app's
    name, from an app's key, is no such app (404)."""
    if caller.key_id is None or caller.app_id is None:  # the admin token
        if app is None:
            raise InvalidRequest("app: name the app the portal is for")
        return await keys.app(app)
    if caller.sees_all and app is not None:  # an admin-scoped key: any app
        return await keys.app(app)
    if app is not None and app != caller.app:
        raise NotFound("no app of that name")
    return await keys.app(caller.app)


class PortalLinks:
    """Makes and opens the portals' links, over the store, signed with the relay's keys;
    made once at start-up (receiver/app/parts.py)."""

    def __init__(self, store: Store, signing_keys: list[str], public_url: str) -> None:
        self.store = store
        self._serializer = URLSafeSerializer(signing_keys, salt=_LINK_SALT)
        self._opens_at = f"{public_url}{PORTAL_PATH}/open/"

    async def make(self, keys: Keys, caller: Caller, app: str | None, ttl: float) -> PortalLink:
        """A link to the portal of the caller's app (or the one the admin names)."""
        if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
            raise InvalidRequest(
                f"ttl_seconds: from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS} (a day); {ttl:g} given"
            )
        row = await _app_asked(keys, caller, app)
        now = time.time()
        if await app_transactions.app_of(self.store, row.id, now) is None:
            raise Conflict(f"the app {row.name!r} has no live key: its portal would not open")
        expires_at = now + ttl
        claims = {"l": secrets.token_urlsafe(12), "a": row.id, "i": now, "e": expires_at}
        return PortalLink(self._opens_at + self._serializer.dumps(claims), expires_at)

    async def open(self, token: str) -> Opened:
        """The app a link opens, the link used up; LinkRefused saying why it does not open."""
        try:
            claims = self._serializer.loads(token)
        except BadData:
            raise LinkRefused("forged") from None
        if not isinstance(claims, dict) or not {"l", "a", "i", "e"} <= claims.keys():
            raise LinkRefused("forged")
        link_id, app_id, since, ends = claims["l"], claims["a"], claims["i"], claims["e"]
        if not isinstance(ends, (int, float)) or not isinstance(since, (int, float)):
            raise LinkRefused("forged")
        if ends <= time.time():
            raise LinkRefused("expired")
        found = await app_transactions.app_of(self.store, str(app_id), float(since))
        if found is None:
            raise LinkRefused("revoked")
        if not await app_transactions.use_once(self.store, f"portal-link:{link_id}", float(ends)):
            raise LinkRefused("used", str(app_id))
        return Opened(found, float(since))


def caller_for(app: PortalApp) -> Caller:
    """Who a portal session acts as: its app, with what the `downstreams` and `tasks:read`
    scopes allow, through a live key of the app (so share links it makes end with it)."""
    scopes: frozenset[Scope] = frozenset({"downstreams", "tasks:read"})
    return Caller(app.key_id, f"portal of {app.name}", scopes, app_id=app.id, app=app.name)
