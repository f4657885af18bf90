"""The door's resources: the kinds table, a task as `task://{id}`, and the event catalog.
Plain data, no `mcp` import: server.py turns these into the SDK's types.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from receiver.catalog import events
from receiver.lifecycle.rules.task import KINDS

TASK_SCHEME = "task://"
TASK_TEMPLATE = "task://{id}"


@dataclass(frozen=True)
class StaticResource:
    uri: str
    name: str
    description: str
    text: Callable[[], str]


def kinds_table() -> str:
    """Every kind of task the relay takes, with its output and its body's fields."""
    rows = [
        {
            "kind": kind.name,
            "output": kind.output,
            "format": "runway" if kind.form == "official" else "cometapi-callback",
            "needs_model": kind.form == "official",
            "prompt_field": kind.prompt,
            "source_field": kind.source,
            "cancellable": kind.cancellable,
        }
        for kind in KINDS.values()
    ]
    return json.dumps({"kinds": rows}, ensure_ascii=False)


def event_catalog() -> str:
    return json.dumps({"event_types": events.catalog()}, ensure_ascii=False)


STATIC: tuple[StaticResource, ...] = (
    StaticResource(
        "relay://kinds",
        "kinds",
        "Every kind of task submit_task takes: its output (video, image, audio) and fields.",
        kinds_table,
    ),
    StaticResource(
        "relay://events",
        "events",
        "Every event type the relay delivers to webhooks and brokers (task.succeeded, ...):"
        " its JSON Schema and an example, as GET /v1/event-types lists them.",
        event_catalog,
    ),
)


def static(uri: str) -> str | None:
    for resource in STATIC:
        if resource.uri == uri:
            return resource.text()
    return None


def task_id_of(uri: str) -> str | None:
    """The task a `task://{id}` names, or None for any other URI."""
    if not uri.startswith(TASK_SCHEME):
        return None
    task_id = uri[len(TASK_SCHEME) :].strip("/")
    # No NUL: no task's id holds one (and PostgreSQL would refuse to look it up).
    plain = "/" not in task_id and "\x00" not in task_id
    return task_id if task_id and plain and len(task_id) <= 200 else None
