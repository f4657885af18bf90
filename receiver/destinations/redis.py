"""`format = "redis"`: Redis Streams, `XADD` (trimmed to about `maxlen` when set), delivered
once Redis answers with the entry's id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from receiver.destinations.brokers import BrokerDestination, server_of
from receiver.destinations.connection import Connected, Reconnecting
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms, ServerJudge

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True)
class RedisTarget(BrokerTarget):
    maxlen: int | None = None  # XADD MAXLEN ~; None: the stream is not trimmed


class RedisDestination(BrokerDestination):
    metadata = METADATA["redis"]
    schemes = ("redis", "rediss")

    def target_addresses(self, settings: Any) -> list[str]:
        """`redis://HOST:PORT/DB/STREAM` (the query's `db`, else the path's number)."""
        parts = urlsplit(settings.url)
        db = parse_qs(parts.query).get("db", [parts.path.strip("/") or "0"])[-1]
        return [f"{server_of(settings.url)}/{quote(db, safe='')}/{settings.stream}"]

    def target(self, settings: Any) -> RedisTarget:
        url, stream, timeout = settings.url, settings.stream, settings.timeout
        return RedisTarget(self.metadata.format, url, stream, timeout, maxlen=settings.maxlen)

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        assert isinstance(target, RedisTarget)
        return RedisStreams(target, connections=max_in_flight)


def _judge_each_connection(client: Redis, judge: ServerJudge) -> None:
    """The pool opens a connection whenever it has none free: each is judged as it is made."""
    pool = client.connection_pool
    base: Any = pool.connection_class

    class Judged(base):  # type: ignore[misc]
        async def _connect(self) -> None:
            await judge(self.host, self.port)
            await super()._connect()

    pool.connection_class = Judged


class RedisStreams(Connected["Redis"]):
    def __init__(self, target: RedisTarget, connections: int) -> None:
        self.target = target
        self.connections = connections
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> Redis:
        from redis.asyncio import Redis

        client = Redis.from_url(
            self.target.url,
            socket_timeout=self.target.timeout,
            socket_connect_timeout=self.target.timeout,
            max_connections=self.connections,
        )
        if (judge := self.target.judge) is not None:
            _judge_each_connection(client, judge)
        await client.ping()
        return client

    @staticmethod
    async def _shut(client: Redis) -> None:
        await client.aclose()

    async def publish(self, message: BrokerMessage) -> None:
        client = await self._conn.get()
        fields: dict[Any, Any] = {"body": message.body, **message.headers}
        try:
            await client.xadd(message.name, fields, maxlen=self.target.maxlen, approximate=True)
        except Exception as exc:
            raise await self.broken(client, exc) from None


PROVIDER = RedisDestination()
