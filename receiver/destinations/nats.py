"""`format = "nats"`: NATS JetStream, to a subject a stream takes, delivered once the stream
acknowledges the message. `Nats-Msg-Id` is the delivery's `webhook-id`, so JetStream drops a
repeat within its duplicate window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.connection import Connected, Reconnecting, judged
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms
from receiver.kernel.errors import DownstreamError

if TYPE_CHECKING:
    from nats.aio.client import Client


class NatsDestination(BrokerDestination):
    metadata = METADATA["nats"]
    schemes = ("nats", "tls")
    wildcards = "*>"

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        return JetStream(target)


async def _quiet(exc: Exception) -> None:
    """nats-py reports connection trouble here; the publish that meets it says why."""


class JetStream(Connected["Client"]):
    def __init__(self, target: BrokerTarget) -> None:
        self.target = target
        self._conn = Reconnecting(judged(target, self._open), self._shut, target.timeout)

    async def _open(self) -> Client:
        import nats

        return await nats.connect(
            self.target.url,
            connect_timeout=self.target.timeout,
            allow_reconnect=False,  # Reconnecting opens a new one, with its own backoff
            error_cb=_quiet,
        )

    @staticmethod
    async def _shut(client: Client) -> None:
        await client.close()

    async def publish(self, message: BrokerMessage) -> None:
        from nats.js.errors import NoStreamResponseError

        client = await self._conn.get()
        headers = {**message.headers, "Nats-Msg-Id": message.headers["webhook-id"]}
        try:
            await client.jetstream().publish(
                message.name, message.body, timeout=self.target.timeout, headers=headers
            )
        except NoStreamResponseError:
            why = f"not delivered: no stream takes subject {message.name!r}"
            raise DownstreamError(why) from None
        except Exception as exc:
            raise await self.broken(client, exc) from None


PROVIDER = NatsDestination()
