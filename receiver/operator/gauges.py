"""The store's gauges for /metrics (tasks by state, the outbox, the submit queue, the
store's size), counted every `server.metrics_count_seconds` in the background: a scrape
then costs the same with ten thousand tasks or ten million, and any number of scrapers
cost the store nothing more."""

from __future__ import annotations

import asyncio
import contextlib

from receiver.operator import queries
from receiver.wiring.service import Service


async def count_store(service: Service, stopping: asyncio.Event) -> None:
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
