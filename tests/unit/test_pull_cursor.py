"""The pull endpoint's cursors: opaque, signed for one downstream, read back under any of
the relay's signing keys, refused when altered; each names the downstream it was made for
(when it was made). And an answer's budget: time and bytes, the first event always in."""

from __future__ import annotations

import pytest

from receiver.deliveries.pulled import START, Budget, Position, _b64, _mac, cursor, position
from receiver.kernel.errors import MalformedRequest

AT = Position(1712.5, "msg_00ab", 1700.25)


def test_a_cursor_reads_back_its_position_under_an_older_key_too():
    made = cursor(["old"], "app_1.inbox", AT)
    assert position(["old"], "app_1.inbox", made) == AT
    assert position(["old", "new"], "app_1.inbox", made) == AT
    assert "msg_00ab" not in made  # opaque
    assert position(["k"], "app_1.inbox", None) == START


def test_a_cursor_of_an_older_release_names_no_downstreams_making():
    raw = b'[1712.5,"msg_00ab"]'
    older = f"{_b64(raw)}.{_b64(_mac('k', 'app_1.inbox', raw))}"
    assert position(["k"], "app_1.inbox", older) == Position(1712.5, "msg_00ab", None)


@pytest.mark.parametrize("given", ["nonsense", "a.b", "!!.??"])
def test_what_the_relay_did_not_make_is_refused(given: str):
    with pytest.raises(MalformedRequest):
        position(["k"], "app_1.inbox", given)


def test_a_cursor_is_its_downstreams_alone_and_unaltered():
    made = cursor(["k"], "app_1.inbox", Position(1.0, "msg_1", 0.0))
    with pytest.raises(MalformedRequest):
        position(["k"], "app_2.inbox", made)
    _, mac = made.split(".")
    forged = cursor(["k"], "app_1.inbox", Position(2.0, "msg_9", 0.0)).split(".")[0]
    with pytest.raises(MalformedRequest):
        position(["k"], "app_1.inbox", f"{forged}.{mac}")
    with pytest.raises(MalformedRequest):
        position(["other"], "app_1.inbox", made)


def test_a_budget_has_room_for_the_first_event_whatever_it_weighs_then_to_its_size():
    budget = Budget(seconds=1.0, size=100, clock=lambda: 0.0)
    assert budget.take(150)  # alone over the size: still in, or no answer would move on
    assert not budget.take(1)
    budget = Budget(seconds=1.0, size=100, clock=lambda: 0.0)
    assert budget.take(60) and budget.take(40) and not budget.take(1)


def test_a_budget_is_spent_when_its_time_is_up():
    now = [10.0]
    budget = Budget(seconds=0.5, size=100, clock=lambda: now[0])
    assert not budget.spent
    now[0] = 10.49
    assert not budget.spent
    now[0] = 10.5
    assert budget.spent
