"""The portal's forms: an endpoint made (its secret shown on that answer alone), its events
and channels changed, disabled, enabled (with recovery), its secret rotated, a test event
sent, deleted; a delivery replayed; a task's share link made. Each goes through the same
operations as the API, as the app's keys would, and asks to confirm what cannot be undone
(as the console does)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.errors import Conflict, InvalidRequest
from receiver.pipeline import downstreams as managed
from receiver.pipeline import operations, shares
from receiver.pipeline.sample_event import SENDABLE, send_test
from receiver.web.console import views
from receiver.web.console.core import Form
from receiver.web.console.preview import expression_fields
from receiver.web.console.session import Session
from receiver.web.portal.core import Portal, caller_of
from receiver.web.portal.pages import Pages, own_name

SHARE_TTL_SECONDS = 7 * 86400
FORMATS = ("webhook", "slack", "discord", "teams", "telegram", "google_chat", "mattermost")


class Actions:
    def __init__(self, portal: Portal, pages: Pages) -> None:
        self.portal = portal
        self.service = portal.service
        self.pages = pages

    def _name(self, request: Request, session: Session) -> tuple[str, str]:
        """The endpoint's name as the app gave it, and the name it is kept under."""
        name = request.path_params["name"]
        return name, own_name(self.service, session, name)

    async def create(self, request: Request, session: Session, form: Form) -> Response:
        fields = ("name", "url", "format", "events", "channels", "filter", "transform")
        kept = {k: form.get(k, "").strip() for k in fields}
        kept["headers_given"] = "yes" if form.get("headers", "").strip() else ""
        try:
            if (kept["format"] or "webhook") not in FORMATS:
                raise InvalidRequest(f"format: one of {', '.join(FORMATS)}")
            payload: dict[str, Any] = {
                "name": kept["name"],
                "url": kept["url"],
                "format": kept["format"] or "webhook",
                "events": views.listed(kept["events"]),
                "channels": views.listed(kept["channels"]),
                **expression_fields(form),
            }
            caller = caller_of(session).caller
            _, secret = await managed.create_downstream(self.service, payload, caller)
        except (InvalidRequest, Conflict) as exc:
            return await self.pages.endpoints(request, session, kept=kept, error=exc.detail)
        shown = {"name": kept["name"], "value": secret, "rotated": False}
        return await self.pages.endpoints(request, session, secret=shown)

    async def edit(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        change = {
            "events": views.listed(form.get("events", "")),
            "channels": views.listed(form.get("channels", "")),
        }
        try:
            await managed.change_downstream(self.service, kept, change)
        except (InvalidRequest, Conflict) as exc:
            return await self.pages.endpoints(request, session, error=f"{name}: {exc.detail}")
        return self.portal.done(request, form, "/", "changed")

    async def disable(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        question = f"Disable {name}? Its new deliveries will be held, not attempted."
        asked = self.portal.confirm(request, session, form, question, "Disable it")
        if asked:
            return asked
        await operations.disable_downstream(self.service, kept)
        return self.portal.done(request, form, "/", "disabled")

    async def enable(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        since = views.parse_when(form.get("recover_since"), "recover since")
        question = f"Enable {name}? What it held is queued again"
        if since is not None:
            question += f", and what went to dead-letter since {views.when(since)}"
        asked = self.portal.confirm(request, session, form, question + ".", "Enable it")
        if asked:
            return asked
        queued = await operations.enable_downstream(self.service, kept, since)
        return self.portal.done(request, form, "/", "enabled", queued)

    async def rotate(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        question = f"Rotate the secret of {name}? The old one keeps signing beside the new."
        asked = self.portal.confirm(request, session, form, question, "Rotate it")
        if asked:
            return asked
        secret, until = await managed.rotate_secret(self.service, kept)
        shown = {"name": name, "value": secret, "rotated": True, "until": until}
        return await self.pages.endpoints(request, session, secret=shown)

    async def test(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        event_type = form.get("type") or "task.succeeded"
        if event_type not in SENDABLE:
            raise InvalidRequest(f"type: one of {', '.join(SENDABLE)}")
        sent = await send_test(self.service, kept, event_type)
        return await self.pages.endpoints(request, session, tested={"name": name, **sent})

    async def delete(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = self._name(request, session)
        question = f"Delete {name}? What it still has to deliver ends as dead letters."
        asked = self.portal.confirm(request, session, form, question, "Delete it")
        if asked:
            return asked
        ended = await managed.remove_downstream(self.service, kept)
        return self.portal.done(request, form, "/", "removed", ended)

    async def replay(self, request: Request, session: Session, form: Form) -> Response:
        delivery_id = request.path_params["delivery_id"]
        caller = caller_of(session).caller
        asked = self.portal.confirm(
            request, session, form, f"Send delivery {delivery_id} again now?", "Replay it"
        )
        if asked:
            return asked
        count = await operations.replay_delivery(self.service, delivery_id, caller)
        return self.portal.done(request, form, "/deliveries", "replayed", count)

    async def share(self, request: Request, session: Session, form: Form) -> Response:
        task_id = request.path_params["task_id"]
        caller = caller_of(session).caller
        link = await shares.make_link(self.service, caller, task_id, SHARE_TTL_SECONDS)
        shared = {"task_id": task_id, "url": link.url, "expires_at": link.expires_at}
        return await self.pages.tasks(request, session, shared=shared)
