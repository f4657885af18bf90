"""A CloudEvents envelope on every broker, end to end: one relay publishes one task's event
to RabbitMQ, NATS JetStream, Mosquitto (MQTT 5), Redis Streams, Kafka (Tansu) and Google's
Pub/Sub emulator, in both modes where the broker has a binding (Redis structured only), and
each consumer's message is read by the CNCF SDK: Kafka's by `cloudevents.v1.kafka`, AMQP's
by `cloudevents.core.bindings.amqp`, a structured one by `from_json`; a binary one whose
binding the SDK has no helper for (NATS, MQTT, Pub/Sub) is read as its binding says and
made an event by `from_dict`. Each is the relay's event as a webhook gets it, still signed
over the body as sent."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pytest
from cloudevents.core.bindings import amqp
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka
from cloudevents.v1.http import from_dict, from_json

from tests.brokers import MqttTopic, NatsStream, RabbitQueue, RedisStream
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_brokers import signed
from tests.harness import Sink, image_to_video, wait_for
from tests.kafka import KafkaTopic, Tansu
from tests.pubsub import Emulator, PubsubTopic

# On the Pub/Sub emulator's worker: one emulator (a Java process) for the run.
pytestmark = pytest.mark.xdist_group("pubsub-emulator")
MODES = {"binary": "cloudevents-binary", "structured": "cloudevents"}
# A context attribute's name (the spec's rule): MQTT's user properties named so are the
# attributes, the Standard Webhooks ones (`webhook-id`) beside them cannot be.
ATTRIBUTE = re.compile(r"[a-z0-9]{1,20}")
T = TypeVar("T")


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Emulator | None:
    """The Pub/Sub emulator where gcloud is installed; without it the other brokers still
    are tested."""
    if shutil.which("gcloud") is None:
        return None
    found: Emulator = request.getfixturevalue("pubsub_emulator")
    return found


class Consumers:
    """One queue, stream or topic a downstream and its mode, made before the relay starts."""

    def __init__(self, tansu: Tansu, emulator: Emulator | None) -> None:
        self.rabbit = {m: RabbitQueue(shaped=m == "structured") for m in MODES}
        self.nats = {m: NatsStream(shaped=m == "structured") for m in MODES}
        self.mqtt = {m: MqttTopic(shaped=m == "structured") for m in MODES}
        self.redis = RedisStream(shaped=True)
        self.kafka = {m: KafkaTopic(tansu, shaped=m == "structured") for m in MODES}
        self.pubsub = (
            {m: PubsubTopic(emulator, shaped=m == "structured") for m in MODES}
            if emulator is not None
            else {}
        )

    def downstreams(self) -> list[dict[str, Any]]:
        common = {"timeout": 5.0, "secret_env": "HOOK_SECRET"}
        made: list[dict[str, Any]] = [
            {**common, "name": "redis", "format": "redis", "envelope": "cloudevents"}
            | {"url": "redis://127.0.0.1:6379/0", "stream": self.redis.name}
        ]
        for mode, envelope in MODES.items():
            each = {**common, "envelope": envelope}
            queue, stream = self.rabbit[mode], self.nats[mode]
            made += [
                {**each, "name": f"amqp-{mode}", "format": "amqp", "url": queue.url}
                | {"routing_key": queue.name},
                {**each, "name": f"nats-{mode}", "format": "nats"}
                | {"url": "nats://127.0.0.1:4222", "subject": f"{stream.subjects}.{{state}}"},
                {**each, "name": f"mqtt-{mode}", "format": "mqtt"}
                | {"url": "mqtt://127.0.0.1:1883", "topic": f"{self.mqtt[mode].prefix}/{{state}}"},
                {**each, "name": f"kafka-{mode}", "format": "kafka", "idempotent": False}
                | {"url": self.kafka[mode].url},
            ]
            if self.pubsub:
                made.append(
                    {**each, "name": f"pubsub-{mode}", "format": "pubsub"}
                    | {"url": self.pubsub[mode].url}
                )
        return made

    def delete(self) -> None:
        made: list[RabbitQueue | NatsStream | MqttTopic | RedisStream] = [
            *self.rabbit.values(),
            *self.nats.values(),
            *self.mqtt.values(),
            self.redis,
        ]
        for each in made:
            each.delete()


@pytest.fixture
def consumers(tansu: Tansu, emulator: Emulator | None) -> Iterator[Consumers]:
    made = Consumers(tansu, emulator)
    yield made
    made.delete()


def one(read: Callable[[], list[T]]) -> T:
    """The one message a consumer got, once it came."""
    got: list[T] = wait_for(read)
    [message] = got
    return message


def bound(attributes: Mapping[str, Any], prefix: str, content_type: str, body: bytes) -> Any:
    """A binary-mode event read as its binding says, for one the SDK has no helper for: the
    attributes named with `prefix`, the data's content type the protocol's own (JSON)."""
    context = {
        name.lower().removeprefix(prefix): str(value)
        for name, value in attributes.items()
        if name.lower().startswith(prefix)
        and ATTRIBUTE.fullmatch(name.lower().removeprefix(prefix))
    }
    return from_dict({**context, "datacontenttype": content_type, "data": json.loads(body)})


def test_each_broker_gets_the_event_as_a_cloudevent_in_both_modes(
    make_relay: MakeRelay, sink: Sink, consumers: Consumers, emulator: Emulator | None
) -> None:
    env = {"PUBSUB_EMULATOR_HOST": emulator.host} if emulator is not None else {}
    relay = make_relay([webhook(sink), *consumers.downstreams()], env=env)
    task = relay.submitted(**image_to_video())
    [hit] = wait_for(lambda: sink.accepted("/hook") or None)
    expected = json.loads(hit["body"])
    # What each consumer got: its headers (the signature's), the body as sent, the event.
    got: dict[str, tuple[Mapping[str, Any], bytes, Any]] = {}
    for mode in MODES:
        binary = mode == "binary"
        # Binary: the data's own type, in the protocol's own place; structured: the event's.
        wanted = "application/json" if binary else "application/cloudevents+json"

        headers, body = one(consumers.rabbit[mode].messages)
        assert headers["content_type"] == wanted
        message = amqp.AMQPMessage({"content-type": headers["content_type"]}, headers, body)
        got[f"amqp-{mode}"] = (headers, body, amqp.from_amqp(message, JSONFormat()))

        headers, body, _ = one(consumers.nats[mode].messages)
        assert headers["content-type"] == wanted
        event = bound(headers, "ce-", wanted, body) if binary else from_json(body)
        got[f"nats-{mode}"] = (headers, body, event)

        props, body, _ = one(consumers.mqtt[mode].messages)
        assert props["content_type"] == wanted
        event = bound(props, "", wanted, body) if binary else from_json(body)
        got[f"mqtt-{mode}"] = (props, body, event)

        record = one(consumers.kafka[mode].messages)
        assert record.headers["content-type"] == wanted
        assert record.key == task["id"].encode()
        raw = {name: value.encode() for name, value in record.headers.items()}
        read = kafka.from_binary if binary else kafka.from_structured
        event = read(kafka.KafkaMessage(raw, record.key, record.value))
        got[f"kafka-{mode}"] = (record.headers, record.value, event)

        if mode in consumers.pubsub:
            pulled = one(consumers.pubsub[mode].messages)
            attributes, data = pulled.attributes, pulled.data
            assert attributes["content-type"] == wanted
            event = bound(attributes, "ce-", wanted, data) if binary else from_json(data)
            got[f"pubsub-{mode}"] = (attributes, data, event)

    fields, body = one(consumers.redis.messages)
    assert fields["content-type"] == "application/cloudevents+json"
    got["redis"] = (fields, body, from_json(body))

    for name, (carried, sent, event) in got.items():
        attributes = event.get_attributes()
        assert attributes["specversion"] == "1.0", name
        # The event's own id, the same on every downstream; its data the event's own
        # document, the relay's event's `data`.
        assert attributes["id"] == expected["data"]["event_id"] != carried["webhook-id"], name
        assert attributes["type"] == "com.runway-relay.task.succeeded", name
        assert attributes["subject"] == task["id"], name
        assert attributes["source"] == relay.url, name  # the operator's: the relay's URL
        assert event.get_data() == expected["data"], name
        signed(dict(carried), sent)  # verified over the body as sent
    deliveries = relay.api.get("/v1/deliveries", params={"task_id": task["id"]}).json()
    assert {d["downstream"]: d["state"] for d in deliveries["deliveries"]} == dict.fromkeys(
        ["hook", *got], "succeeded"
    )
