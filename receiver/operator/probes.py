"""Health, readiness and metrics: open routes for load balancers and Prometheus, and how
the route table describes them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api.models import ErrorAnswer, Ok
from receiver.app.api.openapi import Operation, Reply, reply
from receiver.kernel.errors import NotAuthenticated, Overloaded, StoreError
from receiver.kernel.http.answers import is_admin
from receiver.kernel.service import Service
from receiver.operator import actions as operations
from receiver.operator import queries

METRICS_TYPE = "text/plain; version=0.0.4"


async def livez(request: Request) -> Response:
    """The process answers: nothing else is asked, so an outage of the store never gets a
    healthy process restarted (readiness takes it out of rotation instead)."""
    return reply(Ok, {"ok": True})


async def readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        await operations.ready(service)
    except Overloaded:
        raise  # draining after SIGTERM: expected, not worth a warning per probe
    except StoreError as exc:
        service.log.warning("readyz.store_unavailable", reason=exc.detail)
        raise  # its one line says why: unreachable, a full disk, a failed write
    except Exception as exc:
        service.log.warning("readyz.store_unreachable", error=type(exc).__name__)
        raise StoreError("store unreachable") from None
    return reply(Ok, {"ok": True})


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
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


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/livez",
        ("GET",),
        livez,
        "probes",
        "Liveness",
        "The process answers; no dependency is checked.",
        "none",
        (Reply(200, "Up.", Ok),),
    ),
    Operation(
        "/healthz",
        ("GET",),
        livez,
        "probes",
        "Liveness (the older name of /livez)",
        "The process answers; no dependency is checked.",
        "none",
        (Reply(200, "Up.", Ok),),
    ),
    Operation(
        "/readyz",
        ("GET",),
        readyz,
        "probes",
        "Readiness",
        "The store answers, every migration is applied, and the process is not draining"
        " after SIGTERM: use it as a load balancer's health check.",
        "none",
        (
            Reply(200, "Ready.", Ok),
            Reply(503, "The store cannot be reached, or the process is draining.", ErrorAnswer),
        ),
    ),
    Operation(
        "/metrics",
        ("GET",),
        metrics,
        "probes",
        "Prometheus metrics",
        "The text exposition format.",
        "none",
        (Reply(200, "Metrics.", media_types=("text/plain",), schema={"type": "string"}),),
    ),
)
