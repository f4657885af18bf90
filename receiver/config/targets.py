"""What every broker publisher shares: the message, the target, the interface."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from receiver.lifecycle.rules.routing import PROGRESS, PROGRESS_TYPE

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
# Characters a broker reads as a wildcard in a name it publishes to: a message sent there
# would be refused, or taken as going to many.
WILDCARDS = {"nats": "*>", "mqtt": "+#"}


@dataclass(frozen=True)
class BrokerTarget:
    """Where one downstream's messages go; `name` may hold {state}, {kind}, {task_id}."""

    format: str
    url: str
    name: str
    exchange: str = ""
    maxlen: int | None = None
    timeout: float = 10.0
    # The AWS formats (receiver/downstreams/brokers/aws.py): None, the AWS default applies.
    region: str | None = None
    endpoint_url: str | None = None
    key: str = ""  # s3: the object key template


@dataclass(frozen=True)
class Message:
    body: bytes  # the `webhook` format's JSON event
    headers: dict[str, str]  # webhook-id, webhook-timestamp, webhook-type, webhook-signature
    name: str  # the routing key, subject, topic or stream, placeholders filled
    # The event document: what the AWS formats read their group, dedup id and key from.
    event: Mapping[str, Any] = field(default_factory=dict)


class Publisher(Protocol):
    async def publish(self, message: Message) -> None:
        """Return once the broker confirmed the message; else raise DownstreamError."""

    async def close(self) -> None: ...


def placeholders(template: str) -> set[str]:
    """The names a template uses; ValueError when it is not a valid template, or a
    placeholder is not bare (a format spec such as `{task_id:>40000000}` would make each
    message that long)."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{{{name}}} takes no format spec or conversion")
        names.add(name)
    return names


def fill(template: str, document: dict[str, Any]) -> str:
    """The template with the event's state, kind and task id; a progress event's state is
    `progress`, so that it never lands where the task's `running` event does."""
    values = {key: str(document.get(key) or "") for key in PLACEHOLDERS}
    if document.get("type") == PROGRESS_TYPE:
        values["state"] = PROGRESS
    return template.format_map(values)
