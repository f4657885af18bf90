"""Who may use an app's portal: a signed session cookie for one app, started by opening a
portal link, with the console's CSRF tokens. It carries a random id, the app's id, its end
and the time the link was made: the session rests on the app's keys made by then."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from itsdangerous import URLSafeTimedSerializer

from receiver.console.session import Session, loaded
from receiver.keys.rows.apps import PortalApp
from receiver.keys.rules import Caller

PORTAL_COOKIE = "relay_portal"
_SESSION_SALT = "runway-relay.portal.session.v1"


@dataclass(frozen=True)
class PortalSession(Session):
    app: PortalApp
    caller: Caller  # the app, as its keys with `downstreams` and `tasks:read` are


@dataclass(frozen=True)
class Started:
    """What a portal cookie says before the store is asked."""

    id: str
    app_id: str
    since: float
    expires_at: float


class PortalSessions:
    def __init__(self, keys: list[str], max_age_seconds: int) -> None:
        self.max_age = max_age_seconds
        self._session = URLSafeTimedSerializer(keys, salt=_SESSION_SALT)

    def issue(self, app_id: str, since: float) -> str:
        payload = {
            "s": secrets.token_urlsafe(16),
            "a": app_id,
            "i": since,
            "e": time.time() + self.max_age,
        }
        return self._session.dumps(payload)

    def read(self, cookie: str | None) -> Started | None:
        """What a cookie holds, or None when it is absent, forged or past its end."""
        payload = loaded(self._session, cookie, self.max_age)
        if not isinstance(payload, dict):
            return None
        sid, app_id, since, ends = (payload.get(k) for k in ("s", "a", "i", "e"))
        if not isinstance(sid, str) or not isinstance(app_id, str):
            return None
        if not isinstance(since, (int, float)) or not isinstance(ends, (int, float)):
            return None
        if ends <= time.time():
            return None
        return Started(sid, app_id, float(since), float(ends))
