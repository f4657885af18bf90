"""What every broker publisher shares: the message, the target, the interface."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Protocol

# The URL schemes each broker format takes (the second: over TLS).
BROKER_SCHEMES: dict[str, tuple[str, ...]] = {
    "amqp": ("amqp", "amqps"),
    "nats": ("nats", "tls"),
    "mqtt": ("mqtt", "mqtts"),
    "redis": ("redis", "rediss"),
}
# The config key that names where a format's messages go.
TARGET_FIELD = {"amqp": "routing_key", "nats": "subject", "mqtt": "topic", "redis": "stream"}
PLACEHOLDERS = frozenset({"state", "kind", "task_id"})


@dataclass(frozen=True)
class BrokerTarget:
    """Where one downstream's messages go; `name` may hold {state}, {kind}, {task_id}."""

    format: str
    url: str
    name: str
    exchange: str = ""
    maxlen: int | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Message:
    body: bytes  # the `webhook` format's JSON event
    headers: dict[str, str]  # webhook-id, webhook-timestamp, webhook-type, webhook-signature
    name: str  # the routing key, subject, topic or stream, placeholders filled


class Publisher(Protocol):
    async def publish(self, message: Message) -> None:
        """Return once the broker confirmed the message; else raise DownstreamError."""

    async def close(self) -> None: ...


def placeholders(template: str) -> set[str]:
    """The names a template uses; ValueError when it is not a valid template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def fill(template: str, document: dict[str, Any]) -> str:
    """The template with the event's state, kind and task id."""
    values = {key: str(document.get(key) or "") for key in PLACEHOLDERS}
    return template.format_map(values)
