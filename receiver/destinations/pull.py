"""`format = "pull"`: no address; the app reads `GET /v1/downstreams/{name}/events`. The
fan-out settles each delivery at once: a settled row is what the endpoint reads, so filters
and transforms apply as for a webhook."""

from __future__ import annotations

from typing import Any

from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import PublishingDestination
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms

# What a pull downstream's `url` holds: it is never sent to.
PULL_URL = "pull:"


class PullDestination(PublishingDestination):
    """Settled at once: no client, no server, nothing to preview (no address)."""

    metadata = METADATA["pull"]

    def check_url(self, url: str) -> str:
        if url != PULL_URL:
            raise ValueError("a pull downstream has no URL: leave it out")
        return url

    def target(self, settings: Any) -> BrokerTarget:
        return BrokerTarget(self.metadata.format, PULL_URL, "", timeout=float(settings.timeout))

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return []

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        return Settled()


class Settled:
    """Confirms every message: the row it settles is the event the pull endpoint reads."""

    async def publish(self, message: BrokerMessage) -> None:
        return None

    async def close(self) -> None:
        return None


PROVIDER = PullDestination()
