"""The check every end-to-end test makes of what a broker or AWS service delivered
(tests/event_schemas.py): it passes the catalog's own examples and fails a message that
breaks its type's schema, names another type than its headers, or is no event at all."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver.outbox.rules import event_types as events
from tests.event_schemas import assert_message_is_its_event

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _jsonschema() -> None:
    pytest.importorskip("jsonschema")  # a dev tool: the core install has none


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


@pytest.mark.parametrize("event_type", events.EVENT_TYPES)
def test_each_example_as_a_broker_carries_it_passes(event_type: str) -> None:
    example = events.example(event_type)
    assert assert_message_is_its_event(_body(example), event_type, "queue") == example
    assert assert_message_is_its_event(example, None, "bus") == example  # a bus's detail


def test_a_message_that_breaks_its_schema_fails_naming_where() -> None:
    event = events.example("task.succeeded")
    del event["data"]["task_id"]
    with pytest.raises(AssertionError, match=r"queue: a task\.succeeded event breaks its schema"):
        assert_message_is_its_event(_body(event), "task.succeeded", "queue")
    event = events.example("task.succeeded")
    event["data"]["outputs"] = "https://cdn.example.com/render.mp4"  # a string, not a list
    with pytest.raises(AssertionError, match="at data/outputs"):
        assert_message_is_its_event(_body(event), "task.succeeded", "queue")
    event = events.example("task.failed")
    event["surplus"] = 1
    with pytest.raises(AssertionError, match="breaks its schema"):
        assert_message_is_its_event(_body(event), "task.failed", "queue")


def test_a_message_of_another_type_than_its_headers_or_no_event_fails() -> None:
    example = _body(events.example("task.running"))
    with pytest.raises(AssertionError, match=r"headers say .task\.succeeded."):
        assert_message_is_its_event(example, "task.succeeded", "stream")
    with pytest.raises(AssertionError, match="not JSON"):
        assert_message_is_its_event(b"\x00not json", "task.running", "stream")
    shaped = {"task": "tsk_1", "state": "succeeded"}  # what a transform might make
    with pytest.raises(AssertionError, match="no event of the catalog"):
        assert_message_is_its_event(_body(shaped), "task.succeeded", "stream")
