"""Every event the tests received, checked against its type's JSON Schema from the event
catalog (receiver/catalog/events.py, what GET /v1/event-types serves and the AsyncAPI
document's messages carry): a sink's webhooks at the end of each test that used a sink, and
each broker's and AWS service's message as the test reads it (tests/brokers.py,
tests/aws.py), so the catalog cannot drift from what the relay really sends."""

from __future__ import annotations

import functools
import json
from typing import Any

from receiver.catalog.events import schema
from receiver.outbox.rules.event_types import EVENT_TYPES

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


@functools.cache
def _validator(event_type: str) -> Any:
    """The type's schema checked once, and its validator kept: `jsonschema.validate` checks
    the schema against its meta-schema at every call, which cost a test with a hundred
    events about ten seconds."""
    import jsonschema  # a dev tool: the core install's unit tests import this module too

    found = schema(event_type)
    cls = jsonschema.validators.validator_for(found)
    cls.check_schema(found)
    return cls(found)


def _validate(event: dict[str, Any], where: str) -> None:
    import jsonschema

    try:
        _validator(event["type"]).validate(event)
    except jsonschema.ValidationError as exc:
        path = "/".join(map(str, exc.absolute_path))
        raise AssertionError(
            f"{where}a {event['type']} event breaks its schema at {path}: {exc.message}"
        ) from None


def assert_events_match_their_schemas(received: list[dict[str, Any]]) -> None:
    for event in relay_events(received):
        _validate(event, "")


def assert_message_is_its_event(
    body: bytes | str | dict[str, Any], event_type: str | None, where: str
) -> dict[str, Any]:
    """A message a broker or an AWS service delivered with no transform on its downstream:
    the relay's event as a webhook gets it, of the type its headers name (`event_type`, when
    the message carries one), valid against that type's schema. Returns the event."""
    where = f"{where}: "
    if isinstance(body, dict):
        event: Any = body
    else:
        try:
            event = json.loads(body)
        except ValueError:
            raise AssertionError(f"{where}the message is not JSON: {body[:120]!r}") from None
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        raise AssertionError(f"{where}the message is no event of the catalog: {event!r:.300}")
    if event_type is not None and event_type != event["type"]:
        raise AssertionError(f"{where}headers say {event_type!r}, the event is {event['type']!r}")
    _validate(event, where)
    return event
