"""The Starlette application: the API's routes, the console, and every error as one shape."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from receiver.agents import PATH as AGENTS_PATH
from receiver.agents import agents_door
from receiver.app.api.routes import routes as api_routes
from receiver.console import console_app
from receiver.frontdoor import more as runway_more
from receiver.frontdoor import tasks as runwayml
from receiver.kernel.errors import RelayError
from receiver.kernel.http.answers import error
from receiver.kernel.http.errors import answer_for, headers_for
from receiver.kernel.service import Service
from receiver.portal import portal_app

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[Any]]


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


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own (404 for no route, 405 with its Allow header): same shape, headers kept.
    assert isinstance(exc, HTTPException)
    if _runway_door(request):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
    return error(exc.status_code, "http_error", exc.detail, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    # Never a stack trace on the wire; the log line has it.
    if _runway_door(request):
        return JSONResponse({"error": "unexpected error; it has been logged"}, 500)
    return error(500, "internal", "unexpected error; it has been logged")


def create_app(service: Service, lifespan: Lifespan | None = None) -> Starlette:
    """The application over `service`; `lifespan` runs the workers beside it (receiver/process)."""
    routes = [
        # The API's routes and their OpenAPI description come from one table.
        *api_routes(),
        *runway_more.ROUTES,  # after them: what they do not match
        Mount("/console", app=console_app(service)),
        Mount("/portal", app=portal_app(service)),
    ]
    door = agents_door(service)
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
    return app
