"""The contract's messages and answers, and what every publishing destination shares: its
target, its message, and the adapter that makes a client that confirms a `Publisher`."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.outbound import Failure, transport_errors
from receiver.outbox.rules.delivery import Answer
from receiver.outbox.rules.event_types import PROGRESS, PROGRESS_TYPE

if TYPE_CHECKING:
    from receiver.destinations.http import Route

PLACEHOLDERS = frozenset({"state", "kind", "task_id"})
# Called with a server's host and port before a client dials it; raises to refuse.
ServerJudge = Callable[[str, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery as the fan-out hands it to a publisher: its id (`webhook-id`), the body
    as shaped, the event document, the headers, and, for an HTTP destination, the method,
    the path to append, and the URL when it is not the downstream's (a task's own webhook)."""

    id: str
    body: bytes
    event: Mapping[str, Any]
    headers: dict[str, str]
    method: str = "POST"
    path: str = ""
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one publish brought back: the answer the retry rules judge, the chat message
    it posted (Telegram edits it later), and the start of the answer's body, scrubbed."""

    answer: Answer
    posted: tuple[str, bool] | None = None
    excerpt: str | None = None


class Publisher(Protocol):
    async def publish(self, message: Message) -> Outcome:
        """Send `message` once and say what came back; never raises for the answer."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Opening:
    """What a publisher is opened with besides its settings; for a downstream from the API,
    the judge of every server its client dials and the operator's patterns it must stay
    within; `route` opens an HTTP destination's way out."""

    name: str
    max_in_flight: int
    judge: ServerJudge | None = field(default=None, compare=False)
    allowed: tuple[str, ...] = ()
    route: Callable[[], Route] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BrokerTarget:
    """Where one downstream's messages go; `name` may hold {state}, {kind}, {task_id}."""

    format: str
    url: str
    name: str
    timeout: float = 10.0
    # A downstream from the API: every server its client dials is judged first, and an
    # app's must match one of the operator's patterns, `allowed`.
    judge: ServerJudge | None = field(default=None, compare=False)
    allowed: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class BrokerMessage:
    body: bytes  # the `webhook` format's JSON event
    headers: dict[str, str]  # webhook-id, webhook-timestamp, webhook-type, webhook-signature
    name: str  # the routing key, subject, topic or stream, placeholders filled
    # The event document: what the AWS formats read their group, dedup id and key from.
    event: Mapping[str, Any] = field(default_factory=dict)


class Confirms(Protocol):
    """A broker's or a service's client."""

    async def publish(self, message: BrokerMessage) -> None:
        """Return once the broker confirmed the message; else raise DownstreamError."""

    async def close(self) -> None: ...


def undelivered(failure: Failure) -> DownstreamError:
    return DownstreamError(failure.reason)


class Confirming:
    """A client that confirms each message, as the fan-out's publisher: the event goes
    where the target's template names; the confirm, the refusal, or no confirm in time,
    as an Outcome."""

    def __init__(self, client: Confirms, target: BrokerTarget) -> None:
        self.client, self.target = client, target

    async def publish(self, message: Message) -> Outcome:
        event = message.event
        kind = event.get("type") or f"task.{event.get('state')}"
        headers = message.headers | {"webhook-type": kind}
        sent = BrokerMessage(message.body, headers, fill(self.target.name, event), event)
        timeout = self.target.timeout
        try:
            async with asyncio.timeout(timeout):
                with transport_errors(undelivered):
                    await self.client.publish(sent)
        except TimeoutError:
            return Outcome(Answer(failure=f"no confirm within {timeout:g}s"))
        except DownstreamError as exc:
            return Outcome(Answer(failure=exc.detail))
        return Outcome(Answer(confirmed=True))

    async def close(self) -> None:
        await self.client.close()


def content_typed(headers: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The headers but its content type, and that type: for a protocol whose message has a
    content type of its own (AMQP's property, MQTT 5's)."""
    kept = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    found = [value for name, value in headers.items() if name.lower() == "content-type"]
    return kept, found[0] if found else "application/json"


def placeholders(template: str) -> set[str]:
    """The names a template uses; ValueError when it is not one, or a placeholder is not
    bare (a format spec such as `{task_id:>40000000}` would make each message that long)."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{{{name}}} takes no format spec or conversion")
        names.add(name)
    return names


def fill(template: str, document: Mapping[str, Any]) -> str:
    """The template with the event's state, kind and task id; a progress event's state is
    `progress`, so that it never lands where the task's `running` event does."""
    values = {key: str(document.get(key) or "") for key in PLACEHOLDERS}
    if document.get("type") == PROGRESS_TYPE:
        values["state"] = PROGRESS
    return template.format_map(values)
