"""What the brokers share as destinations: a URL of their own scheme, a setting that names
where messages go (a template), the address the operator's patterns for apps match."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from receiver.destinations.provider import Binding, PublishingDestination
from receiver.destinations.publishing import PLACEHOLDERS, BrokerTarget, placeholders


class BrokerDestination(PublishingDestination):
    # The URL schemes it takes (the second: over TLS), and the characters it reads as a
    # wildcard in a name: a message sent there would be refused, or taken as going to many.
    schemes: tuple[str, ...] = ()
    wildcards = ""

    def check_url(self, url: str) -> str:
        parts = urlsplit(url)
        wanted = f"a {self.metadata.format} downstream needs a {' or '.join(self.schemes)}:// URL"
        if parts.scheme not in self.schemes:
            raise ValueError(f"{wanted}: its scheme is {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"{wanted}: it names no host")
        return url

    def check_settings(self, settings: Any) -> None:
        """It names where its messages go, with known placeholders and no wildcard."""
        wanted = str(self.metadata.target_setting)
        template = getattr(settings, wanted)
        if template is None:
            raise ValueError(f"a {self.metadata.format} downstream needs {wanted}")
        try:
            unknown = placeholders(template) - PLACEHOLDERS
        except ValueError as exc:
            raise ValueError(f"{wanted}: {exc}") from None
        if unknown:
            raise ValueError(
                f"{wanted}: unknown placeholder {{{sorted(unknown)[0]}}} (known: {{state}},"
                " {kind}, {task_id})"
            )
        if wildcards := sorted(set(template) & set(self.wildcards)):
            raise ValueError(
                f"{wanted}: {' '.join(wildcards)} is a wildcard to {self.metadata.format},"
                " not a name"
            )

    def target(self, settings: Any) -> BrokerTarget:
        name = getattr(settings, str(self.metadata.target_setting))
        return BrokerTarget(self.metadata.format, settings.url, name, settings.timeout)

    def target_addresses(self, settings: Any) -> list[str]:
        """The broker's server, never its credentials, then the target: `nats://HOST/SUBJECT`."""
        name = getattr(settings, str(self.metadata.target_setting))
        return [f"{server_of(str(settings.url or ''))}/{name}"]

    def binding(self, settings: Any) -> Binding | None:
        return Binding(self.metadata.format)


def server_of(url: str) -> str:
    """`scheme://host[:port]` of a broker URL, never its credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
