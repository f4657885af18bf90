"""`format = "nats"`: NATS JetStream, to a subject a stream takes. Its publisher
(publisher.py) comes with the `nats` extra."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.publishing import BrokerTarget, Publisher


class NatsSettings(BaseModel):
    subject: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class NatsDestination(BrokerDestination):
    format = "nats"
    extra = "nats"
    settings = ("subject",)
    target_setting = "subject"
    schemes = ("nats", "tls")
    wildcards = "*>"

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.nats.publisher import JetStream

        return JetStream(target)


PROVIDER = NatsDestination()
