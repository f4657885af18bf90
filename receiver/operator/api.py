"""How the probes (`/livez`, `/healthz`, `/readyz`, `/metrics`) are described in the OpenAPI
document. The routes themselves are bare Starlette routes (probes.py), answered without
FastAPI: this router is only read for the document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from receiver.kernel.http.models import ErrorAnswer, Ok
from receiver.kernel.http.openapi import answer, described, media

_LIVE = described("The process answers; no dependency is checked.", auth="none")
_UP: dict[int | str, dict[str, Any]] = {200: answer("Up.", Ok)}
described_only = APIRouter(tags=["probes"])


@described_only.get("/livez", summary="Liveness", description=_LIVE, responses=_UP)
@described_only.get(
    "/healthz", summary="Liveness (the older name of /livez)", description=_LIVE, responses=_UP
)
def livez() -> None:
    """For the document; probes.py answers it."""


@described_only.get(
    "/readyz",
    summary="Readiness",
    description=described(
        "The store answers, every migration is applied, the process is not draining"
        " after SIGTERM, and the API's routes are built (the first answer builds them):"
        " use it as a load balancer's health check.",
        auth="none",
    ),
    responses={
        200: answer("Ready.", Ok),
        503: answer("The store cannot be reached, or the process is draining.", ErrorAnswer),
    },
)
def readyz() -> None:
    """For the document; probes.py answers it."""


@described_only.get(
    "/metrics",
    summary="Prometheus metrics",
    description=described(
        "The text exposition format, on a port of its own (`server.metrics_listen`,"
        " 127.0.0.1:9464 by default); on the public port only with `server.metrics_public`"
        " and its token, else 404.",
        auth="none",
    ),
    responses={200: media("Metrics.", "text/plain")},
    response_class=Response,
)
def metrics() -> None:
    """For the document; probes.py answers it."""
