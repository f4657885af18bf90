"""The portal's routes: an app's endpoints, deliveries and tasks, for a session started by
opening a portal link; mounted at /portal like the console, whose templates, forms, preview
and static files it shares.

A link opens once (receiver/apps/portal.py); one that does not answers an HTML page. The
cookie is `SameSite=Lax`, so that a link followed from another site starts the session, or
`SameSite=None; Secure` when the portal may be framed over https, since a framed page's
cookies are third-party ones."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from receiver.apps.portal import LinkRefused
from receiver.console.core import Form
from receiver.console.endpoint_form import PreviewRoute
from receiver.console.routes import html_app
from receiver.console.session import Session
from receiver.kernel.net.request_calls import RequestCalls
from receiver.keys.rules import Caller
from receiver.keys.transactions import sessions
from receiver.portal.actions import Actions
from receiver.portal.core import PORTAL_COOKIE, Portal, caller_of
from receiver.portal.pages import Pages
from receiver.shares.links import ShareSigner


class Opening:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    async def open(self, request: Request) -> Response:
        try:
            opened = await self.portal.portal_links.open(request.path_params["token"])
        except LinkRefused as exc:
            # Opened again in the browser it was opened in: that session goes in.
            session = await self.portal.session_of(request) if exc.why == "used" else None
            if session is not None and session.app.id == exc.app_id:
                return RedirectResponse(f"{self.portal.root(request)}/", status_code=303)
            return self.portal.refused(request, exc.why)
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
        response = self.portal.refused(request, "logged-out")
        response.delete_cookie(PORTAL_COOKIE, path=root or "/", httponly=True)
        return response


class PortalPreview(PreviewRoute):
    """The console's live preview, a task id read as the app's keys may read it."""

    def caller(self, session: Session) -> Caller:
        return caller_of(session).caller


def portal_app(portal: Portal, share_signer: ShareSigner, calls: RequestCalls) -> Starlette:
    """The portal's application over `portal` (made at start-up: receiver/app/asgi.py), the
    signer of the share links it makes, and the bound on the calls to endpoints its forms
    wait on."""
    pages, opening = Pages(portal), Opening(portal)
    actions = Actions(portal, pages, share_signer, calls)
    page, action = portal.page, portal.action
    return html_app(
        portal,
        [
            Route("/open/{token}", opening.open, methods=["GET"]),
            Route("/logout", action(opening.logout), methods=["POST"]),
            Route("/", page(pages.endpoints), methods=["GET"]),
            Route("/endpoints", action(actions.create), methods=["POST"]),
            Route("/endpoints/preview", PortalPreview(portal).answer, methods=["POST"]),
            Route("/endpoints/{name}", page(pages.endpoint), methods=["GET"]),
            Route("/endpoints/{name}/edit", action(actions.edit), methods=["POST"]),
            Route("/endpoints/{name}/disable", action(actions.disable), methods=["POST"]),
            Route("/endpoints/{name}/enable", action(actions.enable), methods=["POST"]),
            Route("/endpoints/{name}/rotate", action(actions.rotate), methods=["POST"]),
            Route("/endpoints/{name}/validate", action(actions.validate), methods=["POST"]),
            Route("/endpoints/{name}/test", action(actions.test), methods=["POST"]),
            Route("/endpoints/{name}/delete", action(actions.remove), methods=["POST"]),
            Route("/alerts", action(actions.alerts), methods=["POST"]),
            Route("/deliveries", page(pages.deliveries), methods=["GET"]),
            Route("/deliveries/{delivery_id}", page(pages.delivery), methods=["GET"]),
            Route("/deliveries/{delivery_id}/replay", action(actions.replay), methods=["POST"]),
            Route("/tasks", page(pages.tasks), methods=["GET"]),
            Route("/tasks/{task_id}", page(pages.task), methods=["GET"]),
            Route("/tasks/{task_id}/share", action(actions.share), methods=["POST"]),
        ],
        framing=True,
    )
