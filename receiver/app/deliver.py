"""`receiver deliver`: the fan-out in a process of its own, beside `receiver serve`.

A delivery costs about as much CPU as the callback that causes it, and one Python process
runs on one core; in a process of its own, fan-out gets a core of its own. Set
`delivery.in_process = false` so that `receiver serve` leaves the outbox to this worker.
Rows committed by another process wake nothing here: the worker looks for due rows every
`delivery.outbox_scan_seconds`, and at once again whenever a claim came back full.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.app.parts import directory_of, fanout_of
from receiver.expressions import pool as expression_pool
from receiver.kernel.http.answers import error, is_admin
from receiver.kernel.net import speed
from receiver.kernel.observability import tracing
from receiver.lifecycle.transactions import leases
from receiver.operator.probes import METRICS_TYPE
from receiver.wiring.service import Service


def metrics_app(service: Service) -> Starlette:
    """This worker's own /metrics (its deliveries' counters and timings), asking for the
    token of `server.metrics_token_env` as serve's listener does; nothing else."""
    token = service.config.secrets.metrics_token

    async def metrics(request: Request) -> Response:
        if token is not None and not is_admin(request, token):
            why = "missing or wrong metrics token (server.metrics_token_env)"
            return error(401, "not_authenticated", why)
        return Response(service.metrics.render(None), media_type=METRICS_TYPE)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


async def serve_metrics(
    service: Service, listening: socket.socket, stopping: asyncio.Event
) -> None:
    """`metrics_app` on `listening` until `stopping` is set."""
    import uvicorn

    config = uvicorn.Config(
        metrics_app(service), log_config=None, access_log=False, lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    await stopping.wait()
    server.should_exit = True
    await serving


async def run_worker(
    service: Service, stopping: asyncio.Event, metrics: socket.socket | None = None
) -> None:
    """Deliver until `stopping` is set; in-flight attempts get the shutdown grace. With a
    `metrics` socket, its /metrics is served there meanwhile."""
    log = service.log
    exposing = asyncio.create_task(serve_metrics(service, metrics, stopping)) if metrics else None
    await service.store.migrate()
    if service.store.exclusive:
        # The only deliverer on this store: what a killed predecessor held is free again.
        await leases.release_all(service.store, delivering=True, polling=False)
    directory = directory_of(service)
    await directory.start()
    log.info("worker.started", downstreams=list(directory.configured), owner=service.owner)
    tick = service.config.settings.delivery.outbox_scan_seconds
    # Kept running as serve keeps its workers: one that raises starts again after a backoff.
    keep = partial(service.workers.start, stopping=stopping)
    fanout = fanout_of(service, directory)
    workers = [
        keep("directory", partial(directory.run, stopping, tick)),
        keep("fanout", partial(fanout.run, stopping)),
    ]
    try:
        await asyncio.gather(*workers)
    finally:
        if exposing is not None:
            stopping.set()
            await exposing
        await service.close()
        expression_pool.close()
        log.info("worker.stopped")
        await tracing.flush_at_exit(
            service.config.settings.delivery.shutdown_grace_seconds, service.log
        )


def deliver(service: Service, metrics: socket.socket | None = None) -> None:
    """Run the worker until SIGTERM or SIGINT (its /metrics on `metrics`, if given)."""

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await run_worker(service, stopping, metrics)

    speed.run(main())
