"""Broker downstreams: their URLs, targets and templates, and the reconnect backoff."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamConfig
from receiver.destinations.connection import MAX_BACKOFF, next_backoff
from receiver.destinations.publishing import fill
from receiver.destinations.registry import PROVIDERS


def downstream(**fields: Any) -> DownstreamConfig:
    return DownstreamConfig.model_validate({"name": "q", **fields})


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"format": "amqp", "url": "amqp://guest:guest@127.0.0.1/", "routing_key": "r"}, "r"),
        ({"format": "nats", "url": "nats://127.0.0.1:4222", "subject": "s.{state}"}, "s.{state}"),
        ({"format": "mqtt", "url": "mqtt://127.0.0.1", "topic": "t/{kind}"}, "t/{kind}"),
        ({"format": "redis", "url": "rediss://:pw@127.0.0.1/0", "stream": "x"}, "x"),
    ],
)
def test_each_broker_takes_its_own_scheme_and_target(fields: dict[str, str], target: str) -> None:
    d = downstream(**fields)
    assert d.url == fields["url"]  # a broker URL is kept as written
    with pytest.raises(ValidationError, match="needs"):
        downstream(**{k: v for k, v in fields.items() if k == "format" or k == "url"})
    with pytest.raises(ValidationError, match=r"://"):
        downstream(**{**fields, "url": "https://127.0.0.1/"})


def test_a_setting_of_another_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="subject is not a setting of a amqp"):
        downstream(format="amqp", url="amqp://127.0.0.1/", routing_key="r", subject="s")
    with pytest.raises(ValidationError, match="maxlen is not a setting of a webhook"):
        downstream(url="https://127.0.0.1/", maxlen=10)
    with pytest.raises(ValidationError, match="exchange is not a setting of a nats"):
        downstream(format="nats", url="nats://127.0.0.1", subject="s", exchange="x")


def test_an_http_format_still_needs_an_http_url() -> None:
    assert downstream(url="https://127.0.0.1").url == "https://127.0.0.1/"
    with pytest.raises(ValidationError, match="http"):
        downstream(url="amqp://127.0.0.1/")


def test_templates_name_only_what_an_event_has() -> None:
    with pytest.raises(ValidationError, match=r"unknown placeholder \{prompt\}"):
        downstream(format="nats", url="nats://127.0.0.1", subject="runway.{prompt}")
    with pytest.raises(ValidationError, match="subject"):
        downstream(format="nats", url="nats://127.0.0.1", subject="runway.{state")
    event = {"state": "succeeded", "kind": "image_to_video", "task_id": "tsk_1"}
    assert fill("runway.{kind}.{state}.{task_id}", event) == "runway.image_to_video.succeeded.tsk_1"
    assert fill("runway.{state}", {"type": "downstream.disabled"}) == "runway."


def test_reconnects_back_off_by_doubling_up_to_a_ceiling() -> None:
    waits = [next_backoff(None)]
    for _ in range(10):
        waits.append(next_backoff(waits[-1]))
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(waits) == MAX_BACKOFF == waits[-1]


@pytest.mark.parametrize(
    "url",
    [
        "kafka://127.0.0.1:9092/events",
        "kafka://u:p%40ss@k1:9092,k2,[::1]:9093/runway.task-events_1",
        "kafkas://k.example:9093/events",
    ],
)
def test_a_kafka_url_lists_its_servers_and_names_its_topic(url: str) -> None:
    assert downstream(format="kafka", url=url).url == url


@pytest.mark.parametrize(
    "url",
    [
        "kafka://127.0.0.1:9092",  # no topic
        "kafka://127.0.0.1:9092/a/b",
        "kafka://127.0.0.1:99999/events",
        "kafka://127.0.0.1:9092,/events",
        "kafka://127.0.0.1:9092/events?acks=1",
        "https://127.0.0.1:9092/events",
    ],
)
def test_a_url_that_is_not_kafkas_is_refused_saying_what_one_is(url: str) -> None:
    with pytest.raises(ValidationError, match=r"kafka://HOST:PORT\[,HOST:PORT\]/TOPIC"):
        downstream(format="kafka", url=url)


@pytest.mark.parametrize(
    ("fmt", "url", "said"),
    [
        ("amqp", "http://127.0.0.1/", "needs a amqp or amqps:// URL: its scheme is 'http'"),
        ("mqtt", "mqtt:///events", "needs a mqtt or mqtts:// URL: it names no host"),
        ("nats", "nats:127.0.0.1", "it names no host"),
        ("redis", "localhost:6379", "its scheme is 'localhost'"),
    ],
)
def test_a_brokers_wrong_scheme_or_missing_host_is_named(fmt: str, url: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        PROVIDERS[fmt].validate(url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("kafka://127.0.0.1:9092", "it names no topic"),
        ("kafka://127.0.0.1:9092/a/b", "its topic 'a/b' is not a topic's name"),
        ("kafka://127.0.0.1:99999/events", "its server '127.0.0.1:99999' has port 99999"),
        ("kafka://u:secret@127.0.0.1:9092,/events", "its server '' is not HOST or HOST:PORT"),
        ("kafka://127.0.0.1:9092/events?acks=1", "it has a query or a fragment"),
        ("https://127.0.0.1:9092/events", "its scheme 'https' is neither kafka nor kafkas"),
    ],
)
def test_a_wrong_part_of_a_kafka_url_is_named(url: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        downstream(format="kafka", url=url)
    [error] = refused.value.errors()
    assert said in error["msg"] and "secret" not in error["msg"]


def test_kafka_signs_in_with_the_urls_user_over_tls_when_kafkas() -> None:
    from receiver.destinations.kafka import PROVIDER, Kafka

    def options(url: str, **settings: Any) -> dict[str, Any]:
        target = PROVIDER.target(downstream(format="kafka", url=url, **settings))
        assert target is not None and target.name == "events"
        return Kafka(target)._options()

    plain = options("kafka://k1:9092,k2/events")
    assert plain["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert plain["security_protocol"] == "PLAINTEXT" and "sasl_mechanism" not in plain
    assert plain["acks"] == "all" and plain["enable_idempotence"] is True
    signed = options(
        "kafkas://relay:p%40ss@k1:9093/events", sasl_mechanism="SCRAM-SHA-512", idempotent=False
    )
    assert signed["security_protocol"] == "SASL_SSL" and signed["ssl_context"] is not None
    assert signed["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (signed["sasl_plain_username"], signed["sasl_plain_password"]) == ("relay", "p@ss")
    assert signed["enable_idempotence"] is False
    assert options("kafka://u:pw@k1/events")["security_protocol"] == "SASL_PLAINTEXT"
    with pytest.raises(ValidationError, match="sasl_mechanism: the url has no user"):
        downstream(format="kafka", url="kafka://k1/events", sasl_mechanism="PLAIN")
    with pytest.raises(ValidationError, match="idempotent is not a setting of a redis"):
        downstream(format="redis", url="redis://r", stream="s", idempotent=False)


def test_a_broker_refusing_the_idempotent_producer_is_told_with_the_way_out() -> None:
    """What the idempotent producer's start raises, aiokafka's own exceptions: a broker
    without it (before 0.11, Tansu's memory engine) or a user without the right."""
    errors = pytest.importorskip("aiokafka.errors")
    from receiver.destinations.kafka import refusal

    for exc in (
        errors.UnknownError(),
        errors.ClusterAuthorizationFailedError(),
        errors.IncompatibleBrokerVersion("InitProducerId"),
    ):
        said = refusal(exc, idempotent=True)
        assert said.startswith("the broker refused the idempotent producer ("), said
        assert "idempotent = false" in said and "--no-idempotent" in said
        # Off already, the broker's answer is told as it is.
        assert refusal(exc, idempotent=False) == type(exc).__name__
    # No broker at all is no refusal of the idempotent producer.
    assert refusal(errors.KafkaConnectionError(), idempotent=True) == "KafkaConnectionError"
