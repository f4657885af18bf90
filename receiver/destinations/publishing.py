"""What every publishing destination shares: the message, the target, the interface."""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from receiver.lifecycle.rules.routing import PROGRESS, PROGRESS_TYPE

PLACEHOLDERS = frozenset({"state", "kind", "task_id"})
# Called with a server's host and port before a client dials it; raises to refuse.
ServerJudge = Callable[[str, int], Awaitable[None]]


@dataclass(frozen=True)
class BrokerTarget:
    """Where one downstream's messages go; `name` may hold {state}, {kind}, {task_id}."""

    format: str
    url: str
    name: str
    exchange: str = ""
    maxlen: int | None = None
    timeout: float = 10.0
    # The AWS formats (receiver/destinations/aws_client.py): the setting, else the region its URL
    # names; None, the AWS default applies.
    region: str | None = None
    endpoint_url: str | None = None
    key: str = ""  # s3: the object key template
    # Kafka's: SASL's mechanism (with the URL's user and password), and whether the producer
    # is idempotent (a broker that refuses it needs it off).
    sasl_mechanism: str = ""
    idempotent: bool = True
    # A downstream from the API: every server its client dials (each Kafka broker the
    # cluster names, too) is judged first by `judge` (raising guard.PrivateAddress), and,
    # an app's within the operator's patterns, must match one of `allowed`.
    judge: ServerJudge | None = field(default=None, compare=False)
    allowed: tuple[str, ...] = field(default=(), compare=False)


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
