"""A publisher for a broker downstream. Each client library is imported only when a
downstream of its format exists."""

from __future__ import annotations

import uuid

from receiver.config.aws_targets import AWS_FORMATS
from receiver.config.targets import BrokerTarget, Publisher
from receiver.kernel.extras import extra_of, require


def open_publisher(target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
    if (extra := extra_of(target.format)) is not None:
        require(extra, f'downstream {name} (format = "{target.format}")')
    if target.format == "amqp":
        from receiver.downstreams.brokers.rabbitmq import RabbitMQ

        return RabbitMQ(target)
    if target.format == "nats":
        from receiver.downstreams.brokers.jetstream import JetStream

        return JetStream(target)
    if target.format == "mqtt":
        from receiver.downstreams.brokers.mqtt import Mqtt

        # Unique per process: a broker ends the older session of a repeated client id.
        return Mqtt(target, client_id=f"runway-relay-{name}-{uuid.uuid4().hex[:8]}")
    if target.format == "redis":
        from receiver.downstreams.brokers.redis_streams import RedisStreams

        return RedisStreams(target, connections=max_in_flight)
    if target.format in AWS_FORMATS:
        return _aws_publisher(target, max_in_flight)
    raise ValueError(f"not a broker format: {target.format}")


def _aws_publisher(target: BrokerTarget, max_in_flight: int) -> Publisher:
    if target.format == "sqs":
        from receiver.downstreams.brokers.sqs import Sqs

        return Sqs(target, max_in_flight)
    if target.format == "sns":
        from receiver.downstreams.brokers.sns import Sns

        return Sns(target, max_in_flight)
    if target.format == "eventbridge":
        from receiver.downstreams.brokers.eventbridge import EventBridge

        return EventBridge(target, max_in_flight)
    from receiver.downstreams.brokers.s3_archive import S3Archive

    return S3Archive(target, max_in_flight)
