"""Opening a portal link (once: receiver/apps/portal.py), and leaving the portal. A link that
does not open answers an HTML page. The cookie is `SameSite=Lax`, so that a link followed
from another site starts the session, or `SameSite=None; Secure` when the portal may be
framed over https, since a framed page's cookies are third-party ones."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from receiver.apps.portal import LinkRefused
from receiver.console.core import Form
from receiver.console.session import Session
from receiver.keys.transactions import sessions
from receiver.portal.core import Portal
from receiver.portal.session import PORTAL_COOKIE

REFUSALS = {
    "forged": (404, "This portal link is not valid", "Check that it was copied whole."),
    "expired": (410, "This portal link has expired", "Ask the app for a new link."),
    "used": (410, "This portal link was used already", "A link opens once: ask for a new one."),
    "revoked": (410, "This portal link was withdrawn", "The app's keys were revoked."),
}


class Opening:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    async def open(self, request: Request) -> Response:
        try:
            opened = await self.portal.portal_links.open(request.path_params["token"])
        except LinkRefused as exc:
            status, heading, advice = REFUSALS[exc.why]
            return self.portal.render(
                request, "refused.html", None, status, why=exc.why, heading=heading, advice=advice
            )
        self.portal.frame_for(request, opened.app.frame_ancestors)
        root = self.portal.root(request)
        response = RedirectResponse(f"{root}/", status_code=303)
        framed = bool(opened.app.frame_ancestors) and self.portal.secure(request)
        response.set_cookie(
            PORTAL_COOKIE,
            self.portal.portal_sessions.issue(opened.app.id, opened.since),
            max_age=self.portal.portal_sessions.max_age,
            path=root or "/",
            secure=self.portal.secure(request) or framed,
            httponly=True,
            samesite="none" if framed else "lax",
        )
        self.portal.log.info("portal.opened", app=opened.app.name)
        return response

    async def logout(self, request: Request, session: Session, form: Form) -> Response:
        await sessions.end(self.portal.store, session.id, session.expires_at)
        root = self.portal.root(request)
        response = self.portal.render(
            request,
            "refused.html",
            None,
            why="logged-out",
            heading="You have left the portal",
            advice="Open a new portal link from the app to come back.",
        )
        response.delete_cookie(PORTAL_COOKIE, path=root or "/", httponly=True)
        return response
