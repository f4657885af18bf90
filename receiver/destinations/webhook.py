"""The `webhook` format: the stored event document as a signed JSON event."""

from __future__ import annotations

from typing import Any

from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Addresses, Binding, Destination, webhook

__all__ = ["PROVIDER", "webhook"]


class WebhookDestination(Destination):
    """Any HTTP endpoint: the event as JSON, signed (Standard Webhooks)."""

    metadata = METADATA["webhook"]

    def addresses(self, settings: Any) -> Addresses:
        # Each one a server of the AsyncAPI document's one `webhook` channel.
        return Addresses([("url", str(settings.url))], binding=Binding("https", shared=True))


PROVIDER = WebhookDestination()
