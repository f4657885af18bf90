"""A publisher for a broker downstream. Each client library is imported only when a
downstream of its format exists."""

from __future__ import annotations

import uuid

from receiver.adapters.brokers.message import BrokerTarget, Publisher
from receiver.adapters.extras import EXTRAS, require


def open_publisher(target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
    if target.format in EXTRAS:
        require(target.format, f'downstream {name} (format = "{target.format}")')
    if target.format == "amqp":
        from receiver.adapters.brokers.rabbitmq import RabbitMQ

        return RabbitMQ(target)
    if target.format == "nats":
        from receiver.adapters.brokers.jetstream import JetStream

        return JetStream(target)
    if target.format == "mqtt":
        from receiver.adapters.brokers.mqtt import Mqtt

        # Unique per process: a broker ends the older session of a repeated client id.
        return Mqtt(target, client_id=f"runway-relay-{name}-{uuid.uuid4().hex[:8]}")
    if target.format == "redis":
        from receiver.adapters.brokers.redis_streams import RedisStreams

        return RedisStreams(target, connections=max_in_flight)
    raise ValueError(f"not a broker format: {target.format}")
