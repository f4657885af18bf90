"""`format = "amqp"`: RabbitMQ, to an exchange (the default one unless named) with a
routing key. Its publisher (publisher.py) comes with the `amqp` extra."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, Field

from receiver.destinations.brokers import BrokerDestination, server_of
from receiver.destinations.provider import Binding
from receiver.destinations.publishing import BrokerTarget, Publisher


class AmqpSettings(BaseModel):
    exchange: str | None = None  # unset: the default exchange
    routing_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class AmqpDestination(BrokerDestination):
    format = "amqp"
    extra = "amqp"
    settings = ("exchange", "routing_key")
    target_setting = "routing_key"
    schemes = ("amqp", "amqps")

    def target_addresses(self, settings: Any) -> list[str]:
        """`amqp://HOST:PORT/VHOST/EXCHANGE/ROUTING_KEY`, vhost and exchange percent-encoded
        as RabbitMQ's HTTP API writes them (`%2F`, `amq.default`)."""
        vhost = quote(unquote(urlsplit(settings.url).path[1:]) or "/", safe="")
        exchange = quote(settings.exchange, safe="") if settings.exchange else "amq.default"
        return [f"{server_of(settings.url)}/{vhost}/{exchange}/{settings.routing_key}"]

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.amqp.publisher import RabbitMQ

        return RabbitMQ(target)

    def binding(self, settings: Any) -> Binding | None:
        if not settings.exchange:
            return Binding(self.format)
        exchange = {"is": "routingKey", "exchange": {"name": settings.exchange}}
        return Binding(self.format, {self.format: exchange})


PROVIDER = AmqpDestination()
