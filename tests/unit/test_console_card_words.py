"""A downstream's card never says "no failures" while the downstream fails: with its
breaker open, what is pending may not have been tried again, so its list of retries is
empty though nothing goes through."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from receiver.console.views import nothing_failed

pytestmark = pytest.mark.unit


@dataclass
class Health:
    deliveries: dict[str, int] = field(default_factory=dict)
    breaker: str = "closed"
    failing_since: float | None = None
    disabled_reason: str | None = None


def test_a_failing_downstream_with_its_breaker_open_is_not_said_to_have_no_failures() -> None:
    said = nothing_failed(Health({"pending": 75}, "open", 1.0))
    assert "No failures" not in said
    assert "75 pending" in said and "breaker is open" in said


def test_failing_with_nothing_pending_is_not_said_to_be_fine() -> None:
    assert "No failures" not in nothing_failed(Health({}, "closed", 1.0))
    assert "half-open" in nothing_failed(Health({"pending": 2}, "half_open"))


def test_a_healthy_downstream_has_no_failures() -> None:
    assert nothing_failed(Health({"pending": 3})) == "No failures: nothing dead, nothing retrying."


def test_a_paused_downstream_with_deliveries_held_is_not_said_to_have_no_failures() -> None:
    said = nothing_failed(Health({"held": 3}, disabled_reason="the endpoint did not allow it"))
    assert "No failures" not in said
    assert "3 held while it is paused (the endpoint did not allow it)" in said
