"""`format = "redis"`: Redis Streams (XADD, trimmed to about `maxlen` when set). Its
publisher (publisher.py) comes with the `redis` extra."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import BaseModel, Field

from receiver.destinations.brokers import BrokerDestination, server_of
from receiver.destinations.publishing import BrokerTarget, Publisher


class RedisSettings(BaseModel):
    stream: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    maxlen: Annotated[int, Field(gt=0)] | None = None  # XADD MAXLEN ~


class RedisDestination(BrokerDestination):
    format = "redis"
    extra = "redis"
    settings = ("stream", "maxlen")
    target_setting = "stream"
    schemes = ("redis", "rediss")

    def target_addresses(self, settings: Any) -> list[str]:
        """`redis://HOST:PORT/DB/STREAM`: the database is the query's `db`, else the
        path's number."""
        parts = urlsplit(settings.url)
        db = parse_qs(parts.query).get("db", [parts.path.strip("/") or "0"])[-1]
        return [f"{server_of(settings.url)}/{quote(db, safe='')}/{settings.stream}"]

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.redis.publisher import RedisStreams

        return RedisStreams(target, connections=max_in_flight)


PROVIDER = RedisDestination()
