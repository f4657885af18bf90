"""What a destination is: one `Provider` each (receiver/destinations/registry.py lists them),
asked by everything that would otherwise switch on a format's name: the settings model, the
fan-out, the AsyncAPI document, the forms, `config show` and the checks of the install.

The contract is Hookdeck Outpost's: a provider validates a downstream's settings, opens its
publisher, and describes itself; the fan-out hands every delivery to `publisher.publish`.
An HTTP destination (`webhook`, the chat formats) renders its body and publishes with an
HTTP request (receiver/destinations/http.py); the others publish the `webhook` event to a
client that confirms each message (brokers, AWS; `pull` settles it at once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, HttpUrl, TypeAdapter, ValidationError

from receiver.destinations.chat_message import Payload
from receiver.destinations.http import HttpPublisher
from receiver.destinations.publishing import (
    BrokerTarget,
    Confirming,
    Confirms,
    Opening,
    Publisher,
)

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def webhook(p: Mapping[str, Any]) -> dict[str, Any]:
    """The event as it goes out: the `webhook` format's, which every broker publishes too
    and a downstream's filter and transform see: Standard Webhooks' recommended shape, a
    type, a timestamp and the event document as its data."""
    occurred = datetime.fromtimestamp(p["occurred_at"], UTC).isoformat().replace("+00:00", "Z")
    kind = p.get("type") or f"task.{p['state']}"  # the relay's own notices carry their type
    return {"type": kind, "timestamp": occurred, "data": p}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A downstream's body, and the path to append to its URL (Telegram's Bot API method)."""

    body: bytes
    path: str = ""


@dataclass(frozen=True)
class Binding:
    """How the AsyncAPI document describes a destination: its server's protocol, and the
    bindings of its channel (none: AsyncAPI's defaults). A destination whose URL names where
    messages go (a Kafka topic) gives that `address`, and the `host` its server stands for
    (the first of a URL's several). `shared`: its downstreams are servers of the one
    `webhook` channel rather than a channel each."""

    protocol: str
    channel: dict[str, Any] | None = None
    address: str | None = None  # None: its `target_setting`'s template
    host: str | None = None  # None: the URL's host and port
    shared: bool = False
    setting: str = "address"  # what names `address`: the URL, or its `target_setting`


@dataclass(frozen=True)
class Description:
    """The facts of a destination the rest of the relay shows or checks."""

    extra: str | None  # the package's extra it needs (pyproject.toml); None: the core has it
    target_setting: str | None  # the setting that says where a message goes
    url_is_credential: bool  # the URL itself is the credential (a chat webhook's path)
    masks_url_path: bool  # `config show` masks the URL's whole path (a token, an account)
    transformable: bool  # a transform may replace its body (the relay's JSON event)
    http: bool  # an HTTP request: auth, TLS, proxy and test events apply
    stand_in_url: str  # passes `check_url`, for a row whose real URL is sealed away
    previewable: bool  # the console and the API may preview a message to it
    addressless: bool  # read by its app (`pull`): its `url` is its `stand_in_url`
    in_forms: bool  # the console's and the portal's forms make one


@dataclass(frozen=True)
class Addresses:
    """Where a downstream's messages go: `servers`, the setting and URL of every server the
    relay connects to (each judged public when made through the API; none: the service's
    own endpoint); `targets`, what `delivery.allowed_targets` matches (none: an HTTP URL is
    checked as any URL); `binding`, its AsyncAPI server and channel (None: not shown)."""

    servers: list[tuple[str, str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    binding: Binding | None = None


class Endpoint(Protocol):
    """What every downstream's settings hold, whatever its destination (they are a model
    composed of every provider's `settings_model`: a provider reads its own keys besides)."""

    @property
    def format(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def timeout(self) -> float: ...


@runtime_checkable
class Provider(Protocol):
    """One destination."""

    @property
    def format(self) -> str:
        """Its `format` in a downstream's settings."""

    @property
    def settings_model(self) -> type[BaseModel] | None:
        """The keys only its downstreams take (the registry composes them into a
        downstream's settings); None: it has none."""

    def describe(self) -> Description: ...

    def check_url(self, url: str) -> str:
        """`url` when it is an address of this destination; else ValueError saying why."""

    def check(self, settings: Endpoint) -> None:
        """ValueError saying what is wrong with a downstream's settings for it."""

    def addresses(self, settings: Endpoint) -> Addresses: ...

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        """The body for the event (at `url`: Telegram reads its chat there); `posted`: the
        task's first message there, which Telegram edits in place."""

    def open(self, settings: Endpoint, opening: Opening) -> Publisher:
        """The publisher of a downstream (a client library imported only once it opens)."""


class Destination:
    """What most destinations answer alike; a destination overrides what it does otherwise
    (its flags, and the hooks below the contract's methods)."""

    format = ""
    extra: str | None = None
    settings_model: type[BaseModel] | None = None
    target_setting: str | None = None
    url_is_credential = False
    masks_url_path = False
    transformable = True
    http = True
    stand_in_url = "https://sealed.invalid/"
    previewable = True
    addressless = False
    in_forms = True

    def describe(self) -> Description:
        return Description(
            self.extra,
            self.target_setting,
            self.url_is_credential,
            self.masks_url_path,
            self.transformable,
            self.http,
            self.stand_in_url,
            self.previewable,
            self.addressless,
            self.in_forms,
        )

    def check_url(self, url: str) -> str:
        try:
            return str(_HTTP_URL.validate_python(url))
        except ValidationError:
            raise ValueError("must be an http(s) URL") from None

    def check(self, settings: Any) -> None:
        """Its own settings checked; auth, TLS and a proxy only on an HTTP request."""
        self.check_settings(settings)
        sent = getattr(settings, "auth", None) or getattr(settings, "tls", None)
        if not self.http and (sent or getattr(settings, "proxy", None)):
            raise ValueError(
                f"auth, tls and proxy are settings of HTTP downstreams, not {self.format}"
            )
        if not self.http and getattr(settings, "signing", None) == "rfc9421":
            raise ValueError(f"signing: rfc9421 signs HTTP requests, not {self.format} messages")

    def check_settings(self, settings: Any) -> None:
        return None

    def addresses(self, settings: Any) -> Addresses:
        return Addresses([("url", str(settings.url))])

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        return Rendered(orjson.dumps(webhook(payload)))

    def open(self, settings: Any, opening: Opening) -> Publisher:
        assert opening.route is not None, "an HTTP destination's publisher needs its route"
        return HttpPublisher(opening.route(), str(settings.url), float(settings.timeout))


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


class PublishingDestination(Destination):
    """A destination whose client confirms each message (a broker, an AWS service, `pull`):
    it publishes the `webhook` event to its `target`."""

    http = False

    def target(self, settings: Any) -> BrokerTarget:
        raise NotImplementedError

    def target_addresses(self, settings: Any) -> list[str]:
        return []

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return [("url", str(settings.url))]

    def binding(self, settings: Any) -> Binding | None:
        return None

    def addresses(self, settings: Any) -> Addresses:
        binding, setting = self.binding(settings), self.target_setting
        if binding is not None and binding.address is None and setting is not None:
            binding = replace(binding, address=str(getattr(settings, setting)), setting=setting)
        return Addresses(self.connects_to(settings), self.target_addresses(settings), binding)

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        """The client of a downstream (its library imported only once it opens)."""
        raise NotImplementedError

    def open(self, settings: Any, opening: Opening) -> Publisher:
        target = replace(self.target(settings), judge=opening.judge, allowed=opening.allowed)
        return Confirming(self.open_publisher(target, opening.name, opening.max_in_flight), target)
