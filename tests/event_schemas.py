"""Every event a sink received, checked against its type's JSON Schema from the event
catalog (receiver/kernel/events/rules/catalog.py): run at the end of each test that used a sink, so
the
catalog cannot drift from what the relay really sends."""

from __future__ import annotations

from typing import Any

from receiver.kernel.events.rules.catalog import EVENT_TYPES, schema

_ENVELOPE = {"type", "timestamp", "data"}


def relay_events(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bodies that are the `webhook` format's events (not a chat message, nor what a
    transform made)."""
    events = []
    for hit in received:
        body = hit.get("json")
        if "webhook-id" not in hit.get("headers", {}) or not isinstance(body, dict):
            continue
        if set(body) == _ENVELOPE and body.get("type") in EVENT_TYPES:
            events.append(body)
    return events


def assert_events_match_their_schemas(received: list[dict[str, Any]]) -> None:
    import jsonschema  # a dev tool: the core install's unit tests import this module too

    for event in relay_events(received):
        try:
            jsonschema.validate(event, schema(event["type"]))
        except jsonschema.ValidationError as exc:
            path = "/".join(map(str, exc.absolute_path))
            raise AssertionError(
                f"a {event['type']} event breaks its schema at {path}: {exc.message}"
            ) from None
