"""`format = "redis"`: Redis Streams, `XADD` with an optional approximate `maxlen`;
delivered once Redis answers with the entry's id."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from receiver.destinations.connection import Reconnecting, describe
from receiver.destinations.publishing import BrokerTarget, Message
from receiver.kernel.errors import DownstreamError


class RedisStreams:
    def __init__(self, target: BrokerTarget, connections: int) -> None:
        self.target = target
        self.connections = connections
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> Redis:
        client = Redis.from_url(
            self.target.url,
            socket_timeout=self.target.timeout,
            socket_connect_timeout=self.target.timeout,
            max_connections=self.connections,
        )
        await client.ping()
        return client

    @staticmethod
    async def _shut(client: Redis) -> None:
        await client.aclose()

    async def publish(self, message: Message) -> None:
        client = await self._conn.get()
        fields: dict[Any, Any] = {"body": message.body, **message.headers}
        try:
            await client.xadd(message.name, fields, maxlen=self.target.maxlen, approximate=True)
        except Exception as exc:
            await self._conn.drop(client)
            raise DownstreamError(f"publish failed: {describe(exc)}") from None

    async def close(self) -> None:
        await self._conn.close()
