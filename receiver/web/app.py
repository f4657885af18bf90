"""The Starlette application: routes, error pages, and the workers' lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from receiver.adapters.comet.client import CometClient
from receiver.adapters.tokens import CallbackSigner
from receiver.config import Config
from receiver.errors import NotAuthenticated, RelayError
from receiver.observability import logs
from receiver.observability.metrics import Metrics
from receiver.persist import open_store
from receiver.pipeline.fanout import Fanout
from receiver.pipeline.gauges import count_store
from receiver.pipeline.mirror import Mirror, give_up_copies
from receiver.pipeline.poller import Poller
from receiver.pipeline.queue import Submitter
from receiver.pipeline.retention import Retention
from receiver.pipeline.service import Service, Work
from receiver.web.api.routes import routes as api_routes
from receiver.web.console import console_app
from receiver.web.errors import answer_for
from receiver.web.http import error


def build_service(config: Config) -> Service:
    s = config.settings
    return Service(
        config=config,
        store=open_store(s.storage.url),
        comet=CometClient(
            str(s.upstream.base_url),
            config.secrets.api_key,
            s.upstream.runway_version,
            s.upstream.timeout_seconds,
        ),
        signer=CallbackSigner(config.secrets.signing_keys, s.callbacks.max_age_seconds),
        log=logs.get_logger("receiver"),
        metrics=Metrics(),
    )


async def _relay_error(request: Request, exc: Exception) -> Response:
    """Every refusal the relay makes, as one JSON shape (receiver/errors.py)."""
    assert isinstance(exc, RelayError)
    status, code = answer_for(exc)
    response = error(status, code, exc.detail, None, **exc.extra)
    if isinstance(exc, NotAuthenticated):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own (404 for no route, 405 with its Allow header): same shape, headers kept.
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, "http_error", exc.detail, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    # Never a stack trace on the wire; the log line has it.
    return error(500, "internal", "unexpected error; it has been logged")


def create_app(service: Service) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        applied = await service.store.migrate()
        delivers = service.config.settings.delivery.in_process
        copies = service.config.settings.media.enabled
        if service.store.exclusive:
            # Whatever the previous process had in flight when it died resumes now; the
            # deliveries of a separate `receiver deliver` stay its own.
            await service.store.release_all_leases(deliveries=delivers, polls=True, copies=True)
        if not copies and (given_up := await give_up_copies(service)):
            service.log.warning("media.off", copies_given_up=given_up)
        await service.directory.start()
        service.log.info(
            "service.started",
            migrations=applied,
            downstreams=list(service.directory.every),
            owner=service.owner,
        )
        # What start-up allocated lives as long as the process: keep the collector off it,
        # so full collections stay short under load.
        gc.collect()
        gc.freeze()
        stopping = asyncio.Event()
        tick = service.config.settings.delivery.tick_seconds
        workers = [
            asyncio.create_task(Poller(service).run(stopping), name="poller"),
            asyncio.create_task(Submitter(service).run(stopping), name="submitter"),
            asyncio.create_task(service.changes.run(stopping), name="changes"),
            asyncio.create_task(count_store(service, stopping), name="gauges"),
            asyncio.create_task(service.directory.run(stopping, tick), name="directory"),
        ]
        if delivers:
            workers.append(asyncio.create_task(Fanout(service).run(stopping), name="fanout"))
        if copies:
            workers.append(asyncio.create_task(Mirror(service).run(stopping), name="mirror"))
        if service.config.settings.retention.enabled:
            prune = Retention(service).run(stopping)
            workers.append(asyncio.create_task(prune, name="retention"))
        try:
            yield
        finally:
            stopping.set()
            # The poller's and the submitter's waits end now, not at their next tick.
            service.wake(Work.POLLS | Work.SUBMITS)
            await asyncio.gather(*workers, return_exceptions=True)
            await service.close()  # only now that no poll or delivery is in flight
            service.log.info("service.stopped")

    app = Starlette(
        routes=[
            # The API's routes and their OpenAPI description come from one table.
            *api_routes(),
            Mount("/console", app=console_app(service)),
        ],
        exception_handlers={
            RelayError: _relay_error,
            HTTPException: _http_error,
            Exception: _crash,
        },
        lifespan=lifespan,
    )
    app.state.service = service
    return app
