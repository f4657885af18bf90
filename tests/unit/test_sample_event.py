"""The test event's document: the catalog's example of its type, marked as a test, and still
valid under that type's schema (what receivers validate against)."""

from __future__ import annotations

import pytest

from receiver.catalog.events import MODELS
from receiver.deliveries.sample_event import SENDABLE, sample
from receiver.kernel.errors import InvalidRequest
from receiver.outbox.rules.event_types import envelope


@pytest.mark.parametrize("event_type", SENDABLE)
def test_a_sample_is_marked_and_fits_its_types_schema(event_type: str) -> None:
    document = sample(event_type)
    assert document["test"] is True and document["event_id"].startswith("evt_test_")
    event = envelope(document, "2026-01-01T00:00:00Z") | {"type": event_type}
    assert MODELS[event_type].model_validate(event).model_dump()["data"]["test"] is True


def test_only_task_types_and_the_test_type_are_sent() -> None:
    assert "downstream.disabled" not in SENDABLE and "relay.test" in SENDABLE
    with pytest.raises(InvalidRequest, match="type: one of"):
        sample("downstream.disabled")
    assert sample("task.failed")["event_id"] != sample("task.failed")["event_id"]
