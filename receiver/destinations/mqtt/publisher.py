"""`format = "mqtt"`: an MQTT 5 broker at QoS 1, delivered once its PUBACK arrives. The
Standard Webhooks headers travel as MQTT 5 user properties."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from receiver.destinations.connection import Reconnecting, describe
from receiver.destinations.publishing import BrokerTarget, Message
from receiver.kernel.errors import DownstreamError


class Mqtt:
    def __init__(self, target: BrokerTarget, client_id: str) -> None:
        self.target = target
        self.client_id = client_id
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> aiomqtt.Client:
        parts = urlsplit(self.target.url)
        tls = parts.scheme == "mqtts"
        client = aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            timeout=self.target.timeout,
            tls_params=aiomqtt.TLSParameters() if tls else None,
        )
        await client.__aenter__()
        return client

    @staticmethod
    async def _shut(client: aiomqtt.Client) -> None:
        await client.__aexit__(None, None, None)

    async def publish(self, message: Message) -> None:
        client = await self._conn.get()
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/json"
        properties.UserProperty = list(message.headers.items())
        try:
            await client.publish(
                message.name,
                message.body,
                qos=1,
                properties=properties,
                timeout=self.target.timeout,
            )
        except Exception as exc:
            await self._conn.drop(client)
            raise DownstreamError(f"publish failed: {describe(exc)}") from None

    async def close(self) -> None:
        await self._conn.close()
