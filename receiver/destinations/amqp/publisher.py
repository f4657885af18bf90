"""`format = "amqp"`: RabbitMQ, with publisher confirms. Messages are persistent and
`mandatory`, so a message no queue takes comes back as a failure, never as delivered."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import DeliveryError

from receiver.destinations.connection import Reconnecting, describe
from receiver.destinations.publishing import BrokerTarget, Message
from receiver.kernel.errors import DownstreamError


class RabbitMQ:
    def __init__(self, target: BrokerTarget) -> None:
        self.target = target
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> tuple[AbstractConnection, AbstractChannel, AbstractExchange]:
        connection = await aio_pika.connect(self.target.url, timeout=self.target.timeout)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = (
            await channel.get_exchange(self.target.exchange, ensure=False)
            if self.target.exchange
            else channel.default_exchange
        )
        return connection, channel, exchange

    @staticmethod
    async def _shut(opened: tuple[AbstractConnection, AbstractChannel, AbstractExchange]) -> None:
        await opened[0].close()

    async def publish(self, message: Message) -> None:
        opened = await self._conn.get()
        amqp_message = aio_pika.Message(
            message.body,
            headers=dict(message.headers),
            content_type="application/json",
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
            await self._conn.drop(opened)
            raise DownstreamError(f"publish failed: {describe(exc)}") from None

    async def close(self) -> None:
        await self._conn.close()
