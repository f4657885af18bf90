"""What a destination is: one `Provider` each, loaded by the registry at its first use, and
one plain `Metadata` record (metadata.py). The contract is Hookdeck Outpost's: a provider
has its metadata, validates a downstream's settings, renders its body and opens its
publisher (`publish` and `close`), to which the fan-out hands every delivery."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import orjson

from receiver.destinations import cloudevents
from receiver.destinations.chat_message import Payload
from receiver.destinations.metadata import METADATA, Metadata
from receiver.destinations.publishing import BrokerTarget, Confirming, Confirms, Opening, Publisher
from receiver.destinations.settings import http_url
from receiver.expressions.rules import Shaped
from receiver.outbox.rules.delivery import DeliveryJob


def webhook(p: Mapping[str, Any]) -> dict[str, Any]:
    """The event as it goes out (every broker publishes it too, and a filter or transform
    sees it): Standard Webhooks' recommended shape, the event document as its data."""
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
    """How the AsyncAPI document describes a destination: its server's protocol and its
    channel's bindings (None: AsyncAPI's defaults). `shared`: its downstreams are servers of
    the one `webhook` channel rather than a channel each."""

    protocol: str
    channel: dict[str, Any] | None = None
    address: str | None = None  # None: its `target_setting`'s template (a URL's: Kafka's topic)
    host: str | None = None  # None: the URL's host and port (its first of several)
    shared: bool = False
    setting: str = "address"  # what names `address`: the URL, or its `target_setting`


@dataclass(frozen=True)
class Addresses:
    """Where a downstream's messages go: `servers`, the setting and URL of every server the
    relay connects to (none: the service's own endpoint); `targets`, what
    `delivery.allowed_targets` matches (none: an HTTP URL is checked as any URL)."""

    servers: list[tuple[str, str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    binding: Binding | None = None
    url: str = ""  # the URL as its check gave it back


class Endpoint(Protocol):
    """What every downstream's settings hold (a provider reads its own keys besides)."""

    @property
    def format(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def timeout(self) -> float: ...


# A destination's body for an event: (payload, url, the task's first message there) -> Rendered.
Render = Callable[[Payload, str, tuple[str, bool] | None], Rendered]


def body_of(render: Render, url: str, job: DeliveryJob) -> Shaped:
    """A format's own body for a delivery, with the path to append, by its `render`."""
    rendered = render(job.payload, url, job.posted)
    return Shaped(rendered.body, path=rendered.path)


@runtime_checkable
class Provider(Protocol):
    """One destination: its metadata, its settings validated, its body, its publisher."""

    @property
    def metadata(self) -> Metadata: ...

    def validate(self, url: str | None, settings: Endpoint | None = None) -> Addresses:
        """Where a downstream's messages go, its URL as checked (`url` alone when `settings`
        is None); ValueError saying what is wrong with the URL or the settings."""

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        """The body for the event at `url`; `posted`: the task's first message there."""

    def open(self, settings: Endpoint, opening: Opening) -> Publisher:
        """The publisher of a downstream; it opens its client (an HTTP session, a broker's
        library) at its first publish, so that a relay starts without them."""


class Destination:
    """What most destinations answer alike; each overrides the hooks where it differs."""

    metadata = METADATA["webhook"]

    def validate(self, url: str | None, settings: Any = None) -> Addresses:
        checked = "" if url is None else self.check_url(url)
        if settings is None:
            return Addresses(url=checked)
        self.check_settings(settings)
        http = self.metadata.sent == "request"
        sent = getattr(settings, "auth", None) or getattr(settings, "tls", None)
        fmt = self.metadata.format
        if not http and (sent or getattr(settings, "proxy", None)):
            raise ValueError(f"auth, tls and proxy are settings of HTTP downstreams, not {fmt}")
        if not http and getattr(settings, "signing", None) == "rfc9421":
            raise ValueError(f"signing: rfc9421 signs HTTP requests, not {fmt} messages")
        envelope = getattr(settings, "envelope", "relay")
        if problem := cloudevents.refusal(envelope, self.metadata):
            raise ValueError(problem)
        if url is None:  # its URL comes later (`url_env`): where it goes is not known yet
            return Addresses()
        return replace(self.addresses(settings), url=checked)

    def check_url(self, url: str) -> str:
        return http_url(url)

    def check_settings(self, settings: Any) -> None:
        return None

    def addresses(self, settings: Any) -> Addresses:
        return Addresses([("url", str(settings.url))])

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        return Rendered(orjson.dumps(webhook(payload)))

    def open(self, settings: Any, opening: Opening) -> Publisher:
        from receiver.destinations.http import HttpPublisher  # with the first HTTP downstream

        assert opening.route is not None, "an HTTP destination's publisher needs its route"
        return HttpPublisher(opening.route(), str(settings.url), float(settings.timeout))


class ChatDestination(Destination):
    """A chat platform's incoming webhook: a message of its own."""

    def __init__(self, fmt: str, message: Callable[[Payload], Payload]) -> None:
        self.metadata = METADATA[fmt]
        self._message = message

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        return Rendered(orjson.dumps(self._message(payload)))


class PublishingDestination(Destination):
    """A destination whose client confirms each message: the `webhook` event to its `target`."""

    def target(self, settings: Any) -> BrokerTarget:
        raise NotImplementedError

    def target_addresses(self, settings: Any) -> list[str]:
        return []

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return [("url", str(settings.url))]

    def binding(self, settings: Any) -> Binding | None:
        return None

    def addresses(self, settings: Any) -> Addresses:
        binding, setting = self.binding(settings), self.metadata.target_setting
        if binding is not None and binding.address is None and setting is not None:
            binding = replace(binding, address=str(getattr(settings, setting)), setting=setting)
        return Addresses(self.connects_to(settings), self.target_addresses(settings), binding)

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        raise NotImplementedError

    def open(self, settings: Any, opening: Opening) -> Publisher:
        target = replace(self.target(settings), judge=opening.judge, allowed=opening.allowed)
        return Confirming(self.open_publisher(target, opening.name, opening.max_in_flight), target)
