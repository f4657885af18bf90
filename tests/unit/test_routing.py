"""Which downstreams get a row for an event, and the state it waits in."""

from __future__ import annotations

from receiver.domain.routing import notified_of, recipients, waits_for_copy

SUBS = {
    "hooks": frozenset({"succeeded", "failed"}),
    "chat": frozenset({"succeeded"}),
    "ops": frozenset({"downstream.disabled"}),
}


def test_only_the_downstreams_subscribed_to_the_state_get_a_row() -> None:
    assert recipients("failed", SUBS, set(), copying=False) == [("hooks", "pending")]
    assert recipients("running", SUBS, set(), copying=False) == []


def test_a_disabled_downstream_holds_and_a_copy_in_progress_makes_the_others_wait() -> None:
    rows = recipients("succeeded", SUBS, {"chat"}, copying=True)
    assert rows == [("hooks", "mirroring"), ("chat", "held")]


def test_deliveries_wait_for_a_copy_only_for_a_success_with_files_while_mirroring() -> None:
    assert waits_for_copy(True, "succeeded", ["https://cdn/x.mp4"])
    assert not waits_for_copy(True, "succeeded", [])
    assert not waits_for_copy(True, "failed", ["https://cdn/x.mp4"])
    assert not waits_for_copy(False, "succeeded", ["https://cdn/x.mp4"])


def test_a_disabled_notice_goes_to_its_subscribers_but_never_to_the_disabled_one() -> None:
    subs = {**SUBS, "hooks": frozenset({"downstream.disabled"})}
    assert notified_of("downstream.disabled", "hooks", subs) == ["ops"]
    assert notified_of("downstream.disabled", "chat", subs) == ["hooks", "ops"]
