"""What a destination is: one `Provider` each (receiver/destinations/registry.py lists them),
asked by everything that would otherwise switch on a format's name: the settings model, the
fan-out, the AsyncAPI document, the forms, `config show` and the checks of the install.

A destination is an HTTP request shaped by the relay (`webhook` and the chat formats, sent
by the fan-out's HTTP client) or a publisher that confirms each message (brokers, AWS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson
from pydantic import HttpUrl, TypeAdapter, ValidationError

from receiver.destinations.chat_message import Payload
from receiver.destinations.publishing import BrokerTarget, Publisher

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A downstream's body, and the path to append to its URL (Telegram's Bot API method)."""

    body: bytes
    path: str = ""


@dataclass(frozen=True)
class Binding:
    """How the AsyncAPI document describes a published destination: its server's protocol,
    and the bindings of its channel (none: AsyncAPI's defaults). A destination whose URL
    names where messages go (a Kafka topic) gives that `address`, and the `host` its server
    stands for (the first of a URL's several)."""

    protocol: str
    channel: dict[str, Any] | None = None
    address: str | None = None  # None: its `target_setting`'s template
    host: str | None = None  # None: the URL's host and port


@runtime_checkable
class Provider(Protocol):
    """One destination. `settings` names the keys of a downstream only it takes (declared on
    its pydantic model, which the registry composes into a downstream's settings);
    `target_setting` the one that says where a message goes (a routing key, subject, topic,
    stream or key)."""

    @property
    def format(self) -> str:
        """Its `format` in a downstream's settings."""

    @property
    def extra(self) -> str | None:
        """The package's extra it needs (pyproject.toml); None: the core has it."""

    @property
    def settings(self) -> tuple[str, ...]: ...

    @property
    def target_setting(self) -> str | None: ...

    @property
    def url_is_credential(self) -> bool:
        """Whether the URL itself is the credential (a chat webhook's path)."""

    @property
    def masks_url_path(self) -> bool:
        """Whether `config show` masks the URL's whole path (a chat token, an AWS account)."""

    @property
    def transformable(self) -> bool:
        """Whether a transform may replace its body (the relay's JSON event)."""

    @property
    def publishes(self) -> bool:
        """A publisher confirms each message; else the fan-out sends an HTTP request."""

    @property
    def stand_in_url(self) -> str:
        """A URL that passes `check_url`, for a row whose real URL is sealed away."""

    @property
    def previewable(self) -> bool:
        """Whether the console and the API may preview a message to it."""

    @property
    def addressless(self) -> bool:
        """Its downstreams have no address: read by their app (`pull`), their `url` its
        `stand_in_url`."""

    @property
    def in_forms(self) -> bool:
        """Whether the console's and the portal's forms make one: they ask for an address
        and the AWS settings, not a broker's own (an exchange, a subject, a stream)."""

    def check_url(self, url: str) -> str:
        """`url` when it is an address of this destination; else ValueError saying why."""

    def check_settings(self, settings: Any) -> None:
        """ValueError saying what is wrong with its own settings of a downstream."""

    def target(self, settings: Any) -> BrokerTarget | None:
        """Where a publishing destination's messages go; None for an HTTP one."""

    def target_addresses(self, settings: Any) -> list[str]:
        """What `delivery.allowed_targets` matches (empty: an HTTP format's URL is checked
        as any URL)."""

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        """The setting and the URL of every server the relay connects to for a downstream
        (each checked to be public when made through the API); none: the service's own
        endpoint."""

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        """The publisher of a downstream (its client library imported only once it opens)."""

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        """The HTTP body for the event; `posted`: the task's first message there."""

    def posted(self, path: str, answer: str) -> tuple[str, bool] | None:
        """The message a send created, when later events edit it in place (Telegram)."""

    def binding(self, settings: Any) -> Binding | None:
        """Its AsyncAPI server and channel; None: an HTTP format (the webhook channel)."""


class Destination:
    """What most destinations answer alike: an HTTP request of the relay's JSON event. A
    destination overrides what it does otherwise."""

    format = ""
    extra: str | None = None
    settings: tuple[str, ...] = ()
    target_setting: str | None = None
    url_is_credential = False
    masks_url_path = False
    transformable = True
    publishes = False
    stand_in_url = "https://sealed.invalid/"
    previewable = True
    addressless = False
    in_forms = True

    def check_url(self, url: str) -> str:
        try:
            return str(_HTTP_URL.validate_python(url))
        except ValidationError:
            raise ValueError("must be an http(s) URL") from None

    def check_settings(self, settings: Any) -> None:
        return None

    def target(self, settings: Any) -> BrokerTarget | None:
        return None

    def target_addresses(self, settings: Any) -> list[str]:
        return []

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return [("url", str(settings.url))]

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        raise ValueError(f"not a broker format: {self.format}")

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        raise ValueError(f"{self.format} is published, not rendered")

    def posted(self, path: str, answer: str) -> tuple[str, bool] | None:
        return None

    def binding(self, settings: Any) -> Binding | None:
        return None


class ChatDestination(Destination):
    """A chat platform's incoming webhook: a message of its own, at a URL that is its
    credential."""

    url_is_credential = True
    masks_url_path = True
    transformable = False

    def __init__(self, fmt: str, message: Callable[[Payload], Payload]) -> None:
        self.format = fmt
        self._message = message

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        return Rendered(orjson.dumps(self._message(payload)))
