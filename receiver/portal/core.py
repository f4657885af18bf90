"""What every portal route shares: the console's templates, forms and confirmations (the
portal's own pages first), with a session for one app. Every answer may be framed only by
the origins the admin allowed that app.

The session's signed cookie carries a random id, the app's id, its end and the time the
link was made: the session rests on the app's keys made by then."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from receiver.apps import portal
from receiver.console.core import FRAMED_BY, NOTICES, Console
from receiver.console.session import Session, loaded
from receiver.keys.rows.apps import PortalApp
from receiver.keys.rules import Caller
from receiver.keys.transactions import apps as app_transactions
from receiver.keys.transactions import sessions

HERE = Path(__file__).parent
PORTAL_COOKIE = "relay_portal"
_SESSION_SALT = "runway-relay.portal.session.v1"
ENDED = "Your portal session has ended: open a new portal link from the app."
SIGN_IN = "Sign in through the app: it opens this portal for you with a link of its own."


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


# (status, heading, advice) of the page for each way into the portal that does not open
# it, or out of it.
REFUSALS = {
    "forged": (404, "This portal link is not valid", "Check that it was copied whole."),
    "expired": (410, "This portal link has expired", "Ask the app for a new link."),
    "used": (410, "This portal link was used already", "A link opens once: ask for a new one."),
    "revoked": (410, "This portal link was withdrawn", "The app's keys were revoked."),
    "signed-out": (403, "Sign in to the portal", SIGN_IN),
    "logged-out": (
        200,
        "You have left the portal",
        "Open a new portal link from the app to come back.",
    ),
}

PORTAL_NOTICES = {
    **NOTICES,
    "removed": "Endpoint deleted; {n} waiting {deliveries} ended as dead letters.",
    "disabled": "Endpoint disabled: its new deliveries are held until it is enabled.",
    "enabled": "Endpoint enabled; {n} {deliveries} queued again.",
    "changed": "Endpoint changed.",
    "alerts": "Alerts endpoint saved.",
}


class Portal(Console):
    notices = PORTAL_NOTICES
    cookie = PORTAL_COOKIE
    ended = ENDED
    signed_out = SIGN_IN

    pages = (HERE / "templates",)

    @cached_property
    def portal_sessions(self) -> PortalSessions:
        return PortalSessions(self.signing_keys, self.sessions_config.portal_session_seconds)

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        app = session.app.name if isinstance(session, PortalSession) else ""
        context.setdefault("app", app)
        return super().render(request, template, session, status, **context)

    def frame_for(self, request: Request, origins: tuple[str, ...]) -> None:
        """This answer may be framed by `origins` (the app's), and by no other."""
        setattr(request.state, FRAMED_BY, list(origins))

    async def session_of(self, request: Request) -> PortalSession | None:
        """The request's session: its cookie valid, not logged out, and its app live with a
        key made before the session's link (two reads of the store)."""
        started = self.portal_sessions.read(request.cookies.get(PORTAL_COOKIE))
        if started is None or await sessions.ended(self.store, started.id):
            return None
        app = await app_transactions.app_of(self.store, started.app_id, started.since)
        if app is None:
            return None
        self.frame_for(request, app.frame_ancestors)
        csrf = self.sessions.csrf_for(started.id)
        return PortalSession(started.id, csrf, started.expires_at, app, portal.caller_for(app))

    def error_page(self, request: Request, status: int, detail: str) -> Response:
        # Framing was set (or not) by the session read before the refusal.
        return self.render(request, "error.html", None, status, code=status, detail=detail)

    def without_session(self, request: Request) -> Response:
        if request.cookies.get(self.cookie):
            return self.error_page(request, 403, ENDED)
        return self.refused(request, "signed-out")

    def refused(self, request: Request, why: str) -> Response:
        status, heading, advice = REFUSALS[why]
        return self.render(
            request, "refused.html", None, status, why=why, heading=heading, advice=advice
        )


def caller_of(session: Session) -> PortalSession:
    assert isinstance(session, PortalSession)
    return session
