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

from receiver.app.parts import directory_of, fanout_of
from receiver.expressions import pool as expression_pool
from receiver.kernel.net import speed
from receiver.kernel.observability import tracing
from receiver.lifecycle.transactions import leases
from receiver.wiring.service import Service


async def run_worker(service: Service, stopping: asyncio.Event) -> None:
    """Deliver until `stopping` is set; in-flight attempts get the shutdown grace."""
    log = service.log
    await service.store.migrate()
    if service.store.exclusive:
        # The only deliverer on this store: what a killed predecessor held is free again.
        await leases.release_all(service.store, delivering=True, polling=False)
    directory = directory_of(service)
    await directory.start()
    log.info("worker.started", downstreams=list(directory.every), owner=service.owner)
    tick = service.config.settings.delivery.outbox_scan_seconds
    following = asyncio.create_task(directory.run(stopping, tick))
    try:
        await fanout_of(service, directory).run(stopping)
        await following
    finally:
        await service.close()
        expression_pool.close()
        log.info("worker.stopped")
        await tracing.flush_at_exit(
            service.config.settings.delivery.shutdown_grace_seconds, service.log
        )


def deliver(service: Service) -> None:
    """Run the worker until SIGTERM or SIGINT."""

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await run_worker(service, stopping)

    speed.run(main())
