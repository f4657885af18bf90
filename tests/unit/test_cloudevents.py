"""A delivery as a CloudEvent 1.0: the attributes from the event document, the structured
and binary modes, read back by the CNCF SDK (`cloudevents`), and the envelopes each
destination refuses, in words."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import amqp as ce_amqp
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_http
from cloudevents.v1.kafka import KafkaMessage, from_binary, from_structured

from receiver.config import ManagedDownstreamConfig
from receiver.destinations import cloudevents
from receiver.destinations.metadata import METADATA
from receiver.outbox.rules.event_types import example_document

EVENT = example_document("task.succeeded") | {"event_id": "evt_1"}
BODY = orjson.dumps(EVENT)
SOURCE = "https://relay.example/apps/acme"


def _context() -> dict[str, str]:
    return cloudevents.attributes(EVENT, "msg_1", cloudevents.Origin(SOURCE))


def test_the_attributes_name_the_event_the_relay_and_the_task() -> None:
    context = _context()
    assert context["specversion"] == "1.0"
    assert context["id"] == "evt_1"  # the event's, not the delivery's: one on every downstream
    assert context["source"] == SOURCE
    assert context["type"] == "com.runway-relay.task.succeeded"
    assert context["subject"] == EVENT["task_id"]
    assert context["time"].endswith("Z")
    without = {k: v for k, v in EVENT.items() if k != "event_id"}
    assert cloudevents.attributes(without, "msg_1", cloudevents.Origin(SOURCE))["id"] == "msg_1"


def test_the_type_prefix_is_the_origins() -> None:
    origin = cloudevents.Origin(SOURCE, "com.example.renders.")
    context = cloudevents.attributes(EVENT, "msg_1", origin)
    assert context["type"] == "com.example.renders.task.succeeded"


def test_the_data_is_the_events_own_document() -> None:
    from receiver.outbox.rules.delivery import Delivery, DeliveryJob

    delivery = Delivery("d", "evt_1", "t", "hook", "pending", 0, 0, None, None, 0, 0, None)
    shaped = cloudevents.event_data(DeliveryJob(delivery, EVENT))
    assert orjson.loads(shaped.body) == EVENT  # the task's fields at the top, no wrapper


def test_an_apps_source_is_quoted_and_the_operators_is_the_public_url() -> None:
    assert cloudevents.source_of("https://relay.example/", None) == "https://relay.example"
    found = cloudevents.source_of("https://relay.example", "my app")
    assert found == "https://relay.example/apps/my%20app"


def test_structured_mode_over_http_is_read_by_the_sdk() -> None:
    body, headers = cloudevents.enveloped("cloudevents", "ce-", _context(), BODY, {"x-a": "1"})
    assert headers == {"x-a": "1", "content-type": "application/cloudevents+json"}
    event = from_http(headers, body)
    assert event["type"] == "com.runway-relay.task.succeeded"
    assert event["id"] == "evt_1"
    assert event.data == orjson.loads(BODY)


def test_binary_mode_over_http_is_read_by_the_sdk() -> None:
    body, headers = cloudevents.enveloped("cloudevents-binary", "ce-", _context(), BODY, {})
    assert body == BODY
    assert headers["ce-specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    event = from_http(headers, body)
    assert event["source"] == SOURCE
    assert event["subject"] == EVENT["task_id"]
    assert event.data == orjson.loads(BODY)


def test_kafka_binary_and_structured_are_read_by_the_sdk() -> None:
    for mode in ("cloudevents-binary", "cloudevents"):
        body, headers = cloudevents.enveloped(mode, "ce_", _context(), BODY, {})
        message = KafkaMessage({k: v.encode() for k, v in headers.items()}, None, body)
        read = from_binary if mode == "cloudevents-binary" else from_structured
        event = read(message)
        assert event["id"] == "evt_1"
        assert event.data == orjson.loads(BODY)


def test_amqp_binary_is_read_by_the_sdk() -> None:
    body, headers = cloudevents.enveloped(
        "cloudevents-binary", "cloudEvents:", _context(), BODY, {}
    )
    kept = {k: v for k, v in headers.items() if k != "content-type"}
    message = ce_amqp.AMQPMessage({"content_type": headers["content-type"]}, kept, body)
    event = ce_amqp.from_binary(message, JSONFormat())
    assert event.get_type() == "com.runway-relay.task.succeeded"
    assert event.get_data() == orjson.loads(BODY)


def test_a_body_that_is_not_json_goes_as_base64() -> None:
    body, _ = cloudevents.enveloped(
        "cloudevents", "ce-", _context(), b"plain", {"Content-Type": "text/plain"}
    )
    document = orjson.loads(body)
    assert document["datacontenttype"] == "text/plain"
    assert base64.b64decode(document["data_base64"]) == b"plain"


def test_structured_is_all_a_destination_without_a_binding_sends() -> None:
    body, headers = cloudevents.enveloped("cloudevents-binary", None, _context(), BODY, {})
    assert headers["content-type"] == "application/cloudevents+json"
    assert orjson.loads(body)["data"] == orjson.loads(BODY)


@pytest.mark.parametrize(
    ("fmt", "url", "extra", "envelope", "words"),
    [
        ("slack", "https://hooks.slack.com/services/x", {}, "cloudevents", "chat messages"),
        ("redis", "redis://127.0.0.1:6379/0", {"stream": "s"}, "cloudevents-binary", "binding"),
        ("pull", None, {}, "cloudevents", "read by its app"),
    ],
)
def test_an_envelope_a_destination_cannot_send_is_refused_in_words(
    fmt: str, url: str | None, extra: dict[str, Any], envelope: str, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        ManagedDownstreamConfig.model_validate(
            {"name": "d", "format": fmt, "url": url, "envelope": envelope, **extra}
        )


def test_every_destination_with_a_binding_takes_binary() -> None:
    bound = sorted(fmt for fmt, m in METADATA.items() if m.binding is not None)
    assert bound == ["amqp", "kafka", "mqtt", "nats", "pubsub", "webhook"]


def test_the_handshake_answer_is_read_by_section_4() -> None:
    from receiver.destinations.handshake import verdict

    allowed = verdict(
        200,
        {"WebHook-Allowed-Origin": "relay.example", "WebHook-Allowed-Rate": "120"},
        "relay.example",
    )
    assert allowed.allowed and allowed.per_second == 2
    assert verdict(200, {"webhook-allowed-origin": "*"}, "relay.example").per_minute is None
    other = verdict(200, {"WebHook-Allowed-Origin": "elsewhere"}, "relay.example")
    assert not other.allowed and "elsewhere" in other.reason
    assert "HTTP 405" in verdict(405, {}, "relay.example").reason


def test_a_handshake_rate_is_read_strictly() -> None:
    from receiver.destinations.handshake import MAX_RATE_PER_MINUTE, verdict

    def rate(value: str) -> Any:
        headers = {"WebHook-Allowed-Origin": "*", "WebHook-Allowed-Rate": value}
        return verdict(200, headers, "relay.example")

    for good, per_minute in (("*", None), ("60", 60.0), ("0.5", 0.5), ("1e3", 1000.0)):
        assert rate(good).allowed and rate(good).per_minute == per_minute, good
    assert rate(f"{MAX_RATE_PER_MINUTE:.0f}").allowed
    for bad in ("inf", "1e400", "nan", "-1", "0", "lots", "1_000", "60, 120", "", "1e-400"):
        found = rate(bad)
        assert not found.allowed, bad
        assert f"WebHook-Allowed-Rate {bad!r} is not a rate" in found.reason, found.reason
    assert not rate(f"{MAX_RATE_PER_MINUTE * 2:.0f}").allowed
    # What a refusal quotes of the answer is cut short.
    assert len(rate("9" * 5000).reason) < 300


def test_a_paused_endpoint_is_asked_again_on_a_slow_schedule() -> None:
    from receiver.outbox.rules.delivery import ask_again_in

    schedule = [60.0, 300.0, 900.0]
    waits = [ask_again_in(schedule, refusals) for refusals in range(5)]
    assert waits == [60.0, 300.0, 900.0, 900.0, 900.0]
