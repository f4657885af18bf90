"""Broker destinations against the real brokers on loopback (RabbitMQ, NATS JetStream,
Mosquitto, Redis, and Tansu for Kafka: tests/kafka.py): each delivers a task's event, a
consumer reads exactly the document a webhook receiver gets, and what a broker does not take
is a failure, never delivered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.brokers import MqttTopic, NatsStream, RabbitQueue, RedisStream, unique
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_tracing import spans_until
from tests.harness import WEBHOOK_SECRET, Sink, image_to_video, wait_for
from tests.kafka import KafkaTopic, Tansu
from tests.otlp import Collector


@pytest.fixture
def brokers() -> Iterator[tuple[RabbitQueue, NatsStream, MqttTopic, RedisStream]]:
    made = (RabbitQueue(), NatsStream(), MqttTopic(), RedisStream())
    yield made
    for broker in made:
        broker.delete()


def broker_downstreams(
    queue: RabbitQueue, stream: NatsStream, topic: MqttTopic, redis: RedisStream
) -> list[dict[str, Any]]:
    common = {"timeout": 2.0, "secret_env": "HOOK_SECRET"}
    return [
        {**common, "name": "rabbit", "format": "amqp", "url": queue.url, "routing_key": queue.name},
        {
            **common,
            "name": "jetstream",
            "format": "nats",
            "url": "nats://127.0.0.1:4222",
            "subject": f"{stream.subjects}.{{kind}}.{{state}}",
        },
        {
            **common,
            "name": "mosquitto",
            "format": "mqtt",
            "url": "mqtt://127.0.0.1:1883",
            "topic": f"{topic.prefix}/{{state}}",
        },
        {
            **common,
            "name": "redis",
            "format": "redis",
            "url": "redis://127.0.0.1:6379/0",
            "stream": redis.name,
            "maxlen": 1000,
        },
    ]


def signed(headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The event, once the official Standard Webhooks library has verified its signature."""
    wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
    verified: dict[str, Any] = Webhook(WEBHOOK_SECRET).verify(
        body, {k: str(headers[k]) for k in wanted}
    )
    return verified


def test_each_broker_gets_the_document_a_webhook_gets(
    make_relay: MakeRelay,
    sink: Sink,
    brokers: tuple[RabbitQueue, NatsStream, MqttTopic, RedisStream],
) -> None:
    queue, stream, topic, redis = brokers
    relay = make_relay([webhook(sink), *broker_downstreams(*brokers)])
    task = relay.submitted(**image_to_video())
    hits = wait_for(lambda: sink.accepted("/hook") or None)
    assert len({h["headers"]["webhook-id"] for h in hits}) == 1, hits
    expected = json.loads(hits[0]["body"])
    assert expected["data"]["task_id"] == task["id"]

    def one(read: Any) -> Any:
        """The one message a downstream got. In a slow moment a confirm may come after the
        attempt's timeout, and the message is sent again (at least once): a repeat of it is
        allowed, another message is not. Its headers come first."""
        found = wait_for(lambda: read() or None)
        assert len({str(message[0]["webhook-id"]) for message in found}) == 1, found
        return found[0]

    (amqp_headers, amqp_body) = one(queue.messages)
    assert signed(amqp_headers, amqp_body) == expected
    assert amqp_headers["persistent"] and amqp_headers["type"] == "task.succeeded"
    assert amqp_headers["message_id"] == amqp_headers["webhook-id"]
    (nats_headers, nats_body, subject) = one(stream.messages)
    assert signed(nats_headers, nats_body) == expected
    assert subject == f"{stream.subjects}.image_to_video.succeeded"
    assert nats_headers["Nats-Msg-Id"] == nats_headers["webhook-id"]
    (mqtt_props, mqtt_body, mqtt_topic) = one(topic.messages)
    assert signed(mqtt_props, mqtt_body) == expected
    assert mqtt_topic == f"{topic.prefix}/succeeded"
    (redis_fields, redis_body) = one(redis.messages)
    assert signed(redis_fields, redis_body) == expected
    deliveries = relay.api.get("/v1/deliveries", params={"task_id": task["id"]}).json()
    states = {d["downstream"]: d["state"] for d in deliveries["deliveries"]}
    assert states == dict.fromkeys(
        ["hook", "rabbit", "jetstream", "mosquitto", "redis"], "succeeded"
    )


def test_what_no_queue_or_stream_takes_is_retried_then_dead_never_delivered(
    make_relay: MakeRelay,
) -> None:
    nowhere = unique()
    relay = make_relay(
        [
            {
                "name": "no-queue",
                "format": "amqp",
                "url": "amqp://guest:guest@127.0.0.1:5672/",
                "routing_key": f"relay-test-nowhere-{nowhere}",
                "timeout": 2.0,
            },
            {
                "name": "no-stream",
                "format": "nats",
                "url": "nats://127.0.0.1:4222",
                "subject": f"relaytest-nowhere.{nowhere}.{{state}}",
                "timeout": 2.0,
            },
        ]
    )
    task = relay.submitted(**image_to_video())

    def dead() -> list[dict[str, Any]] | None:
        found = relay.api.get("/v1/deliveries", params={"task_id": task["id"]}).json()
        rows: list[dict[str, Any]] = found["deliveries"]
        return rows if len(rows) == 2 and all(d["state"] == "dead" for d in rows) else None

    rows = {d["downstream"]: d for d in wait_for(dead)}
    assert rows["no-queue"]["attempts"] == rows["no-stream"]["attempts"] == 4  # 1 + 3 retries
    assert "no queue takes routing key" in rows["no-queue"]["last_error"]
    assert "no stream takes subject" in rows["no-stream"]["last_error"]
    detail = relay.task(task["id"])
    assert all(a["outcome"] != "succeeded" for a in detail["attempts"])


def test_a_broker_downstream_made_through_the_api_is_signed_with_its_own_secret(
    make_relay: MakeRelay, brokers: tuple[RabbitQueue, NatsStream, MqttTopic, RedisStream]
) -> None:
    redis = brokers[3]
    relay = make_relay()
    made = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "redis-runtime",
            "format": "redis",
            "url": "redis://127.0.0.1:6379/0",
            "stream": redis.name,
            "timeout": 2.0,
        },
    )
    assert made.status_code == 201, made.text
    task = relay.submitted(**image_to_video())
    [(fields, body)] = wait_for(lambda: redis.messages() or None)
    wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
    event = Webhook(made.json()["secret"]).verify(body, {k: fields[k] for k in wanted})
    assert event["data"]["task_id"] == task["id"]


def test_each_broker_message_carries_the_task_trace(
    make_relay: MakeRelay,
    brokers: tuple[RabbitQueue, NatsStream, MqttTopic, RedisStream],
    collector: Collector,
) -> None:
    queue, stream, topic, redis = brokers
    relay = make_relay(broker_downstreams(*brokers), env=collector.env())
    task = relay.submitted(**image_to_video())
    [submit] = [
        s for s in spans_until(collector, task["id"], "task.submit") if s.name == "task.submit"
    ]
    headers = {
        "rabbit": wait_for(lambda: queue.messages() or None)[0][0],
        "jetstream": wait_for(lambda: stream.messages() or None)[0][0],
        "mosquitto": wait_for(lambda: topic.messages() or None)[0][0],
        "redis": wait_for(lambda: redis.messages() or None)[0][0],
    }

    def attempts(name: str) -> set[str]:
        spans = collector.of_task(task["id"])
        return {
            s.span_id
            for s in spans
            if s.name == "delivery.attempt" and s.attr("downstream") == name
        }

    for name, carried in headers.items():
        _, trace_id, parent_id, _ = str(carried["traceparent"]).split("-")
        assert trace_id == submit.trace_id, name
        # The span of the attempt that sent it (on a loaded machine, a first attempt may
        # time out and a second one send it).
        wait_for(lambda name=name, parent_id=parent_id: parent_id in attempts(name))


def test_kafka_gets_the_document_a_webhook_gets_keyed_by_its_task(
    make_relay: MakeRelay, sink: Sink, tansu: Tansu
) -> None:
    topic, strict, made = KafkaTopic(tansu), KafkaTopic(tansu), KafkaTopic(tansu)
    common = {"format": "kafka", "timeout": 2.0, "secret_env": "HOOK_SECRET"}
    relay = make_relay(
        [
            webhook(sink),
            {**common, "name": "kafka", "url": topic.url, "idempotent": False},
            # Tansu's memory engine refuses the idempotent producer: the attempt says so.
            {**common, "name": "kafka-idempotent", "url": strict.url},
        ]
    )
    # The command line turns the idempotent producer off, as the file and the API do.
    argv = ["downstreams", "create", "kafka-cli", made.url, "--format", "kafka"]
    created = relay.cli(*argv, "--no-idempotent")
    assert created.returncode == 0, created.stderr
    assert relay.api.get("/v1/downstreams/kafka-cli").json()["idempotent"] is False
    task = relay.submitted(**image_to_video())
    [hit] = wait_for(lambda: sink.accepted("/hook") or None)
    expected = json.loads(hit["body"])
    [record] = wait_for(lambda: topic.messages() or None)
    assert record.key == task["id"].encode()  # one task's events in one partition, in order
    assert signed(record.headers, record.value) == expected
    assert record.headers["webhook-type"] == "task.succeeded"

    def attempted() -> dict[str, dict[str, Any]] | None:
        found = relay.api.get("/v1/deliveries", params={"task_id": task["id"]}).json()
        rows = {d["downstream"]: d for d in found["deliveries"]}
        tried = rows.get("kafka-idempotent", {}).get("last_error")
        return rows if rows.get("kafka", {}).get("state") == "succeeded" and tried else None

    rows = wait_for(attempted)
    said = rows["kafka-idempotent"]["last_error"]
    assert said.startswith("the broker refused the idempotent producer (UnknownError)"), said
    assert "idempotent = false" in said and "--no-idempotent" in said, said
    assert strict.messages() == []
    [record] = wait_for(lambda: made.messages() or None)
    assert record.key == task["id"].encode()
    # An address that is not a Kafka URL is refused, saying what one is.
    bad = relay.api.post(
        "/v1/downstreams",
        json={"name": "no-topic", "format": "kafka", "url": "kafka://127.0.0.1:9092"},
    )
    assert bad.status_code == 422
    assert "kafka://HOST:PORT[,HOST:PORT]/TOPIC" in bad.json()["detail"]
