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
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import open_store
from receiver.kernel.supervisor import Supervisor
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


def build_service(config: Config) -> Service:
    s = config.settings
    labels = DownstreamLabels()
    log, metrics = logs.get_logger("receiver"), Metrics(DELIVERY_STATES, labels)
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
        log=log,
        metrics=metrics,
        labels=labels,
        owner=process_owner(),
        wakers=wakers_for(s),
        workers=Supervisor(log, metrics.worker_failures),
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
        # A young collection every 10,000 allocations, not 700: a burst of new lanes (a
        # hundred objects each, long-lived) otherwise ran a full collection over every lane
        # every few hundred lanes (issue 91's burst at 1,000 apps: 0.5 s of its 3 s of CPU).
        gc.set_threshold(10_000, 10, 10)
        gc.enable()
        stopping = asyncio.Event()
        tick = settings.delivery.outbox_scan_seconds
        # Each worker's object made once: a worker started again after a failure keeps
        # what it holds (its work in flight, its connections).
        keep = partial(service.workers.start, stopping=stopping)
        poller, submitter = _poller(service, parts), _submitter(service, parts)
        workers = [
            keep("poller", partial(poller.run, stopping)),
            keep("submitter", partial(submitter.run, stopping)),
            keep("changes", partial(parts.changes.run, stopping)),
            keep("gauges", partial(count_store, probed(service), stopping)),
            keep("directory", partial(directory.run, stopping, tick)),
        ]
        if delivers:
            fanout = fanout_of(service, directory, parts.task_webhook_keys)
            workers.append(keep("fanout", partial(fanout.run, stopping)))
        if mirrors:
            workers.append(keep("mirror", partial(_mirror(service, parts).run, stopping)))
        if settings.retention.enabled:
            prune = Retention(worker_parts(service), settings.retention)
            workers.append(keep("retention", partial(prune.run, stopping)))
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
