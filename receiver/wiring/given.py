"""What a route is given, as FastAPI dependencies: the process's service and its signer of
media links, put on the application at start-up (receiver/app/parts.py). Here, not beside
them: they are built at every start, and FastAPI is imported only with the API, at its
first request (receiver/app/asgi.py). A feature's own parts are given by its API module.

Each a coroutine, as every dependency: FastAPI runs a plain function in a worker thread, a
hop per request that cost a front-door create about a tenth of its CPU."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from receiver.kernel.secrets.tokens import MediaLinks
from receiver.wiring.service import Service


async def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _media_links_of(request: Request) -> MediaLinks:
    links: MediaLinks = request.app.state.media_links
    return links


# A route's service, the process's one.
Served = Annotated[Service, Depends(service_of)]
# A route's signer of media links.
Links = Annotated[MediaLinks, Depends(_media_links_of)]
