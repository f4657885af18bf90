"""The console's routes: pages rendered on the server, forms that POST back, the live stream.

Mounted at /console as an application of its own, so that its refusals are HTML pages
rather than the API's JSON, and its pages carry their own security headers. Every change
it makes goes through the same functions as the admin API (receiver/operations.py).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.adapters.comet.client import REVERSE_KIND
from receiver.domain.states import STATES, TERMINAL_STATES
from receiver.errors import InvalidRequest, MalformedRequest, NotAllowed, NotFound, RelayError
from receiver.persist import TaskFilter
from receiver.pipeline import operations
from receiver.pipeline.service import Service
from receiver.web.api.stream import stream_response
from receiver.web.body import read_body
from receiver.web.console import chart, views
from receiver.web.console.session import (
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    LoginLimiter,
    Session,
    Sessions,
    check_form,
    origin_of,
)
from receiver.web.errors import answer_for

HERE = Path(__file__).parent
PAGE_SIZE = 25
MAX_FORM_BYTES = 64 * 1024
# Fixed texts for what a redirect after a change says: a link can name one, never write one.
NOTICES = {
    "replayed": "{n} delivery(ies) queued again.",
    "disabled": "Downstream disabled: its new deliveries are held until it is enabled.",
    "enabled": "Downstream enabled; {n} delivery(ies) queued again.",
    "cancelled": "Task cancelled.",
    "submit_failed": "CometAPI refused the task; its reason is below. The task is on record.",
    "submitted": "Task submitted.",
}

Form = dict[str, str]
PageHandler = Callable[[Request, Session], Awaitable[Response]]
ActionHandler = Callable[[Request, Session, Form], Awaitable[Response]]


class SecurityHeaders:
    """Headers on every console answer: scripts and styles from the relay only, no framing,
    no referrer, no caching of pages that show tasks and deliveries."""

    def __init__(self, app: ASGIApp, media_origin: str) -> None:
        self.app = app
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'none'; script-src 'self'; style-src 'self'; "
                    f"img-src 'self' {media_origin} https: data:; "
                    f"media-src 'self' {media_origin} https:; connect-src 'self'; "
                    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
                ).encode(),
            ),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=views.when,
        ago=views.ago,
        when_input=views.when_input,
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
    )
    return env


def _pretty_raw(raw: str) -> str:
    """A stored body as JSON people can read, or as it came when it is not JSON."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return raw


def _local(target: str | None, root: str, fallback: str) -> str:
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
    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.config.settings.console
        self.sessions = Sessions(
            service.config.secrets.signing_keys,
            service.config.secrets.admin_token,
            settings.session_seconds,
        )
        self.limiter = LoginLimiter(settings.login_attempts_per_minute)
        self.templates = Jinja2Templates(env=_environment())

    # -- plumbing -------------------------------------------------------------------------

    def root(self, request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.service.config.public_url.startswith("https:")

    def origins(self, request: Request) -> set[str]:
        return {origin_of(str(request.base_url)), origin_of(self.service.config.public_url)}

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        done = request.query_params.get("done")
        notice = NOTICES.get(done or "", "")
        count = request.query_params.get("n", "")
        context.setdefault("notice", notice.format(n=count if count.isdigit() else "some"))
        context.setdefault("stream", None)
        context.setdefault("nav", "")
        return self.templates.TemplateResponse(
            request,
            template,
            {"root": self.root(request), "session": session, **context},
            status_code=status,
        )

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.read(request.cookies.get(SESSION_COOKIE))

    def page(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        """A page for the logged-in; anyone else is sent to the login form, and back."""

        @wraps(handler)
        async def guarded(request: Request) -> Response:
            session = self.session_of(request)
            if session is None:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = f"{self.root(request)}/login?next={quote(here, safe='')}"
                return RedirectResponse(login, status_code=303)
            return await handler(request, session)

        return guarded

    def action(self, handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing form: logged in, same origin, its CSRF token valid, else 403."""

        @wraps(handler)
        async def guarded(request: Request) -> Response:
            session = self.session_of(request)
            form = await self.read_form(request)
            if session is None:
                raise NotAllowed("your session has ended: log in again")
            check_form(self.sessions, session.id, form, request.headers, self.origins(request))
            return await handler(request, session, form)

        return guarded

    async def read_form(self, request: Request) -> Form:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise MalformedRequest("expected a form (application/x-www-form-urlencoded)")
        try:
            timeout = self.service.config.settings.server.body_timeout_seconds
            body = (await read_body(request, MAX_FORM_BYTES, timeout)).decode()
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=50, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise MalformedRequest("the form could not be read") from None
        except ClientDisconnect:
            raise MalformedRequest("the client went away before its form was in") from None
        return dict(pairs)

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
            back=_local(form.get("back"), self.root(request), f"{self.root(request)}/"),
        )

    def done(self, request: Request, form: Form, fallback: str, code: str, n: int = 0) -> Response:
        target = _local(form.get("back"), self.root(request), f"{self.root(request)}{fallback}")
        target = target.split("#")[0]
        joiner = "&" if "?" in target else "?"
        query = urlencode({"done": code, "n": n})
        return RedirectResponse(f"{target}{joiner}{query}", status_code=303)

    # -- login ----------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        root = self.root(request)
        target = _local(request.query_params.get("next"), root, f"{root}/")
        if self.session_of(request) is not None:
            return RedirectResponse(target, status_code=303)
        return self._login_page(request, target, None, 200)

    def _login_page(
        self, request: Request, target: str, error: str | None, status: int
    ) -> Response:
        cookie = None
        nonce = self.sessions.read_login(request.cookies.get(LOGIN_COOKIE))
        if nonce is None:
            cookie, nonce = self.sessions.issue_login()
        response = self.render(
            request,
            "login.html",
            None,
            status,
            csrf=self.sessions.csrf_for(nonce),
            next=target,
            error=error,
        )
        if cookie is not None:
            response.set_cookie(
                LOGIN_COOKIE,
                cookie,
                max_age=LOGIN_FORM_SECONDS,
                path=self.root(request) or "/",
                secure=self.secure(request),
                httponly=True,
                samesite="strict",
            )
        return response

    async def login(self, request: Request) -> Response:
        root = self.root(request)
        form = await self.read_form(request)
        nonce = self.sessions.read_login(request.cookies.get(LOGIN_COOKIE))
        check_form(self.sessions, nonce, form, request.headers, self.origins(request))
        target = _local(form.get("next"), root, f"{root}/")
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.retry_after(client)
        if wait is not None:
            self.service.log.warning("console.login_limited", client=client)
            response = self._login_page(
                request,
                target,
                f"Too many failed logins from your address: try again in {wait:.0f} s.",
                429,
            )
            response.headers["Retry-After"] = f"{wait:.0f}"
            return response
        if not self.sessions.token_matches(form.get("token", "")):
            self.limiter.failed(client)
            self.service.log.warning("console.login_failed", client=client)
            return self._login_page(request, target, "That is not the admin token.", 401)
        self.limiter.succeeded(client)
        self.service.log.info("console.login", client=client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(),
            max_age=self.sessions.max_age,
            path=root or "/",
            secure=self.secure(request),
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(LOGIN_COOKIE, path=root or "/")
        return response

    async def logout(self, request: Request, session: Session, form: Form) -> Response:
        root = self.root(request)
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=root or "/", secure=self.secure(request), httponly=True
        )
        return response

    # -- pages ----------------------------------------------------------------------------

    async def home(self, request: Request, session: Session) -> Response:
        store, now = self.service.store, time.time()
        counts = await store.counts()
        activity = await store.activity(now - chart.HOURS * 3600)
        health = await store.downstream_health(list(self.service.subscriptions))
        recent = await store.list_tasks(TaskFilter(limit=8))
        return self.render(
            request,
            "home.html",
            session,
            nav="home",
            stream=self._stream_url(request, now),
            counts=counts,
            states=STATES,
            tasks_chart=chart.tasks_chart(activity, now),
            latency_chart=chart.latency_chart(activity, now),
            health=health,
            recent=recent,
        )

    def _stream_url(self, request: Request, since: float, task_id: str | None = None) -> str:
        query = {"since": f"{since:.3f}", **({"task_id": task_id} if task_id else {})}
        return f"{self.root(request)}/stream?{urlencode(query)}"

    def _filters(self, request: Request) -> tuple[TaskFilter, dict[str, str]]:
        q = request.query_params
        shown = {name: q.get(name, "").strip() for name in ("state", "kind", "since", "q")}
        if shown["state"] and shown["state"] not in STATES:
            raise MalformedRequest(f"state must be one of {', '.join(STATES)}")
        if shown["kind"] and shown["kind"] not in views.KINDS:
            raise MalformedRequest(f"kind must be one of {', '.join(views.KINDS)}")
        if len(shown["q"]) > 200:
            raise MalformedRequest("the search text is limited to 200 characters")
        before = q.get("before") or None
        if before is not None and (len(before) > 64 or not before.isprintable()):
            raise MalformedRequest("before must be a task id")
        wanted = TaskFilter(
            state=shown["state"] or None,
            kind=shown["kind"] or None,
            since=views.parse_when(shown["since"], "since"),
            text=shown["q"] or None,
            before=before,
            limit=PAGE_SIZE + 1,  # one more says whether there is a next page
        )
        return wanted, shown

    async def tasks(
        self,
        request: Request,
        session: Session,
        form: Form | None = None,
        errors: dict[str, str] | None = None,
        general: list[str] | None = None,
    ) -> Response:
        now = time.time()
        wanted, shown = self._filters(request)
        found = await self.service.store.list_tasks(wanted)
        page = found[:PAGE_SIZE]
        older = None
        if len(found) > PAGE_SIZE:
            older = "?" + urlencode(
                {**{k: v for k, v in shown.items() if v}, "before": page[-1].id}
            )
        newest = "?" + urlencode({k: v for k, v in shown.items() if v}) if wanted.before else None
        return self.render(
            request,
            "tasks.html",
            session,
            status=422 if errors or general else 200,
            nav="tasks",
            stream=self._stream_url(request, now),
            tasks=page,
            filters=shown,
            states=STATES,
            kinds=views.KINDS,
            older=older,
            newest=newest,
            form=form or {"kind": "video2video", "prompt": "", "source": "", "model": ""},
            errors=errors or {},
            general=general or [],
            idempotency_key=secrets.token_urlsafe(16),
        )

    async def submit(self, request: Request, session: Session, form: Form) -> Response:
        kept = {name: form.get(name, "").strip() for name in ("kind", "prompt", "source", "model")}
        payload = views.form_payload(kept["kind"], kept["prompt"], kept["source"], kept["model"])
        key = form.get("idempotency_key", "")[:255] or None
        try:
            result = await operations.submit_task(self.service, payload, key)
        except InvalidRequest as exc:
            errors, general = views.field_errors(kept["kind"], exc.detail)
            return await self.tasks(request, session, kept, errors, general)
        code = "submit_failed" if result.error else "submitted"
        path = f"{self.root(request)}/tasks/{quote(result.task.id)}?done={code}"
        return RedirectResponse(path, status_code=303)

    async def task(self, request: Request, session: Session) -> Response:
        store, now = self.service.store, time.time()
        task = await store.get_task(request.path_params["task_id"])
        if task is None:
            raise NotFound("no such task")
        events, deliveries = await store.task_history(task.id)
        attempts = await store.task_attempts(task.id)
        bodies = await store.event_bodies(task.id)
        documents = [bodies[e.id][0] for e in events if e.id in bodies]
        raw_events = [
            (e, bodies[e.id][0], _pretty_raw(bodies[e.id][1])) for e in events if e.id in bodies
        ]
        return self.render(
            request,
            "task.html",
            session,
            nav="tasks",
            stream=self._stream_url(request, now, task.id),
            task=task,
            timeline=views.timeline(task, events, attempts),
            offset=views.offset,
            media=views.media_of(task, documents),
            deliveries=deliveries,
            raw_events=raw_events,
            cancellable=task.kind != REVERSE_KIND and task.state not in TERMINAL_STATES,
        )

    async def cancel_task(self, request: Request, session: Session, form: Form) -> Response:
        task_id = request.path_params["task_id"]
        asked = self.confirm(
            request, session, form, f"Cancel task {task_id} at CometAPI?", "Cancel the task"
        )
        if asked:
            return asked
        await operations.cancel_task(self.service, task_id)
        return self.done(request, form, f"/tasks/{quote(task_id)}", "cancelled")

    async def deliveries(self, request: Request, session: Session) -> Response:
        store, now = self.service.store, time.time()
        only = request.query_params.get("downstream") or None
        names = (
            [operations.known_downstream(self.service, only)]
            if only
            else [*self.service.subscriptions]
        )
        shown = []
        for health in await store.downstream_health(names):
            dead = await store.list_deliveries("dead", health.name, None, 50)
            pending = await store.list_deliveries("pending", health.name, None, 50)
            retrying = [d for d in pending if d.attempts > 0]
            shown.append((health, dead, retrying))
        return self.render(
            request,
            "deliveries.html",
            session,
            nav="deliveries",
            stream=self._stream_url(request, now),
            downstreams=shown,
            formats={d.name: d.format for d in self.service.config.downstreams},
            only=only,
        )

    # -- changes --------------------------------------------------------------------------

    async def replay(self, request: Request, session: Session, form: Form) -> Response:
        delivery_id = request.path_params["delivery_id"]
        asked = self.confirm(
            request, session, form, f"Send delivery {delivery_id} again now?", "Replay it"
        )
        if asked:
            return asked
        count = await operations.replay_delivery(self.service, delivery_id)
        return self.done(request, form, "/deliveries", "replayed", count)

    async def replay_all(self, request: Request, session: Session, form: Form) -> Response:
        name = operations.known_downstream(self.service, request.path_params["name"])
        asked = self.confirm(
            request,
            session,
            form,
            f"Send every dead letter of {name} again now?",
            "Replay all dead letters",
        )
        if asked:
            return asked
        count = await operations.replay_dead_letters(self.service, name)
        return self.done(request, form, "/deliveries", "replayed", count)

    async def disable(self, request: Request, session: Session, form: Form) -> Response:
        name = operations.known_downstream(self.service, request.path_params["name"])
        asked = self.confirm(
            request,
            session,
            form,
            f"Disable {name}? Its new deliveries will be held, not attempted.",
            "Disable it",
        )
        if asked:
            return asked
        await operations.disable_downstream(self.service, name)
        return self.done(request, form, "/deliveries", "disabled")

    async def enable(self, request: Request, session: Session, form: Form) -> Response:
        name = operations.known_downstream(self.service, request.path_params["name"])
        since = views.parse_when(form.get("recover_since"), "recover since")
        question = f"Enable {name}? What it held is queued again"
        if since is not None:
            question += f", and what went to dead-letter since {views.when(since)}"
        asked = self.confirm(request, session, form, question + ".", "Enable it")
        if asked:
            return asked
        queued = await operations.enable_downstream(self.service, name, since)
        return self.done(request, form, "/deliveries", "enabled", queued)

    async def stream(self, request: Request) -> Response:
        if self.session_of(request) is None:
            return Response("log in first", status_code=401, media_type="text/plain")
        task_id = request.query_params.get("task_id") or None
        if task_id is not None and len(task_id) > 64:
            raise MalformedRequest("task_id is too long")
        return stream_response(request, self.service, task_id)

    # -- errors ---------------------------------------------------------------------------

    async def relay_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RelayError)
        return self.error_page(request, answer_for(exc)[0], exc.detail)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "There is no such page." if exc.status_code == 404 else exc.detail
        response = self.error_page(request, exc.status_code, detail)
        response.headers.update(exc.headers or {})
        return response

    async def crash(self, request: Request, exc: Exception) -> Response:
        # Never a stack trace on a page; the server's log has it.
        return self.error_page(request, 500, "Something went wrong; it has been logged.")

    def error_page(self, request: Request, status: int, detail: str) -> Response:
        return self.render(
            request, "error.html", self.session_of(request), status, code=status, detail=detail
        )


def console_app(service: Service) -> Starlette:
    console = Console(service)
    page, action = console.page, console.action
    app = Starlette(
        routes=[
            Route("/", page(console.home)),
            Route("/login", console.login_form, methods=["GET"]),
            Route("/login", console.login, methods=["POST"]),
            Route("/logout", action(console.logout), methods=["POST"]),
            Route("/tasks", page(console.tasks), methods=["GET"]),
            Route("/tasks", action(console.submit), methods=["POST"]),
            Route("/tasks/{task_id}", page(console.task), methods=["GET"]),
            Route("/tasks/{task_id}/cancel", action(console.cancel_task), methods=["POST"]),
            Route("/deliveries", page(console.deliveries), methods=["GET"]),
            Route("/deliveries/{delivery_id}/replay", action(console.replay), methods=["POST"]),
            Route("/downstreams/{name}/replay", action(console.replay_all), methods=["POST"]),
            Route("/downstreams/{name}/disable", action(console.disable), methods=["POST"]),
            Route("/downstreams/{name}/enable", action(console.enable), methods=["POST"]),
            Route("/stream", console.stream, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static")),
        ],
        middleware=[Middleware(SecurityHeaders, media_origin=origin_of(service.config.public_url))],
        exception_handlers={
            RelayError: console.relay_error,
            HTTPException: console.http_error,
            Exception: console.crash,
        },
    )
    app.state.service = service
    return app
