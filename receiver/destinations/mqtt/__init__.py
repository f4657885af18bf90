"""`format = "mqtt"`: an MQTT 5 topic, at QoS 1. Its publisher (publisher.py) comes with the
`mqtt` extra."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.publishing import BrokerTarget, Publisher


class MqttSettings(BaseModel):
    topic: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class MqttDestination(BrokerDestination):
    format = "mqtt"
    extra = "mqtt"
    settings = ("topic",)
    target_setting = "topic"
    schemes = ("mqtt", "mqtts")
    wildcards = "+#"

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.mqtt.publisher import Mqtt

        # Unique per process: a broker ends the older session of a repeated client id.
        return Mqtt(target, client_id=f"runway-relay-{name}-{uuid.uuid4().hex[:8]}")


PROVIDER = MqttDestination()
