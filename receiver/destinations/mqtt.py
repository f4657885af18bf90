"""`format = "mqtt"`: an MQTT 5 topic at QoS 1, delivered once its PUBACK arrives; the
headers travel as user properties."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.connection import Connected, Reconnecting, judged
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms, content_typed

if TYPE_CHECKING:
    import aiomqtt


class MqttDestination(BrokerDestination):
    metadata = METADATA["mqtt"]
    schemes = ("mqtt", "mqtts")
    wildcards = "+#"

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        # Unique per process: a broker ends the older session of a repeated client id.
        return Mqtt(target, client_id=f"runway-relay-{name}-{uuid.uuid4().hex[:8]}")


class Mqtt(Connected["aiomqtt.Client"]):
    def __init__(self, target: BrokerTarget, client_id: str) -> None:
        self.target = target
        self.client_id = client_id
        self._conn = Reconnecting(judged(target, self._open), self._shut, target.timeout)

    async def _open(self) -> aiomqtt.Client:
        import aiomqtt

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

    async def publish(self, message: BrokerMessage) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = await self._conn.get()
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        headers, properties.ContentType = content_typed(message.headers)
        properties.UserProperty = list(headers.items())
        try:
            await client.publish(
                message.name,
                message.body,
                qos=1,
                properties=properties,
                timeout=self.target.timeout,
            )
        except Exception as exc:
            raise await self.broken(client, exc) from None


PROVIDER = MqttDestination()
