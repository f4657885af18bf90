"""A downstream's health in one word, from what its deliveries came to: never `healthy`
beside dead letters and no success, the breaker's state only one of its inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from receiver.downstreams.directory import health_of
from receiver.downstreams.rows import DownstreamHealth
from receiver.downstreams.rules import HEALTHS, MEANINGS, Outcomes, health

QUIET = Outcomes(
    delivered=0, dead=0, dead_since_success=0, failing=False, breaker="closed", enabled=True,
)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({}, "no traffic yet"),
        ({"delivered": 3}, "healthy"),
        # The new user's case: nothing delivered, four dead, the breaker closed.
        ({"dead": 4, "dead_since_success": 4, "failing": True}, "failing"),
        ({"dead": 4}, "failing"),  # dead letters and never a success
        ({"delivered": 9, "dead": 2, "dead_since_success": 1, "failing": True}, "failing"),
        ({"delivered": 9, "breaker": "open"}, "failing"),
        # Its latest attempts failed, their deliveries wait for a retry: none dead yet.
        ({"delivered": 9, "failing": True}, "trying again"),
        ({"failing": True}, "trying again"),
        ({"delivered": 9, "dead": 3, "failing": True}, "trying again"),  # dead ones: before
        ({"delivered": 9, "breaker": "half_open"}, "trying again"),
        # Dead letters from before its last success are history: it goes through now.
        ({"delivered": 9, "dead": 5}, "healthy"),
        ({"delivered": 9, "dead": 4, "breaker": "open", "enabled": False}, "paused"),
        ({"enabled": False}, "paused"),
    ],
)
def test_each_state_reads_as_one_word(changes: dict[str, object], word: str) -> None:
    assert health(replace(QUIET, **changes)) == word  # type: ignore[arg-type]


def test_a_pull_downstream_shows_no_word_its_reads_would_contradict() -> None:
    """No breaker and no attempts: it is paused, has nothing yet, or has events to read."""
    pulled = replace(QUIET, pulled=True)
    assert health(pulled) == "no traffic yet"
    assert health(replace(pulled, enabled=False, delivered=4)) == "paused"
    assert health(replace(pulled, delivered=4)) is None


def test_every_word_is_explained_once() -> None:
    assert HEALTHS == ("failing", "paused", "trying again", "healthy", "no traffic yet")
    assert all(MEANINGS[word] for word in HEALTHS)


def test_a_record_of_the_store_reads_the_same() -> None:
    record = DownstreamHealth(
        name="hook",
        disabled_at=None,
        disabled_reason=None,
        failing_since=100.0,
        breaker="closed",
        breaker_changed_at=None,
        deliveries={"dead": 4},
        dead_since_success=4,
    )
    assert health_of(record) == "failing"
    assert health_of(replace(record, disabled_at=200.0)) == "paused"
    ok = replace(record, failing_since=None, deliveries={"succeeded": 2, "dead": 4})
    assert health_of(replace(ok, dead_since_success=0)) == "healthy"
    assert health_of(ok, pulled=True) is None
