"""Whether this process takes work now, as the readiness probe and the console ask it."""

from __future__ import annotations

from receiver.kernel.errors import Overloaded, StoreError
from receiver.wiring.service import Service


async def ready(service: Service) -> None:
    """Raise, saying why, unless this process takes work now: not draining after SIGTERM
    (Overloaded), the store answers and holds every migration this release ships
    (StoreError)."""
    if service.draining():
        raise Overloaded("draining: this process is shutting down")
    if lacking := await service.store.ready():
        raise StoreError(f"migrations not applied yet: {', '.join(map(str, lacking))}")
