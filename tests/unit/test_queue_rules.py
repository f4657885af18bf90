"""The submit queue's rules: room under the cap (what follows a refused send is
test_retries.py's; fair turns, test_turns.py's)."""

from __future__ import annotations

from receiver.lifecycle.rules.queue import free_slots

NOW = 10_000.0


def test_no_cap_lets_every_waiting_task_go() -> None:
    assert free_slots(None, running=500, paused_until=0, now=NOW) is None


def test_the_cap_leaves_room_for_what_is_not_running_and_never_less_than_none() -> None:
    assert free_slots(2, running=0, paused_until=0, now=NOW) == 2
    assert free_slots(2, running=1, paused_until=0, now=NOW) == 1
    assert free_slots(2, running=2, paused_until=0, now=NOW) == 0
    # Lowered while more ran (a new config on a busy store): wait, do not go negative.
    assert free_slots(2, running=5, paused_until=0, now=NOW) == 0


def test_nothing_goes_while_cometapi_asked_every_sender_to_wait() -> None:
    assert free_slots(None, running=0, paused_until=NOW + 1, now=NOW) == 0
    assert free_slots(5, running=0, paused_until=NOW + 1, now=NOW) == 0
    assert free_slots(5, running=0, paused_until=NOW, now=NOW) == 5
