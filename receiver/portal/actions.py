"""The portal's forms: the console's own (receiver/console/actions.py) acting as the app on
its endpoints by the names it gave them, and its own: an endpoint made, a test event sent,
its alerts' endpoint chosen, a task's share link made."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from receiver.alerts import transactions as alerts
from receiver.console import endpoint_form
from receiver.console.actions import DownstreamForms
from receiver.console.core import Form
from receiver.console.session import Session
from receiver.deliveries.sample_event import SENDABLE, send_test
from receiver.downstreams import manage as managed
from receiver.kernel.errors import Conflict, InvalidRequest
from receiver.kernel.net.request_calls import RequestCalls
from receiver.keys.rules import Caller
from receiver.portal.core import Portal, caller_of
from receiver.portal.pages import Pages, own_name
from receiver.shares import share as shares
from receiver.shares.links import ShareSigner

SHARE_TTL_SECONDS = 7 * 86400


class Actions(DownstreamForms):
    home = "/"

    def __init__(
        self, portal: Portal, pages: Pages, share_signer: ShareSigner, calls: RequestCalls
    ) -> None:
        super().__init__(portal, calls)
        self.portal_pages = pages
        self.share_signer = share_signer

    async def downstream(self, request: Request, session: Session) -> tuple[str, str]:
        name = request.path_params["name"]
        return name, await own_name(self.directory, session, name)

    def caller(self, session: Session) -> Caller:
        return caller_of(session).caller

    async def with_secret(
        self, request: Request, session: Session, shown: dict[str, Any]
    ) -> Response:
        return await self.portal_pages.endpoint(request, session, shown["name"], secret=shown)

    def page_of(self, name: str) -> str:
        return f"/endpoints/{quote(name, safe='')}"

    async def create(self, request: Request, session: Session, form: Form) -> Response:
        form, kept = endpoint_form.new_fields(form)
        try:
            if (kept["format"] or "webhook") not in (formats := self.console.app_formats):
                raise InvalidRequest(f"format: one of {', '.join(formats)}")
            payload = endpoint_form.new_body(form, kept)
            caller = self.caller(session)
            made, secret = await managed.create_downstream(
                self.workers, self.rules, self.console.keys, self.directory, payload, caller
            )
        except (InvalidRequest, Conflict) as exc:
            said = endpoint_form.in_words(exc.detail)
            return await self.portal_pages.endpoints(request, session, kept=kept, error=said)
        if await self.directory.pulled(made["name"]):  # read by the app: nothing signed
            made = {"name": kept["name"], "pulled": True}
            return await self.portal_pages.endpoint(request, session, kept["name"], secret=made)
        made = made | {"secret": secret}
        shown = self.secret_shown(kept["name"], made["name"], made, rotated=False)
        return await self.with_secret(request, session, shown)

    async def refused_edit(
        self, request: Request, session: Session, name: str, error: str
    ) -> Response:
        # said on its own page, beside the form that was refused
        refused = {"name": name, "error": error}
        return await self.portal_pages.endpoint(request, session, refused=refused)

    async def test(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = await self.downstream(request, session)
        if await self.directory.pulled(kept):
            raise InvalidRequest(f"{name} is read by pull: the relay sends it nothing to test")
        event_type = form.get("type") or "task.succeeded"
        if event_type not in SENDABLE:
            raise InvalidRequest(f"type: one of {', '.join(SENDABLE)}")
        log, caller = self.workers.log, self.caller(session)
        sent = await send_test(
            log, self.rules, self.directory, kept, event_type, self.calls, caller
        )
        return await self.portal_pages.endpoint(request, session, tested={"name": name, **sent})

    async def alerts(self, request: Request, session: Session, form: Form) -> Response:
        """The endpoint its other endpoints' alerts go to; none when left empty."""
        name = form.get("alert_downstream", "").strip() or None
        app_id = caller_of(session).app.id
        await alerts.choose(self.console.store, self.directory.known_in, app_id, name)
        return self.console.done(request, form, self.home, "alerts")

    async def share(self, request: Request, session: Session, form: Form) -> Response:
        task_id = request.path_params["task_id"]
        portal, caller = self.console, self.caller(session)
        link = await shares.make_link(
            portal.store, portal.public_url, self.share_signer, caller, task_id, SHARE_TTL_SECONDS
        )
        shared = {"task_id": task_id, "url": link.url, "expires_at": link.expires_at}
        if form.get("back") == "task":  # asked on the task's own page: shown there
            return await self.portal_pages.task(request, session, shared=shared)
        return await self.portal_pages.tasks(request, session, shared=shared)
