"""The relay's process: the service built from the config, and the web application whose
lifespan runs the workers beside it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette

from receiver.app.asgi import create_app as create_web_app
from receiver.app.parts import Parts, build_parts, fanout_of, probed, worker_parts
from receiver.config import Config
from receiver.expressions import pool as expression_pool
from receiver.kernel.observability import logs, tracing
from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import open_store
from receiver.lifecycle.comet import CometClient
from receiver.lifecycle.rules.records import Work
from receiver.lifecycle.transactions import leases
from receiver.lifecycle.transactions.polls import PollPolicy
from receiver.media.mirror import Mirror, give_up_mirrors
from receiver.operator.probes import count_store
from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels
from receiver.retention.worker import Retention
from receiver.tasks.poller import Poller
from receiver.tasks.submitter import Submitter
from receiver.wiring.service import Service, process_owner
from receiver.wiring.worker_parts import wakers_for


def _said_if_failed(log: Log, worker: asyncio.Task[None]) -> None:
    """A worker that raised has stopped for good: said at once, with its traceback (the
    shutdown's gather keeps its error quiet), or a fan-out that died at its start leaves
    every delivery pending with nothing in the log. Critical: not the store's slowness that
    an error line of it says is retried (logs.py)."""
    if not worker.cancelled() and (error := worker.exception()) is not None:
        log.critical("worker.failed", worker=worker.get_name(), exc_info=error)


def build_service(config: Config) -> Service:
    s = config.settings
    labels = DownstreamLabels()
    owner = process_owner()
    return Service(
        config=config,
        store=open_store(s.storage.url, s.storage.answer_within_seconds),
        comet=CometClient(
            str(s.upstream.base_url),
            config.secrets.api_key,
            s.upstream.runway_version,
            s.upstream.timeout_seconds,
        ),
        signer=CallbackSigner(
            config.secrets.signing_keys, s.callbacks.max_age_seconds, config.public_url
        ),
        log=logs.get_logger("receiver"),
        metrics=Metrics(DELIVERY_STATES, labels),
        labels=labels,
        owner=owner,
        wakers=wakers_for(s),
    )


def _poller(service: Service, parts: Parts) -> Poller:
    s = service.config.settings
    recording = PollPolicy(
        parts.directory.subscribers,
        s.callbacks.corroborate_seconds,
        s.media.enabled,
        s.upstream.resubmit_failed,
        s.delivery.progress_interval_seconds,
        s.delivery.attempt_lease_seconds,
    )
    return Poller(
        worker_parts(service),
        service.comet,
        (service.polls, service.deliveries),
        s.polling,
        recording,
        max(2 * s.upstream.timeout_seconds, s.polling.callback_grace_seconds),
    )


def _submitter(service: Service, parts: Parts) -> Submitter:
    s = service.config.settings
    return Submitter(
        worker_parts(service),
        service.comet,
        service.signer,
        parts.directory.subscribers,
        s.upstream,
        s.polling.scan_seconds,
        s.polling.initial_delay_seconds,
    )


def _mirror(service: Service, parts: Parts) -> Mirror:
    s = service.config.settings
    grace = s.delivery.shutdown_grace_seconds
    return Mirror(worker_parts(service), service.comet, parts.media_links, s.media, grace)


def create_app(service: Service) -> Starlette:
    """The web application with every worker of `service` running beside it."""
    parts = build_parts(service)
    directory, settings = parts.directory, service.config.settings

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        applied = await service.store.migrate()
        delivers, mirrors = settings.delivery.in_process, settings.media.enabled
        if service.store.exclusive:
            # Whatever the previous process had in flight when it died resumes now; the
            # deliveries of a separate `receiver deliver` stay its own.
            await leases.release_all(
                service.store, delivering=delivers, polling=True, mirroring=True
            )
        if not mirrors and (given_up := await give_up_mirrors(worker_parts(service))):
            service.log.warning("media.off", mirrors_given_up=given_up)
        await directory.start()
        service.log.info(
            "service.started",
            migrations=applied,
            downstreams=list(directory.configured),
            owner=service.owner,
        )
        # What start-up allocated lives as long as the process: out of the collector's reach
        # (frozen), so full collections stay short under load. `receiver serve` starts with
        # the collector off: its passes over the growing heap cost a tenth of the start, and
        # a last collection before freezing found some thirty objects for 60 ms of CPU.
        gc.freeze()
        gc.enable()
        stopping = asyncio.Event()
        tick = settings.delivery.outbox_scan_seconds
        poller = _poller(service, parts)
        workers = [
            asyncio.create_task(poller.run(stopping), name="poller"),
            asyncio.create_task(_submitter(service, parts).run(stopping), name="submitter"),
            asyncio.create_task(parts.changes.run(stopping), name="changes"),
            asyncio.create_task(count_store(probed(service), stopping), name="gauges"),
            asyncio.create_task(directory.run(stopping, tick), name="directory"),
        ]
        if delivers:
            fanout = fanout_of(service, directory, parts.task_webhook_keys).run(stopping)
            workers.append(asyncio.create_task(fanout, name="fanout"))
        if mirrors:
            mirror = _mirror(service, parts).run(stopping)
            workers.append(asyncio.create_task(mirror, name="mirror"))
        if settings.retention.enabled:
            prune = Retention(worker_parts(service), settings.retention).run(stopping)
            workers.append(asyncio.create_task(prune, name="retention"))
        for worker in workers:
            worker.add_done_callback(partial(_said_if_failed, service.log))
        try:
            yield
        finally:
            stopping.set()
            # The poller's and the submitter's waits end now, not at their next tick.
            service.wakers.wake(Work.POLLS | Work.SUBMITS)
            await asyncio.gather(*workers, return_exceptions=True)
            await service.close()  # only now that no poll or delivery is in flight
            expression_pool.close()
            service.log.info("service.stopped")
            await tracing.flush_at_exit(settings.delivery.shutdown_grace_seconds, service.log)

    return create_web_app(service, parts, lifespan)
