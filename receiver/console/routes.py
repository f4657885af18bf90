"""The console's routes: pages rendered on the server, forms that POST back, the live
stream, the static files. Mounted at /console as an application of its own, so that its
refusals are HTML pages, not the API's JSON, under its own security headers (who may see
a page or send a form is decided per route: core.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.console.actions import Actions
from receiver.console.apps_page import AppPages, KeyPages
from receiver.console.core import FRAMED_BY, HERE, Console
from receiver.console.endpoint_form import PreviewRoute
from receiver.console.login import Login
from receiver.console.pages import Pages
from receiver.console.session import origin_of
from receiver.kernel.errors import RelayError
from receiver.kernel.http.errors import answer_for, headers_for
from receiver.kernel.net.request_calls import RequestCalls
from receiver.stream.changes import ChangeHub


class SecurityHeaders:
    """Scripts and styles from the relay only, no referrer, no caching of pages that show
    tasks and deliveries, and no framing; with `framing`, by the origins a handler put in
    the request's state under FRAMED_BY (an app's portal's)."""

    def __init__(self, app: ASGIApp, media_origin: str, framing: bool = False) -> None:
        self.app = app
        self.framing = framing
        self.policy = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' {media_origin} https: data:; "
            f"media-src 'self' {media_origin} https:; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors "
        )
        self.headers = [
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

    def _framing(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        origins = scope.get("state", {}).get(FRAMED_BY) if self.framing else None
        if origins:
            policy = self.policy + " ".join(origins)
            return [(b"content-security-policy", policy.encode())]
        policy = self.policy + "'none'"
        return [(b"content-security-policy", policy.encode()), (b"x-frame-options", b"DENY")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._framing(scope))
                headers.extend(self.headers)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def html_app(console: Console, routes: list[BaseRoute], framing: bool = False) -> Starlette:
    """An application of its own over `routes` (the console's or a portal's) with the
    console's static files and security headers; its refusals and failures are HTML pages
    with the status the API would give."""

    async def relay_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RelayError)
        response = console.error_page(request, answer_for(exc)[0], exc.detail)
        response.headers.update(headers_for(exc) or {})  # a 429's Retry-After
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "There is no such page." if exc.status_code == 404 else exc.detail
        response = console.error_page(request, exc.status_code, detail)
        response.headers.update(exc.headers or {})
        return response

    async def crash(request: Request, exc: Exception) -> Response:
        # Never a stack trace on a page; the server's log has it.
        return console.error_page(request, 500, "Something went wrong; it has been logged.")

    media = origin_of(console.public_url)
    return Starlette(
        routes=[*routes, Mount("/static", StaticFiles(directory=HERE / "static"))],
        middleware=[Middleware(SecurityHeaders, media_origin=media, framing=framing)],
        exception_handlers={RelayError: relay_error, HTTPException: http_error, Exception: crash},
    )


def console_app(console: Console, changes: ChangeHub, calls: RequestCalls) -> Starlette:
    """The console's application over `console` (made at start-up: receiver/app/asgi.py),
    the process's reader of the change feed, for its live pages, and the bound on the calls
    to downstreams its forms wait on."""
    login, pages = Login(console), Pages(console, changes)
    actions, key_pages = Actions(console, pages, calls), KeyPages(console)
    app_pages = AppPages(console)
    page, action = console.page, console.action
    return html_app(
        console,
        [
            Route("/", page(pages.home)),
            Route("/login", login.form, methods=["GET"]),
            Route("/login", login.login, methods=["POST"]),
            Route("/logout", action(login.logout), methods=["POST"]),
            Route("/tasks", page(pages.tasks), methods=["GET"]),
            Route("/tasks", action(actions.submit), methods=["POST"]),
            Route("/tasks/{task_id}", page(pages.task), methods=["GET"]),
            Route("/tasks/{task_id}/cancel", action(actions.cancel_task), methods=["POST"]),
            Route("/deliveries", page(pages.deliveries), methods=["GET"]),
            Route("/deliveries/{delivery_id}/replay", action(actions.replay), methods=["POST"]),
            Route("/downstreams", action(actions.create_downstream), methods=["POST"]),
            Route("/downstreams/preview", PreviewRoute(console).answer, methods=["POST"]),
            Route("/downstreams/{name}/edit", action(actions.edit), methods=["POST"]),
            Route("/downstreams/{name}/rotate", action(actions.rotate), methods=["POST"]),
            Route("/downstreams/{name}/validate", action(actions.validate), methods=["POST"]),
            Route("/downstreams/{name}/remove", action(actions.remove), methods=["POST"]),
            Route("/downstreams/{name}/replay", action(actions.replay_all), methods=["POST"]),
            Route("/downstreams/{name}/disable", action(actions.disable), methods=["POST"]),
            Route("/downstreams/{name}/enable", action(actions.enable), methods=["POST"]),
            Route("/keys", page(key_pages.page), methods=["GET"]),
            Route("/keys", action(key_pages.create), methods=["POST"]),
            Route("/keys/{name}/revoke", action(key_pages.revoke), methods=["POST"]),
            Route("/apps", page(app_pages.page), methods=["GET"]),
            Route("/apps", action(app_pages.create), methods=["POST"]),
            Route("/apps/{app}/keys", action(app_pages.create_key), methods=["POST"]),
            Route("/apps/{app}/keys/{name}/rotate", action(app_pages.rotate_key), methods=["POST"]),
            Route("/apps/{app}/keys/{name}/revoke", action(app_pages.revoke_key), methods=["POST"]),
            Route("/apps/{app}/portal-link", action(app_pages.portal_link), methods=["POST"]),
            Route("/stream", pages.stream, methods=["GET"]),
        ],
    )
