"""The console's API keys and apps pages: every live key (never the key itself) with a form
to make one and a button to revoke one; each app with its keys, downstreams, newest tasks
and limits, with forms to make an app or a key of one, to rotate a key (the new one made
before the old one is revoked: nothing in flight is lost) or revoke it, and to make a
portal link. A key or a link is shown on its answer page alone, once. The admin API's own
functions do each."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.apps import portal
from receiver.apps.api import NewApp, NewAppKey
from receiver.console.core import Console, Form
from receiver.console.session import Session
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.rows import DownstreamHealth
from receiver.kernel.errors import Conflict, InvalidRequest, NotFound
from receiver.keys.api import checked, key_info, make_key
from receiver.keys.rows.apps import AppRow, AppSettings
from receiver.keys.rules import BOOTSTRAP, SCOPES
from receiver.lifecycle.rules.records import Task, TaskFilter
from receiver.operator import queries
from receiver.outbox.rules.delivery import owner_of, shown_name
from receiver.tasks import actions as task_actions

FIELDS = ("name", "weight", "max_queued", "max_per_day")


def limits_of(form: Form) -> dict[str, int | str]:
    """The form's limits as the API takes them: an empty field is unset; what is not a whole
    number is passed on as typed, for the API's check to name it."""
    typed = {name: form.get(name, "").strip() for name in FIELDS[1:]}
    return {k: int(v) if v.isdigit() and len(v) <= 12 else v for k, v in typed.items() if v}


def key_payload(form: Form) -> dict[str, Any]:
    """What the form asks for, as the body of `POST /v1/keys`."""
    return {
        "name": form.get("name", "").strip(),
        "scopes": [s for s in SCOPES if form.get(f"scope.{s}")],
        **limits_of(form),
    }


NEWEST_TASKS = 5  # of each app, on the page; the tasks page lists the rest


@dataclass(frozen=True)
class AppDownstream:
    name: str  # as the app knows it
    kept: str  # as the relay keeps it (`<app id>.<name>`): the deliveries page's filter
    format: str
    record: DownstreamHealth | None  # its health (the badge), none before its first delivery


@dataclass(frozen=True)
class AppView:
    """One app as its card shows it."""

    row: AppRow
    keys: list[dict[str, Any]]
    downstreams: list[AppDownstream]
    tasks: list[Task]


def next_key_name(name: str, taken: set[str]) -> str:
    """The name of the key that replaces `name`: `render` → `render-2`, `render-2` →
    `render-3`, the first free one."""
    found = re.fullmatch(r"(.+)-(\d{1,6})", name)
    base, n = (found[1], int(found[2])) if found else (name, 1)
    while True:
        n += 1
        candidate = f"{base[: 64 - len(str(n)) - 1]}-{n}"
        if candidate not in taken:
            return candidate


class KeyPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def page(
        self,
        request: Request,
        session: Session,
        made: dict[str, Any] | None = None,
        kept: Form | None = None,
        create_error: str = "",
    ) -> Response:
        # Whose each key is: its app's name (a key made alone is its own app's).
        keys = [{**key_info(row), "app": row.app} for row in await self.console.keys.listed()]
        return self.console.render(
            request,
            "keys.html",
            session,
            status=422 if create_error else 200,
            nav="keys",
            keys=keys,
            scopes=SCOPES,
            made=made,
            kept=kept or {},
            create_error=create_error,
        )

    async def create(self, request: Request, session: Session, form: Form) -> Response:
        """Make one; its key is shown on the answer itself, this once (never in a URL)."""
        kept = {k: v for k, v in form.items() if k in FIELDS or k.startswith("scope.")}
        try:
            info, key = await make_key(self.console.keys, key_payload(form))
        except (InvalidRequest, Conflict) as exc:
            return await self.page(request, session, kept=kept, create_error=exc.detail)
        return await self.page(request, session, made={**info, "key": key})

    async def revoke(self, request: Request, session: Session, form: Form) -> Response:
        name = request.path_params["name"]
        question = (
            f"Revoke the key {name}? Every replica refuses it within seconds, and the share"
            " links it made stop opening."
        )
        asked = self.console.confirm(request, session, form, question, "Revoke it")
        if asked:
            return asked
        await self.console.keys.revoke(name)
        self.console.access_changed()  # its open streams end
        return self.console.done(request, form, "/keys", "revoked")


class AppPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def _views(self) -> list[AppView]:
        keys, store = self.console.keys, self.console.store
        made = await downstream_transactions.made_names(store)  # every app's, none opened
        owned = [name for name in made if owner_of(name) is not None]
        records = {h.name: h for h in await queries.health(store, owned)}
        views = []
        for app in await keys.apps():
            listed = [key_info(row) for row in await keys.listed(app.id)]
            downstreams = [
                AppDownstream(shown_name(name), name, records[name].format, records.get(name))
                for name in owned
                if owner_of(name) == app.id
            ]
            wanted = TaskFilter(owner_key=app.id)
            found = await task_actions.list_tasks(
                self.console.store, wanted, NEWEST_TASKS, self.console.server.search_window
            )
            views.append(AppView(app, listed, downstreams, found.tasks))
        return views

    async def page(
        self,
        request: Request,
        session: Session,
        status: int = 200,
        **shown: Any,
    ) -> Response:
        """The page; `shown` carries what one answer adds: a key made (`made`), a portal
        link (`link`), or a refused form (`kept`, `error`, `error_app`)."""
        nothing: dict[str, Any] = {"made": None, "link": None, "error": "", "error_app": ""}
        return self.console.render(
            request,
            "apps.html",
            session,
            status=status,
            nav="apps",
            stream=self.console.stream_url(request, time.time()),
            apps=await self._views(),
            scopes=SCOPES,
            kept=shown.pop("kept", {}),
            **(nothing | shown),
        )

    async def create(self, request: Request, session: Session, form: Form) -> Response:
        kept = {k: v for k, v in form.items() if k in FIELDS}
        payload = {"name": form.get("name", "").strip(), **limits_of(form)}
        try:
            wanted = checked(NewApp, payload, "form")
            settings = AppSettings(wanted.weight, wanted.max_queued, wanted.max_per_day)
            await self.console.keys.make_app(wanted.name, settings)
        except (InvalidRequest, Conflict) as exc:
            return await self.page(request, session, 422, kept=kept, error=exc.detail)
        return await self.page(request, session, notice=f"App {wanted.name} made.")

    async def create_key(self, request: Request, session: Session, form: Form) -> Response:
        """A key of the app, shown on this answer alone."""
        app = request.path_params["app"]
        payload = {
            "name": form.get("name", "").strip(),
            "scopes": [s for s in SCOPES if form.get(f"scope.{s}")],
        }
        try:
            wanted = checked(NewAppKey, payload, "form")
            row, key = await self.console.keys.add(app, wanted.name, list(wanted.scopes))
        except (InvalidRequest, Conflict) as exc:
            kept = {k: v for k, v in form.items() if k == "name" or k.startswith("scope.")}
            return await self.page(
                request, session, 422, kept=kept, error=exc.detail, error_app=app
            )
        return await self.page(request, session, made={**key_info(row), "app": app, "key": key})

    async def rotate_key(self, request: Request, session: Session, form: Form) -> Response:
        """A new key with the old one's scopes, then the old one revoked: the app keeps all
        it owns, and the new key is shown on this answer alone."""
        app, name = request.path_params["app"], request.path_params["name"]
        question = (
            f"Rotate the key {name} of {app}? A new key with its scopes is made and shown"
            f" once; then {name} is revoked, and every replica refuses it within seconds."
        )
        if asked := self.console.confirm(request, session, form, question, "Rotate it"):
            return asked
        keys = self.console.keys
        found = await keys.app(app)
        live = await keys.listed(found.id)
        old = next((k for k in live if k.name == name), None)
        if old is None:
            raise NotFound(f"no live key {name!r} of the app {app!r}")
        everyone = {k.name for k in await keys.listed()}
        row, key = await keys.add(app, next_key_name(name, everyone), old.scopes)
        await keys.revoke(name, app)
        self.console.access_changed()  # the old key's open streams end
        made = {**key_info(row), "app": app, "key": key, "replaces": name}
        return await self.page(request, session, made=made)

    async def revoke_key(self, request: Request, session: Session, form: Form) -> Response:
        app, name = request.path_params["app"], request.path_params["name"]
        question = (
            f"Revoke the key {name} of {app}? Every replica refuses it within seconds; the"
            " app keeps its tasks, downstreams and other keys."
        )
        if asked := self.console.confirm(request, session, form, question, "Revoke it"):
            return asked
        await self.console.keys.revoke(name, app)
        self.console.access_changed()
        return self.console.done(request, form, "/apps", "revoked")

    async def portal_link(self, request: Request, session: Session, form: Form) -> Response:
        """A link that opens the app's portal once, within its default life."""
        app = request.path_params["app"]
        try:
            link = await self.console.portal_links.make(
                self.console.keys, BOOTSTRAP, app, portal.DEFAULT_TTL_SECONDS
            )
        except Conflict as exc:  # no live key: its portal would not open
            return await self.page(request, session, 409, error=exc.detail, error_app=app)
        shown = {"app": app, "url": link.url, "expires_at": link.expires_at}
        return await self.page(request, session, link=shown)
