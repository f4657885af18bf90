"""Broker destinations: a delivery published to RabbitMQ, NATS JetStream, MQTT or Redis
Streams, and counted as delivered only once the broker confirms it.

One `Publisher` per downstream, behind one narrow interface: `publish()` returns once the
broker has confirmed the message, or raises `DownstreamError` saying why. Each keeps one
connection, reused across deliveries, and reconnects with backoff when the broker goes away.
"""

from __future__ import annotations

from receiver.config.targets import (
    BROKER_SCHEMES,
    TARGET_FIELD,
    BrokerTarget,
    Message,
    Publisher,
    fill,
)
from receiver.downstreams.brokers.open import open_publisher

__all__ = [
    "BROKER_SCHEMES",
    "TARGET_FIELD",
    "BrokerTarget",
    "Message",
    "Publisher",
    "fill",
    "open_publisher",
]
