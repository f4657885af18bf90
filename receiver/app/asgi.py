"""The Starlette application: the callback route first and the probes (bare ASGI and bare
Starlette routes), the API's routes (FastAPI's, receiver/api/routers.py) built at their first
request, the console, the portal, and every error as one shape."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.agents import PATH as AGENTS_PATH
from receiver.agents import ToolParts, agents_door
from receiver.app.parts import Parts, probed
from receiver.callbacks.route import PATH as CALLBACK_PATH
from receiver.callbacks.route import Callback
from receiver.kernel.errors import RelayError
from receiver.kernel.http.answers import error, methods_of
from receiver.kernel.http.errors import answer_for, headers_for
from receiver.operator import probes
from receiver.wiring.service import Service

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[Any]]


class _BuiltWhenVisited:
    """A face mounted whole but built at its first request (the console, the portal): its
    modules, templates and routes cost a start some 25 ms that a relay no browser visits
    would pay for nothing. They are imported on a thread, so the relay's other requests are
    not held meanwhile, and built once."""

    def __init__(self, module: str, build: Callable[[ModuleType], ASGIApp]) -> None:
        self._module = module
        self._build = build
        self._app: ASGIApp | None = None
        self._building = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._built()
        await app(scope, receive, send)

    async def _built(self) -> ASGIApp:
        async with self._building:
            if self._app is None:
                module = await asyncio.to_thread(importlib.import_module, self._module)
                self._app = self._build(module)
        return self._app


class _ApiWhenVisited(BaseRoute):
    """The API's routes (receiver/api/routers.py), imported and built at the first request
    that may be theirs: FastAPI, the routes and their models cost more than half of a start's
    CPU, which a relay only probed and called back would pay for nothing. Until then this
    stands in their place, matching any request partly (a later route that matches it whole,
    the console's, still takes it); then the routes take its place in the application's
    router, and the request is routed again, as every later one is. The import is on a
    thread, so the relay's other requests are not held meanwhile, and done once."""

    def __init__(self) -> None:
        self._building = asyncio.Lock()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.PARTIAL if scope["type"] in ("http", "websocket") else Match.NONE), {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def build(self, router: Router) -> None:
        """The API's routes in `router`, in this one's place (at once when they are)."""
        async with self._building:
            if self in router.routes:
                module = await asyncio.to_thread(importlib.import_module, "receiver.api.routers")
                at = router.routes.index(self)
                router.routes[at : at + 1] = module.routes()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        router: Router = scope["app"].router
        await self.build(router)
        await router(scope, receive, send)


def _runway_door(request: Request) -> bool:
    """Under /runwayml every refusal has Runway's shape, for its SDKs (runwayml.py)."""
    path = request.url.path
    return path == "/runwayml" or path.startswith("/runwayml/")


async def _relay_error(request: Request, exc: Exception) -> Response:
    """Every refusal the relay makes, as one JSON shape (receiver/kernel/errors.py)."""
    assert isinstance(exc, RelayError)
    if _runway_door(request):
        from receiver.runway_api import tasks as runwayml  # with the API, built by a request

        return runwayml.refusal(exc)
    status, code = answer_for(exc)
    return error(status, code, exc.detail, headers_for(exc), **exc.extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own (404 for no route, 405 with its Allow header): same shape, headers kept.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        # Every documented method of the path, not only the first route's that matched it;
        # under /runwayml, not the methods of what no documented route matches (more.py).
        leaving: tuple[BaseRoute, ...] = ()
        if _runway_door(request):
            from receiver.runway_api import more  # with the API, built by a request under it

            leaving = more.ROUTES
        allowed = methods_of(request, leaving)
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    if _runway_door(request):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
    return error(exc.status_code, "http_error", exc.detail, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    # Never a stack trace on the wire; the log line has it.
    if _runway_door(request):
        return JSONResponse({"error": "unexpected error; it has been logged"}, 500)
    return error(500, "internal", "unexpected error; it has been logged")


def _face(service: Service, parts: Parts, kind: str) -> Callable[[ModuleType], Any]:
    """How the console's or the portal's module (`kind`: its class) is given its parts."""
    tasks = (parts.intake, parts.canceller)
    return lambda module: getattr(module, kind)(
        parts.workers,
        service.config,
        service.access_changed,
        parts.keys,
        parts.directory,
        tasks,
        parts.portal_links,
    )


def _console(service: Service, parts: Parts) -> Callable[[ModuleType], ASGIApp]:
    face = _face(service, parts, "Console")
    return lambda module: module.console_app(face(module), parts.changes, parts.request_calls)


def _portal(service: Service, parts: Parts) -> Callable[[ModuleType], ASGIApp]:
    face = _face(service, parts, "Portal")
    return lambda module: module.portal_app(face(module), parts.share_signer, parts.request_calls)


def create_app(service: Service, parts: Parts, lifespan: Lifespan | None = None) -> Starlette:
    """The application over `service` and the process's `parts`; `lifespan` runs the workers
    beside it (receiver/app/build.py)."""
    settings = service.config.settings
    callback = Callback(
        parts.workers,
        service.signer,
        service.polls,
        parts.directory.subscribers,
        parts.poll_lease,
        settings.callbacks,
        settings.server.body_timeout_seconds,
    )
    api = _ApiWhenVisited()

    async def prepare(router: Router) -> None:
        # What readiness waits for beside the store: the API's routes, and CometAPI's client
        # open (aiohttp imported on a thread), so the first callbacks a load balancer sends
        # ask CometAPI at once instead of leaving their polls for later behind that import.
        await asyncio.gather(api.build(router), service.comet.open())  # each on a thread

    routes = [
        # First: the busiest route, a bare ASGI app, matched before any other.
        Route(CALLBACK_PATH, callback, methods=["POST"]),
        *probes.routes(prepare, probed(service)),
        api,
        Mount("/console", app=_BuiltWhenVisited("receiver.console", _console(service, parts))),
        Mount("/portal", app=_BuiltWhenVisited("receiver.portal", _portal(service, parts))),
    ]
    tool_parts = ToolParts(
        service.store,
        service.log,
        parts.intake,
        parts.canceller,
        parts.changes,
        parts.media_links,
        parts.share_signer,
        parts.keys,
        parts.directory,
        service.config.settings,
        service.config.public_url,
        parts.workers,
    )
    door = agents_door(tool_parts)
    if door is not None:
        # The agents' door (MCP over Streamable HTTP): its sessions run inside the lifespan.
        routes.append(Route(AGENTS_PATH, door, methods=["GET", "POST", "DELETE"]))
        lifespan = door.around(lifespan)
    app = Starlette(
        routes=routes,
        exception_handlers={
            RelayError: _relay_error,
            HTTPException: _http_error,
            Exception: _crash,
        },
        lifespan=lifespan,
    )
    app.state.service = service
    parts.put_on(app.state)
    return app
