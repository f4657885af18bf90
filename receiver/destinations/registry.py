"""Every destination, one line each: adding one is writing its module (a `Provider`, see
receiver/destinations/provider.py) and naming it here, with its settings' model below when
it has settings of its own (docs/development.md, "Adding a destination").

What would otherwise switch on a format's name asks this registry, in the words of its own
question: the settings model and its checks, the fan-out (a publisher opened), the AsyncAPI
document, previews and test events, the forms, `config show`, the pull endpoint, and the
checks that the install has each configured destination's extra. Nothing outside this
folder reads a destination's flags."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson

from receiver.deliveries.rules import DeliveryJob
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
from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.chat_message import Payload
from receiver.destinations.provider import Addresses, Endpoint, Provider, Rendered
from receiver.destinations.publishing import Opening, Publisher
from receiver.expressions.rules import Shaped
from receiver.kernel.extras import installed, require

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
_DESCRIBED = {name: p.describe() for name, p in PROVIDERS.items()}


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


def _own(provider: Provider) -> frozenset[str]:
    model = provider.settings_model
    return frozenset(model.model_fields) if model is not None else frozenset()


# Every setting some destination owns, which any other refuses.
OWN_SETTINGS = frozenset(name for p in PROVIDERS.values() for name in _own(p))
# The formats the relay renders a body for (the HTTP ones), in order.
RENDERED = tuple(name for name, d in _DESCRIBED.items() if d.http)
# What the console's form offers, and the portal's: an app makes, unasked, only what the
# relay renders and what has no address (the rest needs `delivery.allowed_targets`).
FORMED = tuple(name for name, d in _DESCRIBED.items() if d.in_forms)
APP_FORMED = tuple(n for n in FORMED if _DESCRIBED[n].http or _DESCRIBED[n].addressless)


def check_url(fmt: str, url: str) -> str:
    """`url` when it is an address of a `fmt` downstream; else ValueError saying why."""
    return PROVIDERS[fmt].check_url(url)


def check(settings: Any) -> None:
    """ValueError saying what is wrong with a downstream's settings: another destination's
    setting given, or its own destination's refusal."""
    provider = PROVIDERS[str(settings.format)]
    others = OWN_SETTINGS - _own(provider)
    for key in type(settings).model_fields:
        if key in others and getattr(settings, key) is not None:
            raise ValueError(f"{key} is not a setting of a {settings.format} downstream")
    provider.check(settings)


def transform_refusal(fmt: str) -> str | None:
    """Why a `fmt` downstream takes no transform (a chat message is its own); None: it does."""
    if not chat(fmt):
        return None
    return f"a {fmt} downstream sends a chat message; it takes a filter only"


def chat(fmt: str) -> bool:
    """Whether a `fmt` downstream sends a chat message (its own body, never transformed)."""
    return not _DESCRIBED[fmt].transformable


def default_url(fmt: str) -> str | None:
    """The `url` of a downstream given none: its format's own when it has no address (read
    by its app); None: it needs one."""
    described = _DESCRIBED.get(fmt)
    return described.stand_in_url if described is not None and described.addressless else None


def sealed_url(fmt: str) -> str:
    """A URL that passes `check_url`, for a row whose real URL is sealed away."""
    described = _DESCRIBED.get(fmt)
    return described.stand_in_url if described is not None else "https://sealed.invalid/"


def secret_url(fmt: str) -> bool:
    """Whether a `fmt` downstream's URL is itself its credential (a chat webhook's)."""
    return _DESCRIBED[fmt].url_is_credential


def masked_url(fmt: str, url: str, mask: str) -> str | None:
    """`url` shown with its whole path masked when the path is a credential (a chat's token,
    an AWS account; an unknown format's too); None: it is shown as any URL is."""
    described = _DESCRIBED.get(fmt)
    if described is not None and not described.masks_url_path:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{mask}", "", ""))


def read_by_pull(fmt: str) -> bool:
    """Whether a `fmt` downstream is read by its app at the pull endpoint, never sent to."""
    described = _DESCRIBED.get(fmt)
    return described is not None and described.addressless


def target_option(fmt: str | None) -> str:
    """The setting the CLI's --target fills for `fmt`; ValueError naming the formats that
    take one. A broker whose URL names its topic (Kafka's) takes none."""
    described = _DESCRIBED.get(fmt or "")
    if described is None or described.target_setting is None:
        named = [f for f, d in _DESCRIBED.items() if d.target_setting]
        brokers = [f for f in named if isinstance(PROVIDERS[f], BrokerDestination)]
        others = ", ".join(f for f in named if f not in brokers)
        raise ValueError(
            f"--target is for a broker format ({', '.join(brokers)}) or {others}: give --format"
        )
    return described.target_setting


def preview_refusal(fmt: str) -> str | None:
    """Why a message to a `fmt` downstream cannot be previewed; None: it can."""
    if _DESCRIBED[fmt].previewable:
        return None
    return f"format: {fmt} cannot be previewed; try another chat format"


def untestable(fmt: str) -> str | None:
    """Why a test event is not sent to a `fmt` downstream now; None: it is."""
    if _DESCRIBED[fmt].http:
        return None
    return "format: test events go to HTTP downstreams (webhook and chats)"


def preview_request(fmt: str, shaped: Shaped, headers: dict[str, str], kind: str) -> dict[str, Any]:
    """What a delivery to a `fmt` downstream would send: an HTTP request, or a publish with
    the event's type among its headers."""
    published = not _DESCRIBED[fmt].http
    shown = headers | {"webhook-type": kind} if published else headers
    return {
        "method": "PUBLISH" if published else shaped.method,
        "path": shaped.path,
        "headers": shown,
        "body": orjson.loads(shaped.body),
    }


def render(
    fmt: str, payload: Payload, url: str = "", posted: tuple[str, bool] | None = None
) -> Rendered:
    """The body for a downstream of format `fmt` at `url` (Telegram reads its chat there);
    `posted`: the task's first message there, which Telegram edits in place."""
    return PROVIDERS[fmt].render(payload, url, posted)


def default_body(downstream: Endpoint, job: DeliveryJob) -> Shaped:
    """The format's own body: the `webhook` event (every broker publishes it too), or a chat
    platform's message, with the path to append (Telegram's Bot API method)."""
    rendered = render(downstream.format, job.payload, downstream.url or "", job.posted)
    return Shaped(rendered.body, path=rendered.path)


def addresses(settings: Endpoint) -> Addresses:
    return PROVIDERS[str(settings.format)].addresses(settings)


def open_publisher(settings: Endpoint, opening: Opening) -> Publisher:
    """A downstream's publisher; ConfigError when its extra is not installed."""
    provider = PROVIDERS[str(settings.format)]
    if (extra := _DESCRIBED[provider.format].extra) is not None:
        require(extra, f'downstream {opening.name} (format = "{settings.format}")')
    return provider.open(settings, opening)


def missing_extra(fmt: str) -> str | None:
    """The extra a `fmt` downstream needs that the install lacks; None: nothing lacks."""
    extra = _DESCRIBED[fmt].extra
    return extra if extra is not None and not installed(extra) else None


def require_extras(formats: Iterable[str]) -> None:
    """Refuse, in one line, the first configured format whose extra is missing."""
    for fmt in sorted(formats):
        if (extra := _DESCRIBED[fmt].extra) is not None:
            require(extra, f'a downstream with format = "{fmt}"')


def unallowed_target(settings: Endpoint, patterns: list[str]) -> str | None:
    """The first address of a downstream no pattern of `delivery.allowed_targets` matches
    (`*` any text, `/` included)."""
    for address in addresses(settings).targets:
        if not any(fnmatchcase(address, pattern) for pattern in patterns):
            return address
    return None
