"""The Starlette application: the callback route first (bare ASGI), the API's routes
(FastAPI's, receiver/api/routers.py), the console, and every error as one shape."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.agents import PATH as AGENTS_PATH
from receiver.agents import agents_door
from receiver.agents.calls import ToolParts
from receiver.api.routers import routes as api_routes
from receiver.app.parts import Parts
from receiver.callbacks.api import PATH as CALLBACK_PATH
from receiver.callbacks.route import Callback
from receiver.frontdoor import more as runway_more
from receiver.frontdoor import tasks as runwayml
from receiver.kernel.errors import RelayError
from receiver.kernel.http.answers import error, methods_of
from receiver.kernel.http.errors import answer_for, headers_for, malformed
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


def _runway_door(request: Request) -> bool:
    """Under /runwayml every refusal has Runway's shape, for its SDKs (runwayml.py)."""
    path = request.url.path
    return path == "/runwayml" or path.startswith("/runwayml/")


async def _relay_error(request: Request, exc: Exception) -> Response:
    """Every refusal the relay makes, as one JSON shape (receiver/kernel/errors.py)."""
    assert isinstance(exc, RelayError)
    if _runway_door(request):
        return runwayml.refusal(exc)
    status, code = answer_for(exc)
    return error(status, code, exc.detail, headers_for(exc), **exc.extra)


async def _invalid(request: Request, exc: Exception) -> Response:
    # A parameter FastAPI's models refuse: a 400 naming it, at either door, as before FastAPI.
    assert isinstance(exc, RequestValidationError)
    return await _relay_error(request, malformed(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own (404 for no route, 405 with its Allow header): same shape, headers kept.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        # Every documented method of the path, not only the first route's that matched it.
        allowed = methods_of(request, runway_more.ROUTES)
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    if _runway_door(request):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
    return error(exc.status_code, "http_error", exc.detail, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    # Never a stack trace on the wire; the log line has it.
    if _runway_door(request):
        return JSONResponse({"error": "unexpected error; it has been logged"}, 500)
    return error(500, "internal", "unexpected error; it has been logged")


def _console(service: Service, parts: Parts) -> Callable[[ModuleType], ASGIApp]:
    return lambda module: module.console_app(service, parts.keys, parts.directory, parts.changes)


def _portal(service: Service, parts: Parts) -> Callable[[ModuleType], ASGIApp]:
    return lambda module: module.portal_app(
        service, parts.keys, parts.directory, parts.share_signer
    )


def create_app(service: Service, parts: Parts, lifespan: Lifespan | None = None) -> Starlette:
    """The application over `service` and the process's `parts`; `lifespan` runs the workers
    beside it (receiver/app/build.py)."""
    callback = Callback(service, parts.directory, parts.claim_policy, parts.poll_lease)
    routes = [
        # First: the busiest route, a bare ASGI app, matched before any other.
        Route(CALLBACK_PATH, callback, methods=["POST"]),
        *api_routes(),
        Mount("/console", app=_BuiltWhenVisited("receiver.console", _console(service, parts))),
        Mount("/portal", app=_BuiltWhenVisited("receiver.portal", _portal(service, parts))),
    ]
    tool_parts = ToolParts(
        parts.changes, parts.media_links, parts.share_signer, parts.keys, parts.directory
    )
    door = agents_door(service, tool_parts)
    if door is not None:
        # The agents' door (MCP over Streamable HTTP): its sessions run inside the lifespan.
        routes.append(Route(AGENTS_PATH, door, methods=["GET", "POST", "DELETE"]))
        lifespan = door.around(lifespan)
    app = Starlette(
        routes=routes,
        exception_handlers={
            RelayError: _relay_error,
            RequestValidationError: _invalid,
            HTTPException: _http_error,
            Exception: _crash,
        },
        lifespan=lifespan,
    )
    app.state.service = service
    parts.put_on(app.state)
    return app
