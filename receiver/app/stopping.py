"""What a stopping process does last, `receiver serve` and `receiver deliver` alike."""

from __future__ import annotations

import asyncio

from receiver.kernel.observability import tracing
from receiver.wiring.service import Service


async def flush_traces(service: Service) -> None:
    """The last spans sent within the shutdown grace (at most tracing.FLUSH_SECONDS), then
    the exit, whether the collector answered or not."""
    if not tracing.enabled():
        return
    grace = min(service.config.settings.delivery.shutdown_grace_seconds, tracing.FLUSH_SECONDS)
    if await asyncio.to_thread(tracing.flush, grace):
        service.log.info("tracing.flushed")
    else:
        service.log.warning(
            "tracing.flush_cut_off",
            detail=f"the trace collector took more than {grace:g} s; the last spans are dropped",
            exports_to=tracing.exports_to(),
        )
