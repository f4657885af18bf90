"""What every console route shares: the templates, the sessions, and the guards that say
who may see a page or send a form; reading a form, asking to confirm, and the redirect that
says a change is done; refusals and failures as HTML pages."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import markupsafe
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from receiver.apps.portal import PortalLinks
from receiver.config import Config
from receiver.console import views
from receiver.console.brake import LoginBrake
from receiver.console.session import SESSION_COOKIE, Session, Sessions, check_form, origin_of
from receiver.destinations.registry import APP_FORMED, FORMED
from receiver.downstreams.directory import Directory
from receiver.downstreams.rules import MEANINGS
from receiver.kernel.errors import MalformedRequest, NotAllowed
from receiver.kernel.http.body import read_body, refuse_nul
from receiver.keys.bearers import Keys
from receiver.keys.transactions import sessions
from receiver.lifecycle.rules.task import is_passed_through
from receiver.tasks.actions import Canceller
from receiver.tasks.submit import Intake
from receiver.wiring.worker_parts import WorkerParts

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
FRAMED_BY = "frame_ancestors"  # the scope state's key for the origins that may frame an answer
# Fixed texts for what a redirect after a change says: a link can name one, never write one.
NOTICES = {
    "replayed": "{n} {deliveries} queued again.",
    "disabled": "Downstream disabled: its new deliveries are held until it is enabled.",
    "enabled": "Downstream enabled; {n} {deliveries} queued again.",
    "cancelled": "Task cancelled.",
    "removed": "Downstream removed; {n} waiting {deliveries} ended as dead letters.",
    "submitted": "Task submitted: it is sent to CometAPI as soon as CometAPI has room.",
    "revoked": "Key revoked: every replica refuses it within seconds, its share links too.",
    "changed": "Downstream changed.",
    "validated": "Its endpoint allows the relay's events; {n} held {deliveries} queued again.",
    "not_validated": "Its endpoint did not allow the relay's events: its deliveries stay held.",
    "not_answered": "Its endpoint gave no answer: nothing changed; its next delivery asks again.",
}

Form = dict[str, str]
Endpoint = Callable[[Request], Awaitable[Response]]
PageHandler = Callable[[Request, Session], Awaitable[Response]]
ActionHandler = Callable[[Request, Session, Form], Awaitable[Response]]


def refuse_nul_in_address(request: Request) -> None:
    """A path part or a query parameter holding NUL, refused as a form's field is (422,
    naming it): PostgreSQL can neither keep it nor look it up, so it would be a 500."""
    query = request.query_params
    named = {**request.path_params, **{key: query.getlist(key) for key in query}}
    refuse_nul(named, "address")


_CODE = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> markupsafe.Markup:
    """Text with its `quoted` parts as <code>, everything else escaped."""
    parts = _CODE.split(text)
    return markupsafe.Markup("").join(
        markupsafe.Markup("<code>{}</code>").format(part) if n % 2 else markupsafe.escape(part)
        for n, part in enumerate(parts)
    )


def environment(directory: Directory, *template_dirs: Path) -> jinja2.Environment:
    """The console's templates and filters; a page of `template_dirs` (the portal's) is
    taken before the console's of the same name."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*template_dirs, HERE / "templates"]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=views.when,
        ago=views.ago,
        when_input=views.when_input,
        downstream=directory.shown_name,
        health=directory.health,  # a downstream's record: its health in one word
        nothing_failed=views.nothing_failed,  # its card with no dead letter and no retry
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
        code_spans=code_spans,  # an option's description: its `code` as code, not backticks
    )
    env.tests["passed_through"] = is_passed_through  # a Runway route the table lacks
    env.tests["pulled"] = directory.pulled_of  # a health record's: no breaker, no attempts
    env.globals.update(
        console_formats=FORMED,
        portal_formats=APP_FORMED,
        health_meanings=MEANINGS,
        event_choices=views.EVENT_CHOICES,  # a downstream's states, as its forms offer them
        endpoint_options=views.ENDPOINT_OPTIONS,  # its options, as its model declares them
    )
    return env


def local(target: str | None, root: str, fallback: str) -> str:
    """Where to go after a login or an action: a console path, never another site."""
    if (
        target
        and target.startswith(root + "/")
        and not target.startswith("//")
        and "\\" not in target
        and all(c.isprintable() for c in target)
    ):
        return target
    return fallback


class Console:
    notices = NOTICES
    cookie = SESSION_COOKIE
    ended = "your session has ended: log in again"
    # A browser that never had a session (or whose cookie is gone) is not told one ended.
    signed_out = "log in first: this browser is not logged in to the console"
    pages: tuple[Path, ...] = ()  # folders of pages taken before the console's (the portal's)
    app_formats = APP_FORMED  # the formats an app's portal makes

    def __init__(
        self,
        workers: WorkerParts,
        config: Config,
        access_changed: Callable[[], None],
        keys: Keys,
        directory: Directory,
        tasks: tuple[Intake, Canceller],
        portal_links: PortalLinks,
    ) -> None:
        # The store, log and wake-ups the actions on deliveries and downstreams use.
        self.workers = workers
        self.store, self.log = workers.store, workers.log
        self.access_changed = access_changed  # the live streams check their holders
        self.keys = keys
        self.directory = directory  # every downstream
        self.intake, self.canceller = tasks  # what submitting and cancelling a task use
        self.portal_links = portal_links
        # The sections the pages read, and where the relay is reached from outside.
        settings = config.settings
        self.server, self.retention = settings.server, settings.retention
        self.delivery = settings.delivery  # what the downstreams made here are held to
        self.sessions_config = settings.console  # how long sessions last, the login brake
        self.public_url = config.public_url
        self.signing_keys = config.secrets.signing_keys
        self.sessions = Sessions(
            self.signing_keys,
            config.secrets.admin_token,
            settings.console.session_seconds,
        )
        self.brake = LoginBrake(
            settings.console.login_attempts_per_minute,
            settings.console.global_login_failures_per_minute,
        )
        self.templates = Jinja2Templates(env=environment(directory, *self.pages))

    def root(self, request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def stream_url(self, request: Request, since: float, task_id: str | None = None) -> str:
        """The live stream a page listens to (its "live" badge), from `since` on."""
        query = {"since": f"{since:.3f}", **({"task_id": task_id} if task_id else {})}
        return f"{self.root(request)}/stream?{urlencode(query)}"

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.public_url.startswith("https:")

    def origins(self, request: Request) -> set[str]:
        return {origin_of(str(request.base_url)), origin_of(self.public_url)}

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        done = request.query_params.get("done")
        notice = self.notices.get(done or "", "")
        count = request.query_params.get("n", "")
        word = "delivery" if count == "1" else "deliveries"
        n = count if count.isdigit() else "some"
        context.setdefault("notice", notice.format(n=n, deliveries=word))
        context.setdefault("stream", None)
        context.setdefault("nav", "")
        return self.templates.TemplateResponse(
            request,
            template,
            {"root": self.root(request), "session": session, **context},
            status_code=status,
        )

    def error_page(self, request: Request, status: int, detail: str) -> Response:
        # The cookie alone decides the menu of an error page: it may be the store that
        # failed, and the menu's links and forms check the session again anyway.
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        return self.render(request, "error.html", session, status, code=status, detail=detail)

    async def session_of(self, request: Request) -> Session | None:
        """The request's session: its cookie valid, and not ended by a logout on any
        replica (one primary-key read of the store)."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None or await sessions.ended(self.store, session.id):
            return None
        return session

    def page(self, handler: PageHandler) -> Endpoint:
        """A page for the logged-in; anyone else is sent to the login form, and back."""

        @wraps(handler)
        async def guarded(request: Request) -> Response:
            refuse_nul_in_address(request)
            session = await self.session_of(request)
            if session is None:
                return self.without_session(request)
            return await handler(request, session)

        return guarded

    def no_session(self, request: Request) -> str:
        """Why a request without a live session is refused, in words: a session that ended
        (its cookie still sent: expired, logged out elsewhere, revoked), or none at all."""
        return self.ended if request.cookies.get(self.cookie) else self.signed_out

    def without_session(self, request: Request) -> Response:
        """What a page answers to a request without a live session: the login form."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"{self.root(request)}/login?next={quote(here, safe='')}"
        return RedirectResponse(login, status_code=303)

    def action(self, handler: ActionHandler) -> Endpoint:
        """A state-changing form: logged in, same origin, its CSRF token valid, else 403."""

        @wraps(handler)
        async def guarded(request: Request) -> Response:
            refuse_nul_in_address(request)
            session = await self.session_of(request)
            form = await self.read_form(request)
            if session is None:
                raise NotAllowed(self.no_session(request))
            check_form(self.sessions, session.id, form, request.headers, self.origins(request))
            return await handler(request, session, form)

        return guarded

    async def read_form(self, request: Request) -> Form:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise MalformedRequest("expected a form (application/x-www-form-urlencoded)")
        try:
            timeout = self.server.body_timeout_seconds
            body = (await read_body(request, MAX_FORM_BYTES, timeout)).decode()
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=50, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise MalformedRequest("the form could not be read") from None
        except ClientDisconnect:
            raise MalformedRequest("the client went away before its form was in") from None
        form = dict(pairs)
        refuse_nul(form, "form")  # the same rule as a JSON body's: the store cannot keep it
        return form

    def confirm(
        self, request: Request, session: Session, form: Form, question: str, answer: str
    ) -> Response | None:
        """The confirmation step of a change, unless the form already says yes (a browser
        with JavaScript asks in a dialog and says so; without, this page asks)."""
        if form.get("confirm") == "yes":
            return None
        kept = {k: v for k, v in form.items() if k not in ("csrf", "confirm")}
        return self.render(
            request,
            "confirm.html",
            session,
            question=question,
            answer=answer,
            action=request.url.path,
            kept=kept,
            back=local(form.get("back"), self.root(request), f"{self.root(request)}/"),
        )

    def done(self, request: Request, form: Form, fallback: str, code: str, n: int = 0) -> Response:
        target = local(form.get("back"), self.root(request), f"{self.root(request)}{fallback}")
        target = target.split("#")[0]
        joiner = "&" if "?" in target else "?"
        query = urlencode({"done": code, "n": n})
        return RedirectResponse(f"{target}{joiner}{query}", status_code=303)
