"""`format = "amqp"`: RabbitMQ, to an exchange (the default one unless named) with a
routing key, with publisher confirms. Messages are persistent and `mandatory`, so a message
no queue takes comes back as a failure, never as delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from receiver.destinations.brokers import BrokerDestination, server_of
from receiver.destinations.connection import Connected, Reconnecting, judged
from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Binding
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms, content_typed
from receiver.kernel.errors import DownstreamError

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

    Opened = tuple[AbstractConnection, AbstractChannel, AbstractExchange]


@dataclass(frozen=True)
class AmqpTarget(BrokerTarget):
    exchange: str = ""  # "": the default exchange


class AmqpDestination(BrokerDestination):
    metadata = METADATA["amqp"]
    schemes = ("amqp", "amqps")

    def target_addresses(self, settings: Any) -> list[str]:
        """`amqp://HOST:PORT/VHOST/EXCHANGE/ROUTING_KEY`, vhost and exchange percent-encoded
        as RabbitMQ's HTTP API writes them (`%2F`, `amq.default`)."""
        vhost = quote(unquote(urlsplit(settings.url).path[1:]) or "/", safe="")
        exchange = quote(settings.exchange, safe="") if settings.exchange else "amq.default"
        return [f"{server_of(settings.url)}/{vhost}/{exchange}/{settings.routing_key}"]

    def target(self, settings: Any) -> AmqpTarget:
        name, exchange = settings.routing_key, settings.exchange or ""
        return AmqpTarget(
            self.metadata.format, settings.url, name, settings.timeout, exchange=exchange
        )

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        assert isinstance(target, AmqpTarget)
        return RabbitMQ(target)

    def binding(self, settings: Any) -> Binding | None:
        if not settings.exchange:
            return Binding(self.metadata.format)
        exchange = {"is": "routingKey", "exchange": {"name": settings.exchange}}
        return Binding(self.metadata.format, {self.metadata.format: exchange})


class RabbitMQ(Connected["Opened"]):
    def __init__(self, target: AmqpTarget) -> None:
        self.target = target
        self._conn = Reconnecting(judged(target, self._open), self._shut, target.timeout)

    async def _open(self) -> Opened:
        import aio_pika

        connection = await aio_pika.connect(self.target.url, timeout=self.target.timeout)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = (
            await channel.get_exchange(self.target.exchange, ensure=False)
            if self.target.exchange
            else channel.default_exchange
        )
        return connection, channel, exchange

    @staticmethod
    async def _shut(opened: Opened) -> None:
        await opened[0].close()

    async def publish(self, message: BrokerMessage) -> None:
        import aio_pika
        from aio_pika.exceptions import DeliveryError

        opened = await self._conn.get()
        headers, content_type = content_typed(message.headers)
        amqp_message = aio_pika.Message(
            message.body,
            headers=dict(headers),
            content_type=content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.headers["webhook-id"],
            type=message.headers["webhook-type"],
            timestamp=datetime.fromtimestamp(int(message.headers["webhook-timestamp"]), UTC),
        )
        try:
            await opened[2].publish(
                amqp_message, message.name, mandatory=True, timeout=self.target.timeout
            )
        except DeliveryError as exc:
            # The broker answered: returned (no queue is bound for the key) or refused.
            returned = exc.message is not None
            why = f"no queue takes routing key {message.name!r}" if returned else "nacked"
            raise DownstreamError(f"not delivered: {why}") from None
        except Exception as exc:
            raise await self.broken(opened, exc) from None


PROVIDER = AmqpDestination()
