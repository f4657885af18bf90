"""The `pubsub` destination's own rules: the URL names a project and a topic as Google's rules
allow them, a message carries the event as data with its attributes and the task as ordering
key, Pub/Sub's refusal is told in its words, and nothing of the URL is masked."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamConfig, Settings
from receiver.config.show import effective
from receiver.destinations.publishing import BrokerMessage
from receiver.destinations.pubsub import PROVIDER, pubsub_message, refused
from receiver.destinations.registry import unallowed_target


def downstream(**fields: Any) -> DownstreamConfig:
    return DownstreamConfig.model_validate({"name": "q", "format": "pubsub", **fields})


@pytest.mark.parametrize(
    "url",
    [
        "pubsub://projects/acme-relay/topics/runway-events",
        "pubsub://projects/example.com:acme-relay/topics/Runway.events_1~%2B+x",
    ],
)
def test_a_pubsub_url_names_a_project_and_a_topic(url: str) -> None:
    d = downstream(url=url)
    target = PROVIDER.target(d)
    assert target is not None and target.name == url.removeprefix("pubsub://")
    assert PROVIDER.target_addresses(d) == [url]
    assert PROVIDER.connects_to(d) == []  # Google's endpoint, or the operator's emulator


@pytest.mark.parametrize(
    "url",
    [
        "pubsub://acme-relay/runway-events",
        "pubsub://projects/acme-relay/topics/",
        "pubsub://projects/Acme/topics/runway-events",  # a project id is lower case
        "pubsub://projects/acme-relay/topics/goog-events",  # Google's own names
        "pubsub://projects/acme-relay/topics/ab",  # three characters at least
        "pubsub://projects/acme-relay/topics/runway-events?x=1",
        "https://pubsub.googleapis.com/v1/projects/acme-relay/topics/runway-events",
    ],
)
def test_a_url_that_names_no_topic_is_refused_saying_what_one_is(url: str) -> None:
    with pytest.raises(ValidationError, match=r"pubsub://projects/PROJECT/topics/TOPIC"):
        downstream(url=url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "pubsub://projects/demo/topics/t1",
            "its project 'demo' has 4 characters; a project id has 6 to 30",
        ),
        (
            "pubsub://projects/9-relay/topics/t1",
            "its project '9-relay' does not start with a lowercase letter",
        ),
        ("pubsub://projects/acme-relay-/topics/t1", "its project 'acme-relay-' ends with a hyphen"),
        (
            "pubsub://projects/acme_relay/topics/t1",
            "its project 'acme_relay' has a character other than",
        ),
        (
            "pubsub://projects/acme-relay/topics/goog-events",
            "its topic 'goog-events' starts with `goog`",
        ),
        (
            "pubsub://projects/acme-relay/topics/ab",
            "its topic 'ab' has 2 characters; a topic's name has 3 to 255",
        ),
        (
            "pubsub://projects/acme-relay/topics/1events",
            "its topic '1events' does not start with a letter",
        ),
        (
            "pubsub://projects/acme-relay/topics/run*way",
            "its topic 'run*way' has a character other than",
        ),
    ],
)
def test_a_wrong_project_or_topic_is_named_with_why(url: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        downstream(url=url)
    assert said in str(refused.value)


def test_a_message_is_the_event_with_its_attributes_keyed_by_its_task() -> None:
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1790000000",
        "webhook-type": "task.succeeded",
        "webhook-signature": "v1,abc v1,def",
        "traceparent": "",  # empty: left out
        "x-" + "k" * 300: "too long a name for Pub/Sub",
        "goog-trace": "a name Google keeps for its own",
    }
    event = {"task_id": "tsk_1", "state": "succeeded", "kind": "image_to_video"}
    made = pubsub_message(BrokerMessage(b'{"type":"task.succeeded"}', headers, "t", event))
    assert base64.b64decode(made["data"]) == b'{"type":"task.succeeded"}'
    assert made["attributes"] == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1790000000",
        "webhook-type": "task.succeeded",
        "webhook-signature": "v1,abc v1,def",
        "state": "succeeded",
        "kind": "image_to_video",
    }
    assert made["orderingKey"] == "tsk_1"
    # An event of no task (the test event) has no ordering key.
    assert "orderingKey" not in pubsub_message(BrokerMessage(b"{}", headers, "t", {}))


def test_pubsubs_refusal_is_told_in_its_words() -> None:
    answer = b'{"error":{"code":404,"message":"Resource not found","status":"NOT_FOUND"}}'
    assert refused(404, answer) == "not delivered: HTTP 404 NOT_FOUND: Resource not found"
    assert refused(502, b"<html>bad gateway</html>") == "not delivered: HTTP 502"


def test_config_show_shows_the_url_as_written_and_patterns_match_it() -> None:
    url = "pubsub://projects/acme-relay/topics/runway-events"
    file = Settings.model_validate({"downstream": [{"name": "q", "format": "pubsub", "url": url}]})
    [shown] = effective(file)["downstream"]
    assert shown["url"] == url  # a project and a topic: nothing secret
    d = downstream(url=url)
    assert unallowed_target(d, ["pubsub://projects/acme-relay/topics/*"]) is None
    assert unallowed_target(d, ["pubsub://projects/other/topics/*"]) == url
