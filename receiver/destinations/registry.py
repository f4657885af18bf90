"""Every destination, by its format (docs/development.md, "Adding a destination"). What
would otherwise switch on a format's name asks this registry, in the words of its own
question: nothing outside this folder reads a destination's flags."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatchcase
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson

from receiver.destinations.chat_message import Payload
from receiver.destinations.cloudevents import event_data
from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Addresses, Endpoint, Provider, Rendered, body_of
from receiver.destinations.publishing import Opening, Publisher
from receiver.destinations.settings import (
    AmqpSettings,
    AwsSettings,
    KafkaSettings,
    MqttSettings,
    NatsSettings,
    RedisSettings,
    S3Settings,
)
from receiver.expressions.rules import Shaped
from receiver.kernel.extras import installed, require
from receiver.outbox.rules.delivery import DeliveryJob


class _Providers(Mapping[str, Provider]):
    """Every destination's provider by its format, its module imported at its first use."""

    def __getitem__(self, fmt: str) -> Provider:
        if fmt not in METADATA:
            raise KeyError(fmt)
        provider: Provider = importlib.import_module(f"receiver.destinations.{fmt}").PROVIDER
        return provider

    def __iter__(self) -> Iterator[str]:
        return iter(METADATA)

    def __len__(self) -> int:
        return len(METADATA)


PROVIDERS: Mapping[str, Provider] = _Providers()


class PublishedSettings(KafkaSettings, RedisSettings, MqttSettings, NatsSettings, AmqpSettings):
    """The brokers' own settings, listed after a downstream's address (bases are read last
    first: `exchange`, `routing_key`, `subject`, `topic`, `stream`, `maxlen`,
    `sasl_mechanism`, `idempotent`)."""


class StoredSettings(S3Settings, AwsSettings):
    """The AWS destinations' own settings, listed before a downstream's name."""


if TYPE_CHECKING:
    DestinationFormat = str
else:  # every registered format, in order: the settings' and the API's enum
    DestinationFormat = Literal[tuple(METADATA)]


def _own(fmt: str) -> frozenset[str]:
    model = METADATA[fmt].settings
    return frozenset(model.model_fields) if model is not None else frozenset()


# Every setting some destination owns, which any other refuses.
OWN_SETTINGS = frozenset(name for fmt in METADATA for name in _own(fmt))
# The formats the relay renders a body for (the HTTP ones), in order.
RENDERED = tuple(name for name, d in METADATA.items() if d.sent == "request")
# What the console's form offers, and the portal's: an app makes, unasked, only what the
# relay renders and what has no address (the rest needs `delivery.allowed_targets`).
FORMED = tuple(name for name, d in METADATA.items() if d.formed)
APP_FORMED = tuple(n for n in FORMED if METADATA[n].sent != "publish")
# Where binary mode puts a CloudEvent's attributes but in `ce-` headers, as AsyncAPI says.
BINDING_PLACES = ", ".join(m.binding_place for m in METADATA.values() if m.binding_place)


def check_url(fmt: str, url: str) -> str:
    """`url` when it is an address of a `fmt` downstream; else ValueError saying why."""
    return PROVIDERS[fmt].validate(url).url


def check(settings: Any) -> None:
    """ValueError saying what is wrong with a downstream's settings."""
    provider = PROVIDERS[str(settings.format)]
    others = OWN_SETTINGS - _own(str(settings.format))
    for key in type(settings).model_fields:
        if key in others and getattr(settings, key) is not None:
            raise ValueError(f"{key} is not a setting of a {settings.format} downstream")
    provider.validate(settings.url, settings)


def transform_refusal(fmt: str) -> str | None:
    """Why a `fmt` downstream takes no transform (a chat message is its own); None: it does."""
    if not chat(fmt):
        return None
    return f"a {fmt} downstream sends a chat message; it takes a filter only"


def chat(fmt: str) -> bool:
    """Whether a `fmt` downstream sends a chat message (never transformed)."""
    return METADATA[fmt].body == "chat"


def default_url(fmt: str) -> str | None:
    """The `url` of a downstream given none, when it has no address; None: it needs one."""
    found = METADATA.get(fmt)
    return found.stand_in_url if found is not None and found.sent == "read" else None


def sealed_url(fmt: str) -> str:
    """A URL that passes `check_url`, for a row whose real URL is sealed away."""
    found = METADATA.get(fmt)
    return found.stand_in_url if found is not None else "https://sealed.invalid/"


def secret_url(fmt: str) -> bool:
    """Whether a `fmt` downstream's URL is itself its credential (a chat webhook's)."""
    return METADATA[fmt].url_secret == "credential"


def masked_url(fmt: str, url: str, mask: str) -> str | None:
    """`url` with its whole path masked when the path is a credential (an unknown format's
    too); None: it is shown as any URL is."""
    found = METADATA.get(fmt)
    if found is not None and not found.url_secret:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{mask}", "", ""))


def needs_handshake(fmt: str, envelope: str) -> bool:
    """Whether a downstream is validated before its deliveries: a webhook of CloudEvents."""
    found = METADATA.get(fmt)
    sends_events = found is not None and found.sent == "request" and found.body == "event"
    return sends_events and envelope != "relay"


def read_by_pull(fmt: str) -> bool:
    """Whether a `fmt` downstream is read by its app at the pull endpoint, never sent to."""
    found = METADATA.get(fmt)
    return found is not None and found.sent == "read"


def target_option(fmt: str | None) -> str:
    """The setting the CLI's --target fills for `fmt`; ValueError naming the formats that
    take one. A broker whose URL names its topic (Kafka's) takes none."""
    found = METADATA.get(fmt or "")
    if found is None or found.target_setting is None:
        named = [f for f, d in METADATA.items() if d.target_setting]
        brokers = [f for f in named if METADATA[f].extra == f]  # a broker's extra is its own
        others = ", ".join(f for f in named if f not in brokers)
        raise ValueError(
            f"--target is for a broker format ({', '.join(brokers)}) or {others}: give --format"
        )
    return found.target_setting


def preview_refusal(fmt: str) -> str | None:
    """Why a message to a `fmt` downstream cannot be previewed; None: it can."""
    if METADATA[fmt].previewable:
        return None
    return f"format: {fmt} cannot be previewed; try another chat format"


def untestable(fmt: str) -> str | None:
    """Why a test event is not sent to a `fmt` downstream now; None: it is."""
    if METADATA[fmt].sent == "request":
        return None
    return "format: test events go to HTTP downstreams (webhook and chats)"


def preview_request(fmt: str, shaped: Shaped, headers: dict[str, str], kind: str) -> dict[str, Any]:
    """What a delivery to a `fmt` downstream would send: a request, or a publish."""
    published = METADATA[fmt].sent != "request"
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
    """The body for a `fmt` downstream at `url` (see `Provider.render`)."""
    return PROVIDERS[fmt].render(payload, url, posted)


def bodies(downstream: Endpoint) -> Callable[[DeliveryJob], Shaped]:
    """A downstream's own body for a job, its renderer looked up once (a lane keeps it): in
    a CloudEvent envelope, the event's own document (the envelope carries its type and
    time), else its format's body."""
    if getattr(downstream, "envelope", "relay") != "relay":
        return event_data
    # A partial of provider.py's function: a delivery's path runs no code of this module.
    return partial(body_of, PROVIDERS[str(downstream.format)].render, downstream.url or "")


def addresses(settings: Endpoint) -> Addresses:
    return PROVIDERS[str(settings.format)].validate(settings.url, settings)


def open_publisher(settings: Endpoint, opening: Opening) -> Publisher:
    """A downstream's publisher; ConfigError when its extra is not installed."""
    provider = PROVIDERS[str(settings.format)]
    if (extra := provider.metadata.extra) is not None:
        require(extra, f'downstream {opening.name} (format = "{settings.format}")')
    return provider.open(settings, opening)


def missing_extra(fmt: str) -> str | None:
    """The extra a `fmt` downstream needs that the install lacks; None: nothing lacks."""
    extra = METADATA[fmt].extra
    return extra if extra is not None and not installed(extra) else None


def unallowed_target(settings: Endpoint, patterns: list[str]) -> str | None:
    """The first address of a downstream no pattern of `delivery.allowed_targets` matches
    (`*` any text, `/` included)."""
    for address in addresses(settings).targets:
        if not any(fnmatchcase(address, pattern) for pattern in patterns):
            return address
    return None
