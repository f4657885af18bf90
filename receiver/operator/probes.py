"""Health, readiness and metrics: open routes for load balancers and Prometheus. Whether
this process takes work now is asked here; the store's gauges are counted in the background
every `server.metrics_count_seconds` (a scrape then costs the same with ten thousand tasks or
ten million, and any number of scrapers cost the store nothing more), or at each scrape."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from receiver.kernel.errors import NotAuthenticated, Overloaded, StoreError
from receiver.kernel.http.answers import is_admin
from receiver.kernel.http.models import ErrorAnswer, Ok
from receiver.kernel.http.openapi import answer, described, media, reply
from receiver.operator import queries
from receiver.wiring.service import Served, Service

METRICS_TYPE = "text/plain; version=0.0.4"
_LIVE = described("The process answers; no dependency is checked.", auth="none")
_UP: dict[int | str, dict[str, Any]] = {200: answer("Up.", Ok)}
router = APIRouter(tags=["probes"])


@router.get("/livez", summary="Liveness", description=_LIVE, responses=_UP)
@router.get(
    "/healthz", summary="Liveness (the older name of /livez)", description=_LIVE, responses=_UP
)
async def livez() -> Response:
    """The process answers: nothing else is asked, so an outage of the store never gets a
    healthy process restarted (readiness takes it out of rotation instead)."""
    return reply(Ok, {"ok": True})


async def ready(service: Service) -> None:
    """Raise, saying why, unless this process takes work now: not draining after SIGTERM
    (Overloaded), the store answers and holds every migration this release ships
    (StoreError)."""
    if service.draining():
        raise Overloaded("draining: this process is shutting down")
    if lacking := await service.store.ready():
        raise StoreError(f"migrations not applied yet: {', '.join(map(str, lacking))}")


@router.get(
    "/readyz",
    summary="Readiness",
    description=described(
        "The store answers, every migration is applied, and the process is not draining"
        " after SIGTERM: use it as a load balancer's health check.",
        auth="none",
    ),
    responses={
        200: answer("Ready.", Ok),
        503: answer("The store cannot be reached, or the process is draining.", ErrorAnswer),
    },
)
async def readyz(service: Served) -> Response:
    try:
        await ready(service)
    except Overloaded:
        raise  # draining after SIGTERM: expected, not worth a warning per probe
    except StoreError as exc:
        service.log.warning("readyz.store_unavailable", reason=exc.detail)
        raise  # its one line says why: unreachable, a full disk, a failed write
    except Exception as exc:
        service.log.warning("readyz.store_unreachable", error=type(exc).__name__)
        raise StoreError("store unreachable") from None
    return reply(Ok, {"ok": True})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=described("The text exposition format.", auth="none"),
    responses={200: media("Metrics.", "text/plain")},
    response_class=Response,
)
async def metrics(request: Request, service: Served) -> Response:
    token = service.config.secrets.metrics_token
    if token is not None and not is_admin(request, token):
        raise NotAuthenticated("missing or wrong metrics token (server.metrics_token_env)")
    counts: dict[str, float] | None = None
    if service.config.settings.server.metrics_count_seconds <= 0:
        try:
            counts = await queries.counts(service.store)
        except Exception:
            counts = None  # keep the last gauges: an outage must not look like an empty queue
    return Response(service.metrics.render(counts), media_type=METRICS_TYPE)


async def count_store(service: Service, stopping: asyncio.Event) -> None:
    """The store's gauges, counted every `server.metrics_count_seconds` until `stopping`."""
    every = service.config.settings.server.metrics_count_seconds
    if every <= 0:
        return  # counted at each scrape instead
    while not stopping.is_set():
        try:
            service.metrics.set_store_gauges(await queries.counts(service.store))
        except Exception:
            # The last gauges stay: an outage must not look like an empty queue.
            service.log.warning("metrics.count_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
