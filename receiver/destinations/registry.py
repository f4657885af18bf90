"""Every destination, one line each: adding one is writing its module (a `Provider`, see
receiver/destinations/provider.py) and naming it here, with its settings' model below when
it has settings of its own (docs/development.md, "Adding a destination").

What would otherwise switch on a format's name asks this registry: the settings model, the
fan-out (a request rendered, or a publisher opened), the AsyncAPI document, the forms,
`config show`, and the checks that the install has each configured destination's extra."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from receiver.destinations import (
    amqp,
    discord,
    eventbridge,
    google_chat,
    kafka,
    kinesis,
    mattermost,
    mqtt,
    nats,
    pubsub,
    pull,
    redis,
    s3,
    slack,
    sns,
    sqs,
    teams,
    telegram,
    webhook,
)
from receiver.destinations.aws import AwsSettings
from receiver.destinations.chat_message import Payload
from receiver.destinations.provider import Provider, Rendered
from receiver.destinations.publishing import BrokerTarget, Publisher
from receiver.kernel.extras import require

PROVIDERS: dict[str, Provider] = {
    provider.format: provider
    for provider in (
        webhook.PROVIDER,
        slack.PROVIDER,
        discord.PROVIDER,
        teams.PROVIDER,
        telegram.PROVIDER,
        google_chat.PROVIDER,
        mattermost.PROVIDER,
        amqp.PROVIDER,
        nats.PROVIDER,
        mqtt.PROVIDER,
        redis.PROVIDER,
        kafka.PROVIDER,
        sqs.PROVIDER,
        sns.PROVIDER,
        eventbridge.PROVIDER,
        s3.PROVIDER,
        kinesis.PROVIDER,
        pubsub.PROVIDER,
        pull.PROVIDER,
    )
}


class PublishedSettings(
    kafka.KafkaSettings,
    redis.RedisSettings,
    mqtt.MqttSettings,
    nats.NatsSettings,
    amqp.AmqpSettings,
):
    """The brokers' own settings, listed after a downstream's address (bases are read last
    first: `exchange`, `routing_key`, `subject`, `topic`, `stream`, `maxlen`,
    `sasl_mechanism`, `idempotent`)."""


class StoredSettings(s3.S3Settings, AwsSettings):
    """The AWS destinations' own settings, listed before a downstream's name."""


if TYPE_CHECKING:
    DestinationFormat = str
else:  # every registered format, in order: the settings' and the API's enum
    DestinationFormat = Literal[tuple(PROVIDERS)]

# Every setting some destination owns, which any other refuses.
OWN_SETTINGS = frozenset(name for p in PROVIDERS.values() for name in p.settings)
# The formats the relay renders a body for (the HTTP ones), in order.
RENDERED = tuple(name for name, p in PROVIDERS.items() if not p.publishes)
# What the console's form offers, and the portal's: an app makes, unasked, only what the
# relay renders and what has no address (the rest needs `delivery.allowed_targets`).
FORMED = tuple(name for name, p in PROVIDERS.items() if p.in_forms)
APP_FORMED = tuple(n for n in FORMED if not PROVIDERS[n].publishes or PROVIDERS[n].addressless)


def provider_of(fmt: str) -> Provider:
    return PROVIDERS[fmt]


def render(
    fmt: str, payload: Payload, url: str = "", posted: tuple[str, bool] | None = None
) -> Rendered:
    """The body for a downstream of format `fmt` at `url` (Telegram reads its chat there);
    `posted`: the task's first message there, which Telegram edits in place."""
    return PROVIDERS[fmt].render(payload, url, posted)


def with_path(url: str, path: str) -> str:
    """`url` with `path` appended to its path, before any query string."""
    if not path:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def open_publisher(target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
    """A publishing downstream's publisher; ConfigError when its extra is not installed."""
    provider = PROVIDERS[target.format]
    if provider.extra is not None:
        require(provider.extra, f'downstream {name} (format = "{target.format}")')
    return provider.open_publisher(target, name, max_in_flight)


def require_extras(formats: Iterable[str]) -> None:
    """Refuse, in one line, the first configured format whose extra is missing."""
    for fmt in sorted(formats):
        if (extra := PROVIDERS[fmt].extra) is not None:
            require(extra, f'a downstream with format = "{fmt}"')


def unallowed_target(settings: Any, patterns: list[str]) -> str | None:
    """The first address of a downstream no pattern of `delivery.allowed_targets` matches
    (`*` any text, `/` included)."""
    for address in PROVIDERS[str(settings.format)].target_addresses(settings):
        if not any(fnmatchcase(address, pattern) for pattern in patterns):
            return address
    return None
