"""What the operator's patterns for apps match of an AWS or broker downstream: its target
as the client reads it, never a credential, with one component per `/` so that no name
can pose as another; and the S3 key and prefix that would climb out are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.config import ManagedDownstreamConfig
from receiver.destinations.registry import addresses, unallowed_target
from receiver.destinations.s3 import check_s3_path

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/alpha-jobs"


def _made(**settings: Any) -> ManagedDownstreamConfig:
    return ManagedDownstreamConfig.model_validate({"name": "d", **settings})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"format": "sqs", "url": QUEUE}, [QUEUE]),
        (
            {"format": "s3", "url": "s3://acme/alpha", "endpoint_url": "http://minio:9000"},
            ["s3://acme/alpha/", "http://minio:9000"],
        ),
        ({"format": "s3", "url": "s3://acme"}, ["s3://acme/"]),
        (
            {"format": "nats", "url": "nats://u:pw@nats:4222", "subject": "a.{state}"},
            ["nats://nats:4222/a.{state}"],
        ),
        (
            {"format": "mqtt", "url": "mqtts://u:pw@mq:8883", "topic": "a/{state}"},
            ["mqtts://mq:8883/a/{state}"],
        ),
        ({"format": "redis", "url": "redis://:pw@r:6379/2", "stream": "s"}, ["redis://r:6379/2/s"]),
        ({"format": "redis", "url": "redis://r?db=5", "stream": "s"}, ["redis://r/5/s"]),
        (
            {"format": "amqp", "url": "amqp://u:pw@rabbit:5672", "routing_key": "o"},
            ["amqp://rabbit:5672/%2F/amq.default/o"],
        ),
        (
            {"format": "amqp", "url": "amqp://rabbit/prod", "exchange": "ev/x", "routing_key": "o"},
            ["amqp://rabbit/prod/ev%2Fx/o"],
        ),
        (
            {"format": "kafka", "url": "kafkas://u:pw@k1:9093,k2/runway.events"},
            ["kafkas://k1:9093/runway.events", "kafkas://k2:9092/runway.events"],
        ),
        (
            {"format": "kinesis", "url": "arn:aws:kinesis:eu-west-1:123456789012:stream/ev"},
            ["arn:aws:kinesis:eu-west-1:123456789012:stream/ev"],
        ),
        ({"format": "webhook", "url": "https://x.example/h"}, []),
    ],
)
def test_the_addresses_matched(settings: dict[str, Any], expected: list[str]) -> None:
    made = _made(**settings)
    assert addresses(made).targets == expected


def test_a_target_is_allowed_only_when_every_address_matches() -> None:
    queue = _made(format="sqs", url=QUEUE)
    assert unallowed_target(queue, []) == QUEUE
    assert unallowed_target(queue, ["https://sqs.*/123456789012/alpha-*"]) is None
    assert unallowed_target(queue, ["https://sqs.*/123456789012/beta-*"]) == QUEUE
    aside = _made(format="sqs", url=QUEUE, endpoint_url="http://127.0.0.1:9")
    assert unallowed_target(aside, [QUEUE]) == "http://127.0.0.1:9"
    # An exchange holding `/` cannot pose as a pattern's exchange and routing key.
    posing = _made(format="amqp", url="amqp://r", exchange="ev/alpha.x", routing_key="z")
    assert unallowed_target(posing, ["amqp://r/%2F/ev/alpha.*"]) is not None


def test_a_kafka_glob_must_match_every_server_of_the_url() -> None:
    """A pattern's `*` cannot take in a second server: each is matched alone."""
    pattern = ["kafka://127.0.0.1:*/alpha.*"]
    one = _made(format="kafka", url="kafka://127.0.0.1:9092/alpha.x")
    assert unallowed_target(one, pattern) is None
    for added in ("localhost:9092", "10.0.0.9:9092"):
        two = _made(format="kafka", url=f"kafka://127.0.0.1:9092,{added}/alpha.x")
        assert unallowed_target(two, pattern) == f"kafka://{added}/alpha.x"


@pytest.mark.parametrize("path", ["../x", "p/../../other", "p//q", "/p", "p/.."])
def test_a_climbing_s3_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match=re.escape("must not hold `..` or `//`, nor start with /")):
        check_s3_path("key", path)


def test_the_models_refuse_a_climbing_key_or_prefix() -> None:
    with pytest.raises(ValidationError, match="key: must not hold"):
        _made(format="s3", url="s3://acme/p", key="../{event_id}")
    with pytest.raises(ValidationError, match="its prefix: must not hold"):
        _made(format="s3", url="s3://acme/p/../../other")
    assert _made(format="s3", url="s3://acme/p/", key="{date}/{event_id}.json").key
