"""What a route is given, as FastAPI dependencies: each a typed part of the process, put on
the application at start-up (receiver/app/asgi.py and receiver/app/parts.py) and read from
it here. A feature declares its own parts' dependencies with `on_app` in its API module;
the bare Starlette routes (the front door's uploads and passed-through creates) await the
same functions. Here, not beside the parts: they are built at every start, and FastAPI is
imported only with the API, at its first request (receiver/app/asgi.py).

Each a coroutine, as every dependency: FastAPI runs a plain function in a worker thread, a
hop per request that cost a front-door create about a tenth of its CPU."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends
from starlette.requests import Request

from receiver.config.sections import (
    DeliveryConfig,
    MediaConfig,
    RetentionConfig,
    ServerConfig,
    UpstreamConfig,
)
from receiver.kernel.net.request_calls import RequestCalls
from receiver.kernel.observability.logs import Log
from receiver.kernel.secrets.tokens import MediaLinks
from receiver.kernel.store import Store
from receiver.wiring.service import Service
from receiver.wiring.worker_parts import WorkerParts

T = TypeVar("T")


async def _service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def on_app(name: str, kind: type[T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """The dependency that gives the part of type `kind` put on the application as `name`
    at start-up (receiver/app/parts.py)."""

    async def given(request: Request) -> T:
        return cast(T, getattr(request.app.state, name))

    return given


async def store_of(request: Request) -> Store:
    return (await _service_of(request)).store


async def log_of(request: Request) -> Log:
    return (await _service_of(request)).log


async def server_settings_of(request: Request) -> ServerConfig:
    return (await _service_of(request)).config.settings.server


async def delivery_settings_of(request: Request) -> DeliveryConfig:
    return (await _service_of(request)).config.settings.delivery


async def upstream_settings_of(request: Request) -> UpstreamConfig:
    return (await _service_of(request)).config.settings.upstream


async def signing_keys_of(request: Request) -> list[str]:
    """The relay's signing keys, newest last: for what it signs on its own (uploads)."""
    return (await _service_of(request)).config.secrets.signing_keys


async def media_settings_of(request: Request) -> MediaConfig:
    return (await _service_of(request)).config.settings.media


async def retention_settings_of(request: Request) -> RetentionConfig:
    return (await _service_of(request)).config.settings.retention


async def public_url_of(request: Request) -> str:
    return (await _service_of(request)).config.public_url


async def access_change_of(request: Request) -> Callable[[], None]:
    """Tell the live streams here that a key was revoked or an app deleted."""
    return (await _service_of(request)).access_changed


# The store, which a route hands to a feature's reads and transactions.
Stored = Annotated[Store, Depends(store_of)]
Logged = Annotated[Log, Depends(log_of)]
# The store, metrics, log and wake-ups: what an action that wakes the fan-out uses.
Workers = Annotated[WorkerParts, Depends(on_app("workers", WorkerParts))]
# The delivery settings, that a downstream made or changed through the API is held to.
DeliverySection = Annotated[DeliveryConfig, Depends(delivery_settings_of)]
# The relay's signing keys, newest last.
SigningKeys = Annotated[list[str], Depends(signing_keys_of)]
# The server's settings: how long a body may take, how far a search looks.
ServerSection = Annotated[ServerConfig, Depends(server_settings_of)]
MediaSection = Annotated[MediaConfig, Depends(media_settings_of)]
RetentionSection = Annotated[RetentionConfig, Depends(retention_settings_of)]
UpstreamSection = Annotated[UpstreamConfig, Depends(upstream_settings_of)]
# Where the relay is reached from outside (the links it makes start with it).
PublicUrl = Annotated[str, Depends(public_url_of)]
AccessChange = Annotated[Callable[[], None], Depends(access_change_of)]
# A route's signer of media links.
Links = Annotated[MediaLinks, Depends(on_app("media_links", MediaLinks))]
# The bound on the calls to downstreams that requests wait on (validate, test events).
Calls = Annotated[RequestCalls, Depends(on_app("request_calls", RequestCalls))]
