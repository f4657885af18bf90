"""The real brokers on loopback, as a consumer sees them: a queue, a stream, a topic, each
made for one test under a name of its own and read back as the relay's messages.

Each message read is checked as it is read: the relay's event, of the type its
`webhook-type` header names, valid against that type's schema in the event catalog
(tests/event_schemas.py); a test fails on a message that breaks it. Only a destination made
`shaped=True` (its downstream has a transform: the body is the transform's) is not.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import nats
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from redis import Redis

from receiver.outbox.rules.event_types import envelope
from tests.event_schemas import assert_message_is_its_event

T = TypeVar("T")
PORTS = {"amqp": 5672, "nats": 4222, "mqtt": 1883, "redis": 6379}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def unique() -> str:
    return uuid.uuid4().hex[:12]


def checked(where: str, headers: Mapping[str, Any], body: bytes, shaped: bool) -> None:
    """The message against its event type's schema, unless a transform made its body. A
    binary-mode CloudEvent's body is the event's own document: checked as the relay's event
    around it."""
    if shaped:
        return
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if isinstance(found, dict) and "event_id" in found and "data" not in found:
        stamp = datetime.fromtimestamp(float(found["occurred_at"]), UTC)
        wrapped = envelope(found, stamp.isoformat().replace("+00:00", "Z"))
        assert_message_is_its_event(wrapped, None, where)
        return
    assert_message_is_its_event(body, str(headers.get("webhook-type")), where)


class RabbitQueue:
    """A durable queue on the default exchange: the routing key is its name."""

    def __init__(self, port: int = PORTS["amqp"], shaped: bool = False) -> None:
        self.name = f"relay-test-{unique()}"
        self.shaped = shaped
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/"
        run(self._declare())

    async def _declare(self) -> None:
        conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{PORTS['amqp']}/")
        async with conn:
            channel = await conn.channel()
            await channel.declare_queue(self.name, durable=True)

    def messages(self) -> list[tuple[dict[str, Any], bytes]]:
        """Every message in the queue (taken off it): headers with properties, and body."""

        async def drain() -> list[tuple[dict[str, Any], bytes]]:
            conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{PORTS['amqp']}/")
            async with conn:
                channel = await conn.channel()
                queue = await channel.get_queue(self.name)
                out = []
                while (message := await queue.get(fail=False)) is not None:
                    await message.ack()
                    props = {
                        "message_id": message.message_id,
                        "type": message.type,
                        "persistent": message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT,
                        "content_type": message.content_type,
                    }
                    headers = {**dict(message.headers), **props}
                    checked(f"RabbitMQ queue {self.name}", headers, message.body, self.shaped)
                    out.append((headers, message.body))
                return out

        return run(drain())

    def delete(self) -> None:
        async def delete() -> None:
            conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{PORTS['amqp']}/")
            async with conn:
                channel = await conn.channel()
                await channel.queue_delete(self.name)

        run(delete())


class NatsStream:
    """A JetStream stream taking `relaytest.<id>.>`."""

    def __init__(self, shaped: bool = False) -> None:
        self.id = unique()
        self.shaped = shaped
        self.stream = f"RELAYTEST_{self.id}"
        self.subjects = f"relaytest.{self.id}"
        run(self._create())

    async def _create(self) -> None:
        nc = await nats.connect(f"nats://127.0.0.1:{PORTS['nats']}")
        try:
            await nc.jetstream().add_stream(name=self.stream, subjects=[f"{self.subjects}.>"])
        finally:
            await nc.close()

    def messages(self) -> list[tuple[dict[str, str], bytes, str]]:
        async def read() -> list[tuple[dict[str, str], bytes, str]]:
            nc = await nats.connect(f"nats://127.0.0.1:{PORTS['nats']}")
            try:
                js = nc.jetstream()
                info = await js.stream_info(self.stream)
                out = []
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    if info.state.messages == 0:
                        break
                    msg = await js.get_msg(self.stream, seq)
                    headers, data = dict(msg.headers or {}), msg.data or b""
                    checked(f"NATS subject {msg.subject}", headers, data, self.shaped)
                    out.append((headers, data, msg.subject or ""))
                return out
            finally:
                await nc.close()

        return run(read())

    def delete(self) -> None:
        async def delete() -> None:
            nc = await nats.connect(f"nats://127.0.0.1:{PORTS['nats']}")
            try:
                await nc.jetstream().delete_stream(self.stream)
            finally:
                await nc.close()

        run(delete())


class MqttTopic:
    """A subscriber to `relaytest/<id>/#` at QoS 1, connected before anything is sent."""

    def __init__(self, shaped: bool = False) -> None:
        self.id = unique()
        self.shaped = shaped
        self.prefix = f"relaytest/{self.id}"
        self._lock = threading.Lock()
        self._seen: list[tuple[dict[str, str], bytes, str]] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"relaytest-{self.id}",
            protocol=paho.MQTTv5,
        )
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", PORTS["mqtt"])
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the MQTT subscription was not confirmed")

    def _connected(self, client: paho.Client, *args: Any) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        """Its user properties, with its content type (a property of MQTT 5's own)."""
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        props["content_type"] = getattr(msg.properties, "ContentType", "")
        with self._lock:
            self._seen.append((props, msg.payload, msg.topic))

    def messages(self) -> list[tuple[dict[str, str], bytes, str]]:
        with self._lock:
            seen = list(self._seen)
        for props, payload, topic in seen:
            checked(f"MQTT topic {topic}", props, payload, self.shaped)
        return seen

    def delete(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class RedisStream:
    def __init__(self, shaped: bool = False) -> None:
        self.name = f"relaytest:{unique()}"
        self.shaped = shaped
        self.client = Redis(host="127.0.0.1", port=PORTS["redis"])

    def messages(self) -> list[tuple[dict[str, str], bytes]]:
        out = []
        for _, fields in self.client.xrange(self.name):
            decoded = {k.decode(): v for k, v in fields.items()}
            body = decoded.pop("body")
            fields = {k: v.decode() for k, v in decoded.items()}
            checked(f"Redis stream {self.name}", fields, body, self.shaped)
            out.append((fields, body))
        return out

    def delete(self) -> None:
        self.client.delete(self.name)
        self.client.close()
