"""Every destination's metadata, one plain record each: what the rest of the relay reads
of a destination without loading its module (the registry loads it at its first use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from receiver.destinations.settings import (
    AmqpSettings,
    AwsSettings,
    KafkaSettings,
    MqttSettings,
    NatsSettings,
    RedisSettings,
    S3AwsSettings,
)

Sent = Literal["request", "publish", "read"]
UrlSecret = Literal["", "path", "credential"]


@dataclass(frozen=True)
class Metadata:
    """A destination as the rest of the relay reads it: nothing asks a destination anything
    else but to validate, render and open.

    `sent`: an HTTP request the relay renders ("request": auth, TLS, a proxy, test events
    apply), a publish to a client that confirms it ("publish"), or read by its app at the
    pull endpoint ("read": its `url` is its `stand_in_url`). `body`: the relay's JSON event,
    which a transform may replace ("event"), or a chat message of its own ("chat").
    `url_secret`: "credential", the URL itself is the credential (a chat webhook's path);
    "path", `config show` masks its path (an AWS account); "": shown as any URL."""

    format: str
    sent: Sent = "request"
    body: Literal["event", "chat"] = "event"
    settings: type[BaseModel] | None = None  # its own keys, each worded by its description
    extra: str | None = None  # the package's extra it needs (pyproject.toml); None: core
    target_setting: str | None = None  # the setting that says where a message goes
    url_secret: UrlSecret = ""
    stand_in_url: str = "https://sealed.invalid/"  # passes its URL check, for a sealed row
    formed: bool = True  # the console's and the portal's forms make one
    previewable: bool = True  # a message to it may be previewed (Telegram's needs its chat)
    # Its CloudEvents protocol binding: the prefix of a binary-mode event's attributes in
    # its protocol's headers (receiver/destinations/cloudevents.py); None: it has none,
    # structured mode only (Redis Streams, the AWS services).
    binding: str | None = None
    binding_place: str = ""  # where it puts them in the AsyncAPI document's words, if not `ce-`


def _chat(fmt: str, previewable: bool = True) -> Metadata:
    return Metadata(fmt, body="chat", url_secret="credential", previewable=previewable)


def _broker(
    fmt: str, settings: type[BaseModel], target: str, binding: str | None = None, place: str = ""
) -> Metadata:
    """A broker whose own setting names where a message goes (the forms make none)."""
    return Metadata(
        fmt,
        "publish",
        settings=settings,
        extra=fmt,
        target_setting=target,
        stand_in_url=f"{fmt}://sealed.invalid/",
        formed=False,
        binding=binding,
        binding_place=place,
    )


def _aws(fmt: str, stand_in_url: str, settings: type[BaseModel] = AwsSettings) -> Metadata:
    """An AWS service: its URL's path masked (an account)."""
    target = "key" if settings is S3AwsSettings else None
    return Metadata(
        fmt,
        "publish",
        settings=settings,
        extra="aws",
        target_setting=target,
        url_secret="path",
        stand_in_url=stand_in_url,
    )


METADATA: dict[str, Metadata] = {
    m.format: m
    for m in (
        Metadata("webhook", binding="ce-"),
        _chat("slack"),
        _chat("discord"),
        _chat("teams"),
        _chat("telegram", previewable=False),  # its message needs the chat its URL names
        _chat("google_chat"),
        _chat("mattermost"),
        # AMQP's application properties: RabbitMQ's headers table.
        _broker("amqp", AmqpSettings, "routing_key", "cloudEvents:", "AMQP `cloudEvents:`"),
        _broker("nats", NatsSettings, "subject", "ce-"),
        _broker("mqtt", MqttSettings, "topic", "", "MQTT 5 user properties"),
        _broker("redis", RedisSettings, "stream"),
        # Kafka and Pub/Sub: the URL names the topic, so the forms make one.
        Metadata(
            "kafka",
            "publish",
            settings=KafkaSettings,
            extra="kafka",
            stand_in_url="kafka://sealed.invalid:9092/sealed",
            binding="ce_",
            binding_place="Kafka `ce_`",
        ),
        _aws("sqs", "https://sqs.us-east-1.amazonaws.com/000000000000/sealed"),
        _aws("sns", "arn:aws:sns:us-east-1:000000000000:sealed"),
        _aws("eventbridge", "sealed"),
        _aws("s3", "s3://sealed/", S3AwsSettings),
        _aws("kinesis", "arn:aws:kinesis:us-east-1:000000000000:stream/sealed"),
        Metadata(
            "pubsub",
            "publish",
            extra="pubsub",
            stand_in_url="pubsub://projects/sealed/topics/sealed",
            binding="ce-",
            binding_place="Pub/Sub `ce-` attributes",
        ),
        Metadata("pull", "read", stand_in_url="pull:", previewable=False),
    )
}
