"""Health, readiness and metrics: open routes for load balancers and Prometheus. Whether
this process takes work now is asked here; the store's gauges are counted in the background
every `server.metrics_count_seconds` (a scrape then costs the same with ten thousand tasks or
ten million, and any number of scrapers cost the store nothing more), or at each scrape.

Bare Starlette routes, as the callback's: a start answers them without importing FastAPI,
which comes with the API at its first request (receiver/app/asgi.py). How they are
described in the OpenAPI document is operator/api.py's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from receiver.kernel.errors import NotAuthenticated, Overloaded, StoreError, WorkerDown
from receiver.kernel.http.answers import Json, is_admin
from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store
from receiver.kernel.supervisor import Supervisor
from receiver.operator import queries

METRICS_TYPE = "text/plain; version=0.0.4"
UP = {"ok": True}  # `Ok` (kernel/http/models.py), whose models a start need not build


async def livez(request: Request) -> Response:
    """The process answers: nothing else is asked, so an outage of the store never gets a
    healthy process restarted (readiness takes it out of rotation instead)."""
    return Json(UP)


@dataclass(frozen=True)
class Probed:
    """What the probes and the store's gauges read, given at start-up (receiver/app/asgi.py
    and receiver/app/build.py): the store, the metrics, the log, whether the process is
    draining, its background workers, the metrics' token (None: open) and how often the
    gauges are counted."""

    store: Store
    metrics: Metrics
    log: Log
    draining: Callable[[], bool]
    workers: Supervisor
    metrics_token: str | None
    count_seconds: float


async def ready(probed: Probed) -> None:
    """Raise, saying why, unless this process takes work now: not draining after SIGTERM
    (Overloaded), none of its background workers waiting to be started again after a
    failure (WorkerDown), the store answers and holds every migration this release ships
    (StoreError)."""
    if probed.draining():
        raise Overloaded("draining: this process is shutting down")
    if down := probed.workers.down:
        raise WorkerDown(f"worker down, restarting after a failure: {', '.join(sorted(down))}")
    if lacking := await probed.store.ready():
        raise StoreError(f"migrations not applied yet: {', '.join(map(str, lacking))}")


async def _store_ready(probed: Probed) -> None:
    try:
        await ready(probed)
    except (Overloaded, WorkerDown):
        raise  # draining after SIGTERM, or a worker's failure logged once already
    except StoreError as exc:
        probed.log.warning("readyz.store_unavailable", reason=exc.detail)
        raise  # its one line says why: unreachable, a full disk, a failed write
    except Exception as exc:
        probed.log.warning("readyz.store_unreachable", error=type(exc).__name__)
        raise StoreError("store unreachable") from None


async def _metrics(request: Request, probed: Probed) -> Response:
    token = probed.metrics_token
    if token is not None and not is_admin(request, token):
        raise NotAuthenticated("missing or wrong metrics token (server.metrics_token_env)")
    counts: dict[str, float] | None = None
    if probed.count_seconds <= 0:
        try:
            counts = await queries.counts(probed.store)
        except Exception:
            counts = None  # keep the last gauges: an outage must not look like an empty queue
    return Response(probed.metrics.render(counts), media_type=METRICS_TYPE)


Prepare = Callable[[Router], Awaitable[None]]


def routes(prepare: Prepare, probed: Probed) -> list[Route]:
    """The probes. Liveness answers at once; readiness also waits until `prepare` has put
    the API's routes in the application's router (they are built at the first request that
    may be theirs) and opened the clients a callback uses: a load balancer sends nothing
    before every route answers at once. Each GET answers HEAD too, as the API's routes do."""

    async def readyz(request: Request) -> Response:
        await _store_ready(probed)
        await prepare(request.app.router)
        return Json(UP)

    async def metrics(request: Request) -> Response:
        return await _metrics(request, probed)

    return [
        Route("/livez", livez, methods=["GET"]),
        Route("/healthz", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


async def count_store(probed: Probed, stopping: asyncio.Event) -> None:
    """The store's gauges, counted every `server.metrics_count_seconds` until `stopping`."""
    every = probed.count_seconds
    if every <= 0:
        return  # counted at each scrape instead
    while not stopping.is_set():
        try:
            probed.metrics.set_store_gauges(await queries.counts(probed.store))
        except Exception:
            # The last gauges stay: an outage must not look like an empty queue.
            probed.log.warning("metrics.count_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
