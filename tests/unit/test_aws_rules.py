"""The AWS destinations' rules, read without any AWS library: the URL each format takes, the
region it names, FIFO, the S3 key of an event, the settings only they take, and the trace
header EventBridge carries."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamConfig, ManagedDownstreamConfig
from receiver.destinations.aws import AwsDestination, is_fifo
from receiver.destinations.eventbridge import xray_trace_header
from receiver.destinations.registry import PROVIDERS
from receiver.destinations.s3 import DEFAULT_KEY, object_key, s3_location

AWS = {f: p for f, p in PROVIDERS.items() if isinstance(p, AwsDestination)}
STAND_INS = {f: p.metadata.stand_in_url for f, p in AWS.items()}


def check_aws_url(fmt: str, url: str) -> str:
    return AWS[fmt].validate(url).url


def region_in(fmt: str, url: str) -> str | None:
    return AWS[fmt].region_in(url)


QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/render-jobs"
TOPIC = "arn:aws:sns:us-east-2:123456789012:renders.fifo"
BUS = "arn:aws:events:ap-south-1:123456789012:event-bus/renders"


@pytest.mark.parametrize(
    ("fmt", "url"),
    [
        ("sqs", QUEUE),
        ("sqs", "http://127.0.0.1:5000/123456789012/jobs.fifo"),
        ("sns", TOPIC),
        ("eventbridge", "default"),
        ("eventbridge", BUS),
        ("s3", "s3://acme-events/relay/archive"),
        ("s3", "s3://acme-events"),
        *STAND_INS.items(),
    ],
)
def test_each_format_takes_its_own_address(fmt: str, url: str) -> None:
    assert check_aws_url(fmt, url) == url
    assert DownstreamConfig(name="d", format=fmt, url=url).url == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "url"),
    [
        ("sqs", "https://sqs.eu-west-1.amazonaws.com/render-jobs"),  # no account
        ("sqs", "amqp://127.0.0.1/123456789012/q"),
        ("sns", "arn:aws:sqs:us-east-2:123456789012:renders"),  # a queue's ARN
        ("sns", "https://sns.us-east-1.amazonaws.com/"),
        ("eventbridge", "arn:aws:events:us-east-1:123456789012:rule/r"),
        ("eventbridge", "bus with spaces"),
        ("s3", "https://acme-events.s3.amazonaws.com/"),
        ("s3", "s3://Not_A_Bucket/"),
    ],
)
def test_a_wrong_address_is_refused_saying_what_it_must_be(fmt: str, url: str) -> None:
    with pytest.raises(ValueError, match=f"a {fmt} downstream's url is"):
        check_aws_url(fmt, url)
    with pytest.raises(ValidationError, match="url is"):
        DownstreamConfig(name="d", format=fmt, url=url)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "url", "said"),
    [
        ("sqs", "amqp://127.0.0.1/123456789012/q", "its scheme 'amqp' is not https"),
        ("sqs", "https:///123456789012/q", "it names no host"),
        ("sqs", "https://sqs.eu-west-1.amazonaws.com/render-jobs", "its path '/render-jobs' is"),
        ("sns", "https://sns.us-east-1.amazonaws.com/", "it is not an ARN"),
        ("sns", "arn:aws:sqs:us-east-2:123456789012:renders", "an ARN of sqs, not of sns"),
        ("sns", "arn:aws:sns:us-east-2:123456789012:a b", "its topic 'a b' is not"),
        ("kinesis", "arn:aws:kinesis:us-east-1:123456789012:renders", "its resource 'renders'"),
        ("eventbridge", "arn:aws:events:us-east-1:123456789012:rule/r", "'rule/r' is not an"),
        ("eventbridge", "bus with spaces", "its name 'bus with spaces' is not"),
        ("s3", "https://acme-events.s3.amazonaws.com/", "it does not start with s3://"),
        ("s3", "s3://Not_A_Bucket/", "its bucket 'Not_A_Bucket' is not a bucket's name"),
    ],
)
def test_the_wrong_part_of_an_address_is_named(fmt: str, url: str, said: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_aws_url(fmt, url)
    assert said in str(refused.value), refused.value


def test_the_region_comes_from_the_url_or_the_arn() -> None:
    assert region_in("sqs", QUEUE) == "eu-west-1"
    assert region_in("sqs", "https://eu-west-3.queue.amazonaws.com/123456789012/q") == "eu-west-3"
    assert region_in("sqs", "http://127.0.0.1:5000/123456789012/q") is None
    assert region_in("sns", TOPIC) == "us-east-2"
    assert region_in("eventbridge", BUS) == "ap-south-1"
    assert region_in("eventbridge", "default") is None


def test_fifo_is_a_name_ending_in_fifo() -> None:
    assert is_fifo(TOPIC) and not is_fifo(QUEUE)
    assert is_fifo("http://127.0.0.1:5000/123456789012/jobs.fifo")


def test_an_event_has_one_key_whichever_attempt_writes_it() -> None:
    event: dict[str, Any] = {
        "event_id": "evt_1",
        "task_id": "tsk_9",
        "state": "succeeded",
        "kind": "image_to_video",
        "occurred_at": 1_700_000_000.5,
    }
    bucket, prefix = s3_location("s3://acme-events/relay/archive/")
    assert (bucket, prefix) == ("acme-events", "relay/archive/")
    key = object_key(prefix, DEFAULT_KEY, event)
    assert key == "relay/archive/2023-11-14/tsk_9/evt_1.json"
    assert object_key(prefix, DEFAULT_KEY, dict(event)) == key
    assert object_key("", "{kind}/{state}/{event_id}", event) == "image_to_video/succeeded/evt_1"
    assert s3_location("s3://acme-events") == ("acme-events", "")


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"format": "s3", "url": "s3://b-1/", "key": "{date}/{task_id}.json"}, "{event_id}"),
        ({"format": "s3", "url": "s3://b-1/", "key": "{bucket}/{event_id}"}, "unknown"),
        ({"format": "s3", "url": "s3://b-1/", "key": "{event_id:>99}"}, "format spec"),
        ({"format": "sqs", "url": QUEUE, "key": "{event_id}"}, "key is not a setting"),
        ({"format": "webhook", "url": "https://x.example/", "region": "eu-west-1"}, "region"),
        (
            {"format": "redis", "url": "redis://h/0", "stream": "s", "endpoint_url": "http://h"},
            "endpoint_url",
        ),
        ({"format": "sqs", "url": QUEUE, "endpoint_url": "ftp://127.0.0.1/"}, "http"),
        ({"format": "sqs", "url": QUEUE, "region": "Europe"}, "region"),
    ],
)
def test_the_aws_settings_are_checked_and_only_theirs(settings: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        ManagedDownstreamConfig(name="d", **settings)


def test_credentials_are_no_setting() -> None:
    for key in ("access_key_id", "secret_access_key", "aws_access_key_id", "profile"):
        with pytest.raises(ValidationError, match="Extra inputs"):
            DownstreamConfig(name="d", format="sqs", url=QUEUE, **{key: "x"})  # type: ignore[arg-type]


def test_the_trace_goes_to_eventbridge_in_x_rays_form() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert xray_trace_header(parent) == (
        "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
    )
    assert xray_trace_header(None) is None and xray_trace_header("garbage") is None
